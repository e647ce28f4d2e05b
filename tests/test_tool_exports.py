"""convert on what the annotation tools really write: exports of a running
Label Studio 1.23.2 and doccano 1.8.4, made by benchmarks/label_studio_roundtrip.py
from a CoNLL04 pipeline's predictions for six sentences (tests/fixtures/tools/;
docs/corpus-prediction.md has the run). predicted.json holds what the pipeline
predicted, read from its Docs: each converted doc is compared with it, entity
for entity and relation for relation."""

import json
import zipfile
from pathlib import Path
from typing import Any, Dict, List

import pytest
import spacy
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_globalpointer import relations
from spacy_globalpointer.cli import app
from spacy_globalpointer.files.json_lines import InputError
from spacy_globalpointer.training.convert import convert, detect_format, make_tokenizer
from spacy_globalpointer.training.converters.gold_records import FormatError

TOOLS = Path(__file__).parent / "fixtures" / "tools"
PREDICTED: Dict[str, Dict[str, Any]] = json.loads((TOOLS / "predicted.json").read_text(encoding="utf8"))
IDS = {
    json.loads(line)["text"]: json.loads(line)["id"] for line in (TOOLS / "texts.jsonl").open(encoding="utf8")
}
# Label Studio numbers the tasks 1..6 in the order of the file; the last two were left unannotated.
ANNOTATED = list(IDS)[:4]
runner = CliRunner()


def entity(span) -> List[Any]:
    return [span.start_char, span.end_char, span.label_]


def docs_of(path: Path) -> List[Dict[str, Any]]:
    out = []
    for doc in DocBin().from_disk(path).get_docs(spacy.blank("en").vocab):
        rels = sorted([entity(r.head), entity(r.tail), r.label] for r in relations(doc))
        spans = sorted(entity(s) for s in doc.spans["sc"])
        out.append({"text": doc.text, "spans": spans, "relations": rels, **doc.user_data})
    return out


def expected(text: str, spans: str = "spans") -> Dict[str, Any]:
    """What the pipeline predicted for a text: ``spans`` (all of them) or ``ents``, and the
    relations between the entities given."""
    shown = PREDICTED[text][spans]
    rels = [r for r in PREDICTED[text]["relations"] if r[0] in shown and r[1] in shown]
    return {"spans": shown, "relations": rels}


def nested_pairs(docs: List[List[Any]]) -> int:
    return sum(a != b and a[0] <= b[0] < b[1] <= a[1] for spans in docs for a in spans for b in spans)


def as_predicted(docs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [{"spans": d["spans"], "relations": d["relations"]} for d in docs]


def run(path: Path, out: Path, **options):
    return convert([path], out, nlp=make_tokenizer("en"), progress=False, **options)


# --- Label Studio ------------------------------------------------------------------------


def test_the_snapshot_export_gives_back_every_prediction(tmp_path):
    """Snapshot (predictions in full): the 4 annotated tasks from their annotations, the 2 others
    from their predictions; nested entities (Dublin in 'Dublin, Ireland') and relations kept."""
    report = run(TOOLS / "ls_snapshot.json", tmp_path / "s.spacy", reader_options=predictions())
    docs = docs_of(tmp_path / "s.spacy")
    assert [d["text"] for d in docs] == list(IDS)
    assert as_predicted(docs) == [expected(d["text"]) for d in docs]
    # The record's id rides in the task's meta (Label Studio drops a task's own "id" at import).
    assert [d["record_id"] for d in docs] == list(IDS.values())
    assert report.records == report.docs == 6 and not report.skipped()
    assert sum(report.relations_written.values()) == sum(len(p["relations"]) for p in PREDICTED.values())
    # Nested entities ('Dublin' and 'Ireland' in 'Dublin, Ireland', ...) come back, every one.
    assert nested_pairs([d["spans"] for d in docs]) == nested_pairs([PREDICTED[t]["spans"] for t in IDS]) > 0


def test_the_ordinary_export_holds_predictions_as_ids_and_they_are_never_read_as_empty(tmp_path):
    src = TOOLS / "ls_ordinary.json"
    tasks = json.loads(src.read_text(encoding="utf8"))
    assert [t["predictions"] for t in tasks] == [[k] for k in range(1, 7)]  # what Label Studio writes
    # Without --label-studio-predictions: the annotated tasks, and the 2 others left out and counted.
    report = run(src, tmp_path / "a.spacy")
    docs = docs_of(tmp_path / "a.spacy")
    assert [d["text"] for d in docs] == ANNOTATED
    assert as_predicted(docs) == [expected(t) for t in ANNOTATED]
    reason = "no annotation (it has predictions: --label-studio-predictions reads them)"
    assert (report.records, report.docs, report.skipped()) == (6, 4, {reason: 2})
    # With it: refused, naming the field and the export that holds the predictions in full.
    with pytest.raises(FormatError) as err:
        run(src, tmp_path / "b.spacy", reader_options=predictions())
    message = str(err.value)
    assert message.startswith(f"{src}:1: field [4].predictions[0]: 5: Label Studio's ordinary JSON export")
    assert '"serialization_options": {"predictions": {"only_id": false}}' in message
    # --skip-invalid: the tasks that hold results, the others listed as invalid.
    report = run(src, tmp_path / "c.spacy", reader_options=predictions(), skip_invalid=True)
    assert [d["text"] for d in docs_of(tmp_path / "c.spacy")] == ANNOTATED
    assert [m.split(": ")[1] for m in report.invalid] == [
        "field [4].predictions[0]",
        "field [5].predictions[0]",
    ]
    assert report.skipped() == {"invalid (listed under invalid)": 2} and report.empty_docs == 0


def test_the_file_predict_wrote_is_what_label_studio_imported(tmp_path):
    """ls_tasks.json (a JSON array: what Label Studio's import takes) read back as it is."""
    assert (TOOLS / "ls_tasks.json").read_text(encoding="utf8").startswith("[\n{")
    run(TOOLS / "ls_tasks.json", tmp_path / "t.spacy", reader_options=predictions())
    docs = docs_of(tmp_path / "t.spacy")
    assert as_predicted(docs) == [expected(d["text"]) for d in docs] and len(docs) == 6


def test_regions_of_other_tags_are_counted_not_read(tmp_path):
    report = run(
        TOOLS / "ls_snapshot.json", tmp_path / "n.spacy", reader_options=predictions(from_name="ner")
    )
    entities = sum(len(p["spans"]) for p in PREDICTED.values())
    assert report.left_out["regions of another tag (from_name 'label')"] == entities
    relations_in = sum(len(p["relations"]) for p in PREDICTED.values())
    assert report.left_out["relations of regions of another tag"] == relations_in
    assert report.empty_docs == report.docs == 6
    report = run(
        TOOLS / "ls_snapshot.json", tmp_path / "l.spacy", reader_options=predictions(from_name="label")
    )
    assert sum(report.written.values()) == entities


def predictions(**names) -> Dict[str, Dict[str, Any]]:
    return {"label-studio": {"predictions": True, **names}}


# --- doccano -----------------------------------------------------------------------------


def unzipped(zip_path: Path, tmp_path: Path) -> Path:
    folder = tmp_path / zip_path.stem
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(folder)
    return folder


@pytest.mark.parametrize("as_folder", [False, True])
def test_a_doccano_export_as_it_comes_with_an_annotator_who_never_saw_the_predictions(tmp_path, as_folder):
    """The project allowing overlap: admin.jsonl (the importing user) holds every prediction;
    annotator2.jsonl every text with nothing (the project is not collaborative): a warning, and
    its 6 records left out, never 6 empty docs."""
    src = unzipped(TOOLS / "doccano_overlap.zip", tmp_path) if as_folder else TOOLS / "doccano_overlap.zip"
    assert detect_format(src)[0] == "doccano"
    report = run(src, tmp_path / "o.spacy")
    docs = docs_of(tmp_path / "o.spacy")
    assert [(d["text"], d["annotator"], d["record_id"]) for d in docs] == [
        (t, "admin", i) for t, i in IDS.items()
    ]
    assert as_predicted(docs) == [expected(d["text"]) for d in docs]
    member = src / "annotator2.jsonl" if as_folder else f"{src}/annotator2.jsonl"
    message = "none of its 6 records (annotator annotator2) holds an entity or relation: left out"
    assert report.warnings == [f"{member}: {message}"]
    assert (report.records, report.docs) == (12, 6) and report.skipped() == {
        "in an annotator's file that holds no annotation at all": 6
    }
    assert report.annotators == {"admin": 6} and not report.duplicates()


def test_a_flat_doccano_project_with_two_annotators(tmp_path):
    """The project without overlap, given --source ents: admin's docs are doc.ents and the
    relations between them; annotator2 labelled one entity, so their file is written too, and
    every text is reported as annotated twice; --doccano-annotator chooses."""
    src = TOOLS / "doccano_flat.zip"
    report = run(src, tmp_path / "f.spacy")
    docs = docs_of(tmp_path / "f.spacy")
    mine = [d for d in docs if d["annotator"] == "admin"]
    theirs = [d for d in docs if d["annotator"] == "annotator2"]
    assert as_predicted(mine) == [expected(d["text"], "ents") for d in mine] and len(mine) == 6
    first = list(IDS)[0]
    assert [d["spans"] for d in theirs] == [[PREDICTED[first]["ents"][0]]] + [[]] * 5
    assert report.empty_docs == 5 and not report.warnings
    assert [d["annotators"] for d in report.duplicates()] == [["admin", "annotator2"]] * 6
    for who, n in (("admin", 6), ("annotator2", 6)):
        report = run(src, tmp_path / f"{who}.spacy", reader_options={"doccano": {"annotators": [who]}})
        assert {d["annotator"] for d in docs_of(tmp_path / f"{who}.spacy")} == {who} and report.docs == n
        assert report.skipped() == {
            "another annotator's (%s; --doccano-annotator chose others)" % other(who): 6
        }
    with pytest.raises(
        InputError, match="no annotator 'bob' in this export \\(its annotators: admin, annotator2\\)"
    ):
        run(src, tmp_path / "x.spacy", reader_options={"doccano": {"annotators": ["bob"]}})


def other(who: str) -> str:
    return "annotator2" if who == "admin" else "admin"


def test_the_command_on_a_doccano_export_warns_and_sums_up(tmp_path):
    out = tmp_path / "c.spacy"
    result = runner.invoke(app, ["convert", str(TOOLS / "doccano_overlap.zip"), str(out), "--lang", "en"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert (
        "annotator2.jsonl: none of its 6 records (annotator annotator2) holds an entity or relation" in text
    )
    assert (
        "Records read: 12, written: 6, left out: 6; 6 in an annotator's file that holds no annotation" in text
    )
    report = json.loads((tmp_path / "c.report.json").read_text(encoding="utf8"))
    assert (report["records"], report["docs"], report["annotators"]) == (12, 6, {"admin": 6})


@pytest.mark.parametrize("fmt", ["doccano", "spans", "label-studio"])
def test_a_folder_is_never_a_traceback(tmp_path, fmt):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "notes.txt").write_text("x", encoding="utf8")
    result = runner.invoke(
        app, ["convert", str(folder), str(tmp_path / "x.spacy"), "--format", fmt, "--lang", "en"]
    )
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    wanted = "no .jsonl files in this folder" if fmt == "doccano" else f"a folder; --format {fmt} reads files"
    assert wanted in " ".join(result.output.split()), result.output
