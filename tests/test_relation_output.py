"""What a pipeline with globalpointer_rel shows its user: the relations in
predict's output lines, in `interactive`, and as labelled arcs between the
entities on the displaCy page."""

import json

import pytest
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_globalpointer import relations
from spacy_globalpointer.cli import app
from spacy_globalpointer.corpus.displacy_page import relation_arcs, write_displacy
from spacy_globalpointer.training.convert import convert, make_tokenizer

from .test_relations import TEXTS, trained  # noqa: F401  (the trained toy pipeline)

runner = CliRunner()


def test_predict_writes_each_records_relations(trained, tmp_path):  # noqa: F811
    nlp, _ = trained
    nlp.to_disk(tmp_path / "model")
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": k, "text": t}) + "\n" for k, t in enumerate(TEXTS)), "utf8")
    out = tmp_path / "out.jsonl"
    args = ["predict", str(tmp_path / "model"), str(src), str(out), "--id-field", "id", "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf8").splitlines()]
    for line, doc in zip(lines, nlp.pipe(TEXTS)):
        want = [
            [
                [r.head.start_char, r.head.end_char, r.head.label_],
                [r.tail.start_char, r.tail.end_char, r.tail.label_],
                r.label,
                r.score,
            ]
            for r in relations(doc)
        ]
        got = [
            [
                [x["head"][k] for k in ("start", "end", "label")],
                [x["tail"][k] for k in ("start", "end", "label")],
            ]
            + [x["label"], x["score"]]
            for x in line["relations"]
        ]
        assert got == want
    assert any(line["relations"] for line in lines)


def test_interactive_prints_the_relations(trained, tmp_path):  # noqa: F811
    nlp, _ = trained
    nlp.to_disk(tmp_path / "model")
    result = runner.invoke(app, ["interactive", str(tmp_path / "model"), "--text", TEXTS[0]])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines()]
    assert ["张三", "PER", "works_at", "北京大学", "ORG"] in [row[:5] for row in rows]
    assert ["北京大学", "ORG", "located_in", "北京", "LOC"] in [row[:5] for row in rows]


def test_the_displacy_page_draws_relations_as_arcs_between_entities(trained, tmp_path):  # noqa: F811
    nlp, _ = trained
    doc = nlp(TEXTS[0])
    # By hand: the entities in text order (the longer first at one start), arcs from head to tail.
    assert relation_arcs(doc, "sc", "rel") == {
        "words": [
            {"text": "张三", "tag": "PER"},
            {"text": "北京大学", "tag": "ORG"},
            {"text": "北京", "tag": "LOC"},
        ],
        "arcs": [
            {"start": 0, "end": 1, "label": "works_at", "dir": "right"},
            {"start": 1, "end": 2, "label": "located_in", "dir": "right"},
        ],
    }
    page = tmp_path / "page.html"
    write_displacy(list(nlp.pipe(TEXTS)), page, "sc", "rel")
    html = page.read_text(encoding="utf8")
    assert "displacy-arc" in html and "works_at" in html and "located_in" in html
    # each doc's arcs follow its spans: the first arc comes before the second doc's text
    assert html.index("displacy-arc") < html.index(TEXTS[1][:2]) < html.index("doc.ents (flat)")


def entities_and_relations(doc):
    spans = sorted((s.start_char, s.end_char, s.label_) for s in doc.spans.get("sc", []))
    rels = sorted(
        (
            (r.head.start_char, r.head.end_char, r.head.label_),
            (r.tail.start_char, r.tail.end_char, r.tail.label_),
            r.label,
        )
        for r in relations(doc)
    )
    return spans, rels


@pytest.mark.parametrize("fmt", ["spans", "doccano", "label-studio"])
def test_predictions_round_trip_through_the_tools_format(trained, tmp_path, fmt):  # noqa: F811
    """predict --format TOOL, then convert --format TOOL: the same spans
    (nested ones too) and relations as the pipeline predicted."""
    nlp, _ = trained
    nlp.to_disk(tmp_path / "model")
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS), "utf8")
    out = tmp_path / f"to_review.{fmt}.jsonl"
    args = ["predict", str(tmp_path / "model"), str(src), str(out), "--format", fmt, "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    # Label Studio shows them as predictions: taken as they are, as if accepted in the tool.
    options = {"label-studio": {"predictions": True}}
    report = convert(
        [out],
        tmp_path / "back.spacy",
        format="auto",
        nlp=make_tokenizer("zh"),
        progress=False,
        reader_options=options,
    )
    assert report.format == fmt
    back = list(DocBin().from_disk(tmp_path / "back.spacy").get_docs(nlp.vocab))
    predicted = list(nlp.pipe(TEXTS))
    assert [entities_and_relations(d) for d in back] == [entities_and_relations(d) for d in predicted]
    assert any(relations(d) for d in back) and any(len(d.spans["sc"]) > 2 for d in back)
    assert report.relations_read == report.relations_written and not report.relation_changes
