"""Corpus prediction on Ray Data: a real local Ray (2 CPUs), real actors, a
pipeline with entities and relations: the same output as the local engine."""

import json
import os
from pathlib import Path

import pytest
import spacy
from typer.testing import CliRunner

from helpers.toy import train_with_relations
from spacy_globalpointer.cli import app
from spacy_globalpointer.corpus import predict as corpus
from spacy_globalpointer.corpus.predict_options import PredictOptions
from spacy_globalpointer.corpus.report import REPORT_NAME
from spacy_globalpointer.files.json_lines import InputError

from .ray_faults import CLAIMED, KILL_FLAG_ENV
from .test_corpus import BAD, TEXTS, write_shards

ray = pytest.importorskip("ray")

from spacy_globalpointer.corpus.ray_engine import predict_with_ray  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


@pytest.fixture(scope="module")
def kill_flag(tmp_path_factory) -> Path:
    """The flag file of tests/ray_faults.py: the first actor to claim it dies.
    Only the test that kills a worker creates it."""
    return tmp_path_factory.mktemp("faults") / "kill-one-worker"


@pytest.fixture(scope="module", autouse=True)
def local_ray(kill_flag):
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    runtime_env = {
        "worker_process_setup_hook": "tests.ray_faults.setup",
        "env_vars": {"PYTHONPATH": pythonpath, KILL_FLAG_ENV: str(kill_flag)},
    }
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env=runtime_env)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """globalpointer_ner and globalpointer_rel, trained until they predict relations on the toy texts."""
    path = tmp_path_factory.mktemp("model")
    train_with_relations(40).to_disk(path)
    return path


def parts(folder: Path):
    """Records of the part files, in file order."""
    return [
        json.loads(line)
        for p in sorted(folder.glob("part-*.jsonl"))
        for line in p.read_text(encoding="utf8").splitlines()
    ]


def by_id(records):
    return {r["id"]: r for r in records}


def same_predictions(a, b):
    assert [(s["start"], s["end"], s["label"], s["text"]) for s in a["spans"]] == [
        (s["start"], s["end"], s["label"], s["text"]) for s in b["spans"]
    ]
    assert [s["score"] for s in a["spans"]] == pytest.approx([s["score"] for s in b["spans"]], abs=1e-5)
    assert a["ents"] == b["ents"]
    # Relations: the same entities (offsets, labels) and label; scores to the same tolerance.
    assert [{k: v for k, v in r.items() if k != "score"} for r in a["relations"]] == [
        {k: v for k, v in r.items() if k != "score"} for r in b["relations"]
    ]
    assert [r["score"] for r in a["relations"]] == pytest.approx(
        [r["score"] for r in b["relations"]], abs=1e-5
    )


def test_two_workers_match_one_process(model_path, tmp_path):
    src = write_shards(tmp_path / "in", n_shards=4, per_shard=300)
    args = [
        "--engine",
        "ray",
        "--workers",
        "2",
        "--id-field",
        "doc_id",
        "--no-progress",
        "--batch-size",
        "64",
    ]
    result = runner.invoke(app, ["predict", str(model_path), str(src), str(tmp_path / "ray"), *args])
    assert result.exit_code == 0, result.output
    got = parts(tmp_path / "ray")
    ids = [r["id"] for r in got]
    assert sorted(ids, key=lambda i: int(i[1:])) == [f"d{k}" for k in range(1200)]  # every record, once
    assert ids == sorted(ids, key=lambda i: int(i[1:]))  # in input order
    corpus.predict_corpus(
        spacy.load(model_path), [src], tmp_path / "local", PredictOptions(id_field="doc_id", progress=False)
    )
    local = by_id(
        r
        for p in sorted((tmp_path / "local").glob("*.jsonl"))
        for r in map(json.loads, p.read_text(encoding="utf8").splitlines())
    )
    assert set(local) == set(ids)
    for rec in got:
        same_predictions(rec, local[rec["id"]])
    assert sum(len(rec["relations"]) for rec in got) > 0  # the relations were compared, not just absent
    report = json.loads((tmp_path / "ray" / REPORT_NAME).read_text())
    assert report["engine"] == "ray" and report["records"] == 1200 and report["invalid"] == 0


def test_a_killed_worker_loses_nothing(model_path, tmp_path, kill_flag):
    src = write_shards(tmp_path / "in", n_shards=2, per_shard=200)
    kill_flag.write_text("")
    options = PredictOptions(id_field="doc_id", batch_size=50, progress=False)
    predict_with_ray(model_path, [src], tmp_path / "out", options, workers=2)
    claimed = list(kill_flag.parent.glob(f"{kill_flag.name}{CLAIMED}*"))
    assert not kill_flag.exists() and len(claimed) == 1  # one worker claimed it, and so died
    assert claimed[0].name != f"{kill_flag.name}{CLAIMED}{os.getpid()}"  # a worker, not this process
    ids = [r["id"] for r in parts(tmp_path / "out")]
    assert ids == [f"d{k}" for k in range(400)]  # each record exactly once, in order


def test_bad_input_and_edge_texts(model_path, tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_text("\n".join(BAD + [json.dumps({"text": "长" * 100_000})]) + "\n", encoding="utf8")
    with pytest.raises(InputError, match=f"{src}:2: not valid JSON"):  # Ray's wrappers removed
        predict_with_ray(model_path, [src], tmp_path / "stop", PredictOptions(progress=False), workers=1)
    skip = PredictOptions(skip_invalid=True, progress=False)
    report = predict_with_ray(model_path, [src], tmp_path / "out", skip, workers=1)
    got = parts(tmp_path / "out")
    assert [r["line"] for r in got] == [1, 2, 3, 4, 5, 6, 7]
    assert [bool(r.get("error")) for r in got] == [False, True, True, True, True, False, False]
    assert got[5]["spans"] == [] and all(s["end"] <= 100_000 for s in got[6]["spans"])
    assert report.invalid == 4 and all(e.startswith(f"{src}:") for e in report.errors)
    # an earlier run's output is not written over without --overwrite, and
    # --overwrite replaces only what this command writes
    with pytest.raises(InputError, match="output of an earlier run"):
        predict_with_ray(model_path, [src], tmp_path / "out", skip, workers=1)
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="files this command did not write"):
        predict_with_ray(
            model_path, [src], tmp_path / "out", PredictOptions(overwrite=True, progress=False), workers=1
        )
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"


def test_text_shards_in_a_glob_as_cluener_spans(model_path, tmp_path):
    for s in range(2):
        (tmp_path / f"t{s}.txt").write_text("\n".join(TEXTS) + "\n", encoding="utf8")
    options = PredictOptions(output_format="cluener", source="spans", progress=False)
    predict_with_ray(model_path, [str(tmp_path / "t*.txt")], tmp_path / "out", options, workers=2)
    corpus.predict_corpus(spacy.load(model_path), [str(tmp_path / "t*.txt")], tmp_path / "local", options)
    local = [
        json.loads(line)
        for s in range(2)
        for line in (tmp_path / "local" / f"t{s}.json").read_text().splitlines()
    ]
    assert parts(tmp_path / "out") == local  # nested spans in CLUENER lines, ids = line - 1
    ranges = [
        [tuple(p) for ents in line["label"].values() for ps in ents.values() for p in ps] for line in local
    ]
    assert any(a != b and a[0] <= b[1] and b[0] <= a[1] for r in ranges for a in r for b in r)  # nested
