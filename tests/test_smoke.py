"""The smoke subset (`-m smoke`): what a new user does first after installing as the README says.
.ci/run runs it on the lowest and the highest supported Python, in venvs with `.[test]` only; the
whole suite runs it too. add_pipe, convert, a short `spacy train` on a CLUENER slice, save and load,
and predict from a file and through a pipe."""

import importlib.metadata
import json
import re
import subprocess
import sys

import pytest
import spacy
from packaging.specifiers import SpecifierSet

from helpers.toy import train_small

from .test_end_to_end import BIN, ROOT, run

pytestmark = pytest.mark.smoke

TEXT = "张三在北京大学读书"
PYTHON_X_Y = r"Programming Language :: Python :: 3\.\d+"


def test_this_python_is_in_the_range_that_pyproject_and_the_readme_state():
    """requires-python, the classifiers and the README name one range of Pythons, and the Python running
    the smoke run is in it (a smoke run on another Python would prove nothing about the range)."""
    meta = importlib.metadata.metadata("spacy-globalpointer")
    versions = [
        c.rsplit(" :: ", 1)[1] for c in meta.get_all("Classifier") or [] if re.fullmatch(PYTHON_X_Y, c)
    ]
    assert versions, "no 'Python :: 3.X' classifiers in the installed metadata (pip install -e . again)"
    lowest, highest = min(versions, key=minor), max(versions, key=minor)
    assert [minor(v) for v in versions] == list(range(minor(lowest), minor(highest) + 1))  # no gap
    allowed = SpecifierSet(meta["Requires-Python"])
    assert [f"3.{m}" for m in range(0, 20) if f"3.{m}.0" in allowed] == versions
    stated = re.search(r"Python (3\.\d+) to (3\.\d+)", (ROOT / "README.md").read_text(encoding="utf8"))
    assert stated is not None and stated.groups() == (lowest, highest)
    assert f"3.{sys.version_info.minor}" in versions, sys.version


def minor(version: str) -> int:
    return int(version.split(".")[1])


def test_add_pipe_trains_and_predicts_nested_spans():
    nlp = train_small(60)  # spacy.blank("zh").add_pipe("globalpointer_ner"), then nlp.update
    doc = nlp(TEXT)
    spans = {(s.text, s.label_) for s in doc.spans["sc"]}
    assert {("张三", "PER"), ("北京大学", "ORG")} <= spans, spans
    assert {(e.text, e.label_) for e in doc.ents} <= spans  # the flat ents come from the same spans


@pytest.fixture(scope="module")
def model_best(cluener_slice, tmp_path_factory):
    """convert, then a 20-step `spacy train` of the CPU config on the slice: model-best."""
    tmp = tmp_path_factory.mktemp("smoke_train")
    for split in ("train", "dev"):
        spacy_file = tmp / f"{split}.spacy"
        run([BIN / "spacy", "globalpointer", "convert", cluener_slice / f"{split}.json", spacy_file])
        assert spacy_file.stat().st_size > 0
    run(
        [
            BIN / "spacy",
            "train",
            ROOT / "configs" / "cluener_cpu.cfg",
            "--output",
            tmp / "training",
            "--paths.train",
            tmp / "train.spacy",
            "--paths.dev",
            tmp / "dev.spacy",
            "--training.max_steps",
            "20",
            "--training.eval_frequency",
            "10",
        ]
    )
    return tmp / "training" / "model-best"


def test_convert_and_spacy_train_write_a_scored_pipeline(model_best):
    meta = json.loads((model_best / "meta.json").read_text(encoding="utf8"))
    assert {"ents_f", "spans_sc_f"} <= set(meta["performance"])
    assert "globalpointer_ner" in meta["pipeline"]


def test_a_saved_pipeline_loads_and_predicts_the_same(model_best, tmp_path):
    nlp = spacy.load(model_best)
    nlp.to_disk(tmp_path / "copy")
    again = spacy.load(tmp_path / "copy")
    texts = [TEXT, "李四去了上海交通大学", ""]
    for a, b in zip(nlp.pipe(texts), again.pipe(texts)):
        assert [(s.start, s.end, s.label_) for s in a.spans["sc"]] == [
            (s.start, s.end, s.label_) for s in b.spans["sc"]
        ]
        assert list(a.spans["sc"].attrs["scores"]) == list(b.spans["sc"].attrs["scores"])


def test_predict_a_cluener_file_as_the_readme_does(model_best, cluener_slice, tmp_path):
    out = tmp_path / "dev_pred.json"
    run(
        [
            BIN / "spacy",
            "globalpointer",
            "predict",
            model_best,
            cluener_slice / "dev.json",
            out,
            "--format",
            "cluener",
            "--no-progress",
        ]
    )
    gold = [json.loads(line) for line in (cluener_slice / "dev.json").read_text(encoding="utf8").splitlines()]
    lines = [json.loads(line) for line in out.read_text(encoding="utf8").splitlines()]
    assert [line["id"] for line in lines] == list(range(len(gold)))
    assert all(isinstance(line["label"], dict) for line in lines)


def test_predict_reads_a_pipe_and_writes_standard_output(model_best):
    proc = subprocess.run(
        [BIN / "spacy", "globalpointer", "predict", model_best, "-", "-", "--input-format", "text"],
        input=f"text one\n{TEXT}\n".encode("utf8"),
        capture_output=True,
    )
    assert proc.returncode == 0, proc.stderr.decode("utf8", "replace")[-3000:]
    lines = proc.stdout.decode("utf8").splitlines()
    assert [json.loads(line)["line"] for line in lines] == [1, 2]
    assert "Wrote 2 record(s) to standard output" in proc.stderr.decode("utf8")
