"""Real command-line runs: `spacy train` from a config file, and the spaCy project workflow."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin
from spacy.training import Corpus, Example

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(cmd, cwd=None, env=None):
    proc = subprocess.run(cmd, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    assert proc.returncode == 0, (
        f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return proc.stdout


@pytest.mark.slow
def test_spacy_train_from_config(cluener_slice, tmp_path):
    """`spacy train` finds the factory through the entry points (no --code)."""
    for split in ("train", "dev"):
        run(
            [
                BIN / "spacy",
                "globalpointer",
                "convert",
                cluener_slice / f"{split}.json",
                tmp_path / f"{split}.spacy",
                "--no-progress",
            ]
        )
    out = tmp_path / "training"
    run(
        [
            BIN / "spacy",
            "train",
            ROOT / "configs" / "cluener_cpu.cfg",
            "--output",
            out,
            "--paths.train",
            tmp_path / "train.spacy",
            "--paths.dev",
            tmp_path / "dev.spacy",
            "--training.max_steps",
            "60",
            "--training.eval_frequency",
            "30",
            "--components.globalpointer_ner.model.head",
            "EfficientGlobalPointer",
        ]
    )
    meta = json.loads((out / "model-best" / "meta.json").read_text())
    assert "ents_f" in meta["performance"] and "spans_sc_f" in meta["performance"]
    assert set(meta["performance"]["ents_per_type"]) <= set(meta["labels"]["globalpointer_ner"])
    # The scores by span length reach the pipeline's meta, as spacy evaluate's.
    buckets = {"1-2", "3-4", "5-7", "8-12", "13+"}
    for key in ("ents_per_length", "spans_sc_per_length"):
        by_length = meta["performance"][key]
        assert by_length and set(by_length) <= buckets
        assert all({"p", "r", "f"} <= set(prf) for prf in by_length.values())
    cfg = (out / "model-best" / "config.cfg").read_text()
    assert 'head = "EfficientGlobalPointer"' in cfg


@pytest.mark.slow
def test_project_workflows_and_packages(cluener_slice, tmp_path):
    """`all` (CPU config) and `all-trf` (a tiny random BERT for bert-base-chinese)
    in one checkout: each leaves its own model, metrics, submission and wheel."""
    from helpers.tiny_bert import build_tiny_bert

    project = tmp_path / "project"
    project.mkdir()
    for name in ("project.yml", "configs", "scripts"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, project / name)
    env = {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    common = [f"--vars.cluener_dir={cluener_slice}", "--vars.eval_frequency=20"]
    run([BIN / "spacy", "project", "run", "all", project, "--vars.max_steps=40", *common], env=env)
    texts = [
        json.loads(line)["text"]
        for line in (cluener_slice / "train.json").read_text(encoding="utf8").splitlines()
    ]
    configs = ["cluener_cpu"]
    # all-trf needs the [transformers] extra; the curated workflow's test is in test_curated.py
    if importlib.util.find_spec("spacy_transformers"):
        bert = build_tiny_bert(tmp_path / "bert", texts, hidden_size=32, layers=1, heads=2)
        trf_vars = ["--vars.config=cluener_trf", f"--vars.transformer={bert}", "--vars.trf_epochs=1"]
        trf_vars.append("--vars.trf_mixed_precision=false")  # a CPU: spacy-transformers' scaler needs CUDA
        run([BIN / "spacy", "project", "run", "all-trf", project, *trf_vars, *common], env=env)
        configs.append("cluener_trf")
    pipelines = {}
    for config in configs:
        model = project / "training" / config / "model-calibrated"
        pipelines[config] = json.loads((model / "meta.json").read_text())["pipeline"]
        metrics = json.loads((project / "metrics" / f"{config}_cluener.json").read_text())
        assert set(metrics) == {"exact", "official"}
        # The slice's gold entities do not overlap, so doc.ents hold them all, and spaCy's ents_f is
        # CLUENER's exact micro F of the same predictions (predict writes doc.ents), counted apart.
        spacy_scores = json.loads((project / "metrics" / f"{config}_spacy.json").read_text())
        assert spacy_scores["ents_f"] == pytest.approx(metrics["exact"]["f"], abs=1e-12)
        thresholds = json.loads((project / "metrics" / f"{config}_thresholds.json").read_text())
        assert f"threshold = {thresholds['threshold']}" in (model / "config.cfg").read_text()
        html = (project / "metrics" / f"{config}_dev_sample.html").read_text(encoding="utf8")
        assert "doc.ents (flat)" in html
        submission = (project / "predictions" / config / "cluener_predict.json").read_text(encoding="utf8")
        assert [json.loads(line)["id"] for line in submission.splitlines()] == list(range(60))
        assert next((project / "packages" / config).glob("zh_cluener_gp-*/dist/*.whl"))
    expected = {"cluener_cpu": ["globalpointer_ner"], "cluener_trf": ["transformer", "globalpointer_ner"]}
    assert pipelines == {config: expected[config] for config in configs}
    wheel = next((project / "packages" / "cluener_cpu").glob("zh_cluener_gp-*/dist/*.whl"))
    site = tmp_path / "site"
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            "--target",
            site,
            wheel,
        ]
    )
    # The installed package predicts what the pipeline it was built from does, spans and scores.
    code = (
        "import json, sys, spacy; nlp = spacy.load(sys.argv[1]);"
        " doc = nlp('浙商银行企业信贷部叶老桂博士'); g = doc.spans['sc'];"
        " print(json.dumps([nlp.pipe_names, [[s.start_char, s.end_char, s.label_] for s in g],"
        " [float(x) for x in g.attrs['scores']]]))"
    )
    installed = run(
        [sys.executable, "-c", code, "zh_cluener_gp"], cwd=tmp_path, env={"PYTHONPATH": str(site)}
    )
    model = project / "training" / "cluener_cpu" / "model-calibrated"
    built_from = run([sys.executable, "-c", code, str(model)], cwd=tmp_path)
    assert json.loads(installed.splitlines()[-1]) == json.loads(built_from.splitlines()[-1])
    assert json.loads(installed.splitlines()[-1])[0] == ["globalpointer_ner"]


@pytest.mark.slow
def test_own_data_workflow(genia_dir, tmp_path):
    """`own` on a slice of GENIA written as brat files (an annotation tool's
    format, nested, English): convert with a dev split, init-config, train,
    calibrate on the nested metric, evaluate, package."""
    ann = tmp_path / "project" / "assets" / "brat"
    ann.mkdir(parents=True)
    lines = (genia_dir / "train.jsonl").read_text(encoding="utf8").splitlines()[:200]
    docs = {}
    for rec in map(json.loads, lines):
        docs.setdefault(rec["doc_id"], []).append(rec)
    for k, recs in enumerate(docs.values()):
        text, entities, offset = [], [], 0
        for rec in recs:
            starts, pos = [], offset
            for tok in rec["tokens"]:
                starts.append(pos)
                pos += len(tok) + 1
            for m in rec["entity_mentions"]:
                s, e = starts[m["start"]], starts[m["end"] - 1] + len(rec["tokens"][m["end"] - 1])
                entities.append((m["entity_type"], s, e))
            text.append(" ".join(rec["tokens"]))
            offset = pos
        body = "\n".join(text)
        (ann / f"d{k:03d}.txt").write_text(body, encoding="utf8")
        tlines = [f"T{i + 1}\t{lab} {s} {e}\t{body[s:e]}" for i, (lab, s, e) in enumerate(entities)]
        (ann / f"d{k:03d}.ann").write_text("\n".join(tlines) + "\n", encoding="utf8")
    project = tmp_path / "project"
    for name in ("project.yml", "configs", "scripts"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, project / name)
    env = {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    own = [f"--vars.own_data={ann}", "--vars.own_format=brat", "--vars.own_lang=en", "--vars.own_name=genia"]
    out = run(
        [
            BIN / "spacy",
            "project",
            "run",
            "own",
            project,
            *own,
            "--vars.own_max_steps=40",
            "--vars.eval_frequency=20",
            "--vars.own_dev_fraction=0.2",
        ],
        env=env,
    )
    assert "Wrote" in out and "Report:" in out
    thresholds = json.loads((project / "metrics" / "genia_thresholds.json").read_text())
    assert thresholds["metric"] == "spans_sc_f"  # nested data: selected and calibrated on the spans
    scores = json.loads((project / "metrics" / "genia_spacy.json").read_text())
    # spacy evaluate's file holds what the calibrated pipeline scores on the dev DocBin.
    nlp = spacy.load(project / "training" / "genia" / "model-calibrated")
    dev = list(DocBin().from_disk(project / "corpus" / "genia_dev.spacy").get_docs(nlp.vocab))
    again = nlp.evaluate([Example(nlp.make_doc(doc.text), doc) for doc in dev])
    assert scores["spans_sc_f"] == pytest.approx(again["spans_sc_f"]) and "spans_sc_per_type" in scores
    config = (project / "configs" / "genia.cfg").read_text()
    assert "spans_sc_f = 1.0" in config and '"protein"' in config
    report = json.loads((project / "corpus" / "genia_train.report.json").read_text())
    assert report["dev_docs"] > 0 and all(
        v["read"] == v["written"] + v["reported"] for v in report["labels"].values()
    )
    assert next((project / "packages" / "genia").glob("en_genia_gp-*/dist/*.whl"))


@pytest.mark.slow
def test_conll04_workflow_trains_calibrates_and_evaluates_relations(conll04_dir, tmp_path):
    """`spacy project run conll04` on a slice of CoNLL04 (a local copy, as
    --vars.conll04_dir gives it): entities and relations trained on one
    tok2vec; the relation scores reach meta.json as a fresh evaluation of the
    pipeline gives them; calibrate chooses the entity, then the relation
    threshold, and the calibrated pipeline predicts with them; spacy evaluate
    writes the test scores."""
    from spacy_globalpointer import relations

    data = tmp_path / "conll04"
    data.mkdir()
    for split, n in (("train", 120), ("dev", 40), ("test", 30)):
        lines = (conll04_dir / f"{split}.jsonl").read_text(encoding="utf8").splitlines()[:n]
        (data / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf8")
    project = tmp_path / "project"
    project.mkdir()
    for name in ("project.yml", "configs", "scripts", "benchmarks"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, project / name)
    env = {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    steps = ["--vars.conll04_max_steps=40", "--vars.eval_frequency=20"]
    run([BIN / "spacy", "project", "run", "conll04", project, f"--vars.conll04_dir={data}", *steps], env=env)
    corpus = project / "corpus"
    for split in ("train", "dev"):
        lines = (data / f"{split}.jsonl").read_text(encoding="utf8").splitlines()
        docs = list(DocBin().from_disk(corpus / f"conll04_{split}.spacy").get_docs(spacy.blank("en").vocab))
        assert sum(len(relations(d)) for d in docs) == sum(len(json.loads(x)["relations"]) for x in lines)
    # model-best: saved with the scores of the evaluation that chose it.
    model = project / "training" / "conll04" / "model-best"
    meta = json.loads((model / "meta.json").read_text())
    nlp = spacy.load(model)
    refs = list(DocBin().from_disk(corpus / "conll04_dev.spacy").get_docs(nlp.vocab))
    # As spacy train and spacy evaluate read the DocBin: CoNLL04's own tokens.
    fresh = nlp.evaluate(list(Corpus(corpus / "conll04_dev.spacy")(nlp)))
    for key in ("rel_micro_f", "rel_micro_p", "rel_boundaries_f", "ents_f"):
        assert meta["performance"][key] == pytest.approx(fresh[key], abs=1e-9), key
    assert set(meta["performance"]["rel_per_type"]) == set(fresh["rel_per_type"])
    assert meta["labels"]["globalpointer_rel"] == ["Kill", "Live_In", "Located_In", "OrgBased_In", "Work_For"]
    chosen = json.loads((project / "metrics" / "conll04_relation_thresholds.json").read_text())
    assert chosen["metric"] == "rel_micro_f"
    calibrated = spacy.load(project / "training" / "conll04" / "model-calibrated")
    rel = calibrated.get_pipe("globalpointer_rel")
    assert (rel.threshold, dict(rel.label_thresholds)) == (chosen["threshold"], chosen["label_thresholds"])
    for doc in calibrated.pipe(ref.text for ref in refs[:20]):
        assert all(r.score > rel.label_thresholds.get(r.label, rel.threshold) for r in relations(doc))
    test_scores = json.loads((project / "metrics" / "conll04_test.json").read_text())
    assert {"rel_micro_f", "rel_boundaries_f", "rel_per_type", "ents_f"} <= set(test_scores)
