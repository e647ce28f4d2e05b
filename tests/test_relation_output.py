"""What a pipeline with globalpointer_rel shows its user: the relations in
predict's output lines, in `interactive`, and as labelled arcs between the
entities on the displaCy page."""

import json
import math

import numpy
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


def predict(model, src, out, *flags):
    result = runner.invoke(app, ["predict", str(model), str(src), str(out), *flags, "--no-progress"])
    assert result.exit_code == 0, result.output
    return result


def test_label_studio_tasks_are_a_json_array_with_confidences_and_their_config(trained, tmp_path):  # noqa: F811
    """A JSON array (Label Studio's upload refuses JSON lines) unless the name ends in .jsonl; each
    region's score the sigmoid of the pipeline's raw score, the task's the lowest; the labelling
    config beside it, with the tag names the tasks use."""
    nlp, _ = trained
    nlp.to_disk(tmp_path / "model")
    src = tmp_path / "in.jsonl"
    src.write_text(
        "".join(json.dumps({"id": f"r{k}", "text": t}) + "\n" for k, t in enumerate(TEXTS)), "utf8"
    )
    names = ["--ls-from-name", "ner", "--ls-to-name", "txt", "--ls-data-key", "body"]
    predict(
        tmp_path / "model",
        src,
        tmp_path / "tasks.json",
        "--format",
        "label-studio",
        "--id-field",
        "id",
        *names,
    )
    tasks = json.loads((tmp_path / "tasks.json").read_text(encoding="utf8"))
    docs = list(nlp.pipe(TEXTS))
    assert [t["meta"] for t in tasks] == [{"id": f"r{k}"} for k in range(len(TEXTS))]
    for task, doc in zip(tasks, docs):
        assert task["data"] == {"body": doc.text}
        (prediction,) = task["predictions"]
        regions = [r for r in prediction["result"] if r["type"] == "labels"]
        raw = numpy.asarray(doc.spans["sc"].attrs["scores"], dtype="float64")
        assert [r["score"] for r in regions] == pytest.approx(list(1 / (1 + numpy.exp(-raw))), abs=1e-12)
        assert all((r["from_name"], r["to_name"]) == ("ner", "txt") for r in regions)
        arcs = [r for r in prediction["result"] if r["type"] == "relation"]
        if regions:
            lowest = min(
                [r["score"] for r in regions] + [1 / (1 + math.exp(-r.score)) for r in relations(doc)]
            )
            assert prediction["score"] == pytest.approx(lowest) and 0 < lowest < 1
        assert len(arcs) == len(relations(doc))
    config = (tmp_path / "tasks.label_config.xml").read_text(encoding="utf8")
    assert '<Labels name="ner" toName="txt">' in config and '<Text name="txt" value="$body"/>' in config
    labels = set(nlp.get_pipe("globalpointer_ner").labels) | set(nlp.get_pipe("globalpointer_rel").labels)
    assert {
        line.split('"')[1] for line in config.splitlines() if "value=" in line and "$" not in line
    } == labels
    result = runner.invoke(app, ["label-studio-config", str(tmp_path / "model"), *names])
    assert result.exit_code == 0 and result.output == config
    # convert reads those tags back (and only those); the id in meta is the record's id.
    options = {
        "label-studio": {"predictions": True, "text_field": "body", "from_name": "ner", "to_name": "txt"}
    }
    back = tmp_path / "back.spacy"
    convert([tmp_path / "tasks.json"], back, nlp=make_tokenizer("zh"), progress=False, reader_options=options)
    again = list(DocBin().from_disk(back).get_docs(nlp.vocab))
    assert [entities_and_relations(d) for d in again] == [entities_and_relations(d) for d in docs]
    assert [d.user_data["record_id"] for d in again] == [f"r{k}" for k in range(len(TEXTS))]
    # JSON lines when the name says so; the spans format keeps the raw scores.
    predict(tmp_path / "model", src, tmp_path / "lines.jsonl", "--format", "label-studio")
    lines = (tmp_path / "lines.jsonl").read_text(encoding="utf8").splitlines()
    assert [json.loads(line)["data"]["text"] for line in lines] == TEXTS
    predict(tmp_path / "model", src, tmp_path / "spans.jsonl", "--format", "spans")
    lines = [json.loads(line) for line in (tmp_path / "spans.jsonl").read_text(encoding="utf8").splitlines()]
    assert [[s["score"] for s in line["spans"]] for line in lines] == [
        [float(v) for v in d.spans["sc"].attrs["scores"]] for d in docs
    ]


@pytest.mark.parametrize("fmt", ["doccano", "label-studio", "spans"])
def test_source_ents_writes_the_flat_selection_and_counts_what_it_leaves_out(trained, tmp_path, fmt):  # noqa: F811
    """--source ents: doc.ents, the relations between them, and in each record's meta what was not
    written (a relation of the nested 北京 in 北京大学 cannot be shown without it)."""
    nlp, _ = trained
    nlp.to_disk(tmp_path / "model")
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS), "utf8")
    out = tmp_path / f"flat.{fmt}.jsonl"
    result = predict(tmp_path / "model", src, out, "--format", fmt, "--source", "ents")
    options = {"label-studio": {"predictions": True}}
    back = tmp_path / "back.spacy"
    convert([out], back, format=fmt, nlp=make_tokenizer("zh"), progress=False, reader_options=options)
    docs = list(nlp.pipe(TEXTS))
    flat = []
    for doc in docs:
        ents = {(e.start_char, e.end_char, e.label_) for e in doc.ents}
        _, rels = entities_and_relations(doc)
        flat.append((sorted(ents), [r for r in rels if r[0] in ents and r[1] in ents]))
    assert [entities_and_relations(d) for d in DocBin().from_disk(back).get_docs(nlp.vocab)] == flat
    lines = [json.loads(line) for line in out.read_text(encoding="utf8").splitlines()]
    left = [line["meta"]["left_out"] for line in lines]
    assert left == [
        {"spans": len(d.spans["sc"]) - len(d.ents), "relations": len(relations(d)) - len(f[1])}
        for d, f in zip(docs, flat)
    ]
    assert sum(x["relations"] for x in left) > 0
    spans, rels = (sum(x[k] for x in left) for k in ("spans", "relations"))
    assert f"Not written (--source ents): {rels} relations, {spans} spans" in " ".join(result.output.split())


def test_source_is_refused_where_it_would_be_ignored(trained, tmp_path):  # noqa: F811
    nlp, _ = trained
    nlp.to_disk(tmp_path / "model")
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": TEXTS[0]}) + "\n", "utf8")
    args = ["predict", str(tmp_path / "model"), str(src), str(tmp_path / "o.jsonl"), "--source", "ents"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "jsonl writes both" in " ".join(result.output.split())
    assert not (tmp_path / "o.jsonl").exists()


def test_label_studio_to_a_folder_and_to_standard_output_and_resumed(trained, tmp_path):  # noqa: F811
    """Each shard a JSON array (.json), the config in the folder; a rerun resumes, counting the
    arrays' records; standard output is one array across the shards."""
    nlp, _ = trained
    nlp.to_disk(tmp_path / "model")
    (tmp_path / "in").mkdir()
    for k in range(2):
        (tmp_path / "in" / f"s{k}.jsonl").write_text(
            "".join(json.dumps({"text": t}) + "\n" for t in TEXTS), "utf8"
        )
    out = tmp_path / "out"
    args = [str(tmp_path / "in"), str(out), "--format", "label-studio"]
    predict(tmp_path / "model", *args)
    assert sorted(p.name for p in out.iterdir()) == [
        "label_config.xml",
        "predict_report.json",
        "s0.json",
        "s1.json",
    ]
    for k in range(2):
        tasks = json.loads((out / f"s{k}.json").read_text(encoding="utf8"))
        assert [t["data"]["text"] for t in tasks] == TEXTS
    again = predict(tmp_path / "model", *args)
    assert "Resumed: 2 shard(s)" in again.output and f"Wrote {2 * len(TEXTS)} record(s)" in again.output
    result = runner.invoke(
        app, ["predict", str(tmp_path / "model"), str(tmp_path / "in"), "-", "--format", "label-studio"]
    )
    assert result.exit_code == 0, result.output
    assert [t["data"]["text"] for t in json.loads(result.stdout)] == TEXTS * 2
    assert "label-studio-config" in result.stderr
