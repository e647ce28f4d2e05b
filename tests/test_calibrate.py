"""Choosing the threshold on dev: the best F of doc.ents, stored where spacy.load reads it."""

import numpy
import pytest
import spacy
from spacy.training import Example
from typer.testing import CliRunner

from helpers.toy import TRAIN_DATA, make_examples, train_small, v2_model_config
from spacy_globalpointer.cli import app
from spacy_globalpointer.pipeline import calibrate as cal


@pytest.fixture(scope="module")
def half_trained():
    """Trained just enough to be unsure: its best threshold is not 0, and
    one it finds wins on held-out halves (the v2 head after 3 steps)."""
    return train_small(3, model=v2_model_config())


def test_chosen_threshold_is_the_best_f_that_spacy_measures(half_trained, monkeypatch):
    nlp = half_trained
    gp = nlp.get_pipe("globalpointer_ner")
    refs = [eg.reference for eg in make_examples(nlp, ents=True)]
    grid = numpy.round(numpy.arange(-3.0, 1.01, 0.5), 2)
    monkeypatch.setattr(cal, "GRID", grid)
    result = cal.calibrate(nlp, refs)
    # independently: spaCy's own scorer at every threshold of the grid
    examples = [Example(nlp.make_doc(r.text), r) for r in refs]
    measured = {}
    for t in grid:
        gp.threshold, gp.label_thresholds = float(t), {}
        measured[float(t)] = nlp.evaluate(examples)["ents_f"]
    best = max(measured.values())
    assert measured[result.best_global] == pytest.approx(best)
    assert result.scores["dev_global"]["f"] == pytest.approx(best)
    assert result.scores["dev_old_threshold"]["f"] == pytest.approx(measured[0.0])
    assert best > measured[0.0]  # the test is only worth something if 0 was not already the best


def test_a_threshold_that_does_not_win_held_out_is_not_kept(half_trained, monkeypatch):
    """The model predicts nothing at 0, so calibrating gives it a new
    threshold; calibrated again on a grid where every threshold predicts
    nothing (F 0 on both halves), it keeps the one it has."""
    nlp = half_trained
    gp = nlp.get_pipe("globalpointer_ner")
    refs = [eg.reference for eg in make_examples(nlp, ents=True)]
    monkeypatch.setattr(gp, "threshold", 0.0)  # restored after the test, pass or fail
    monkeypatch.setattr(gp, "label_thresholds", {})
    monkeypatch.setattr(cal, "GRID", numpy.round(numpy.arange(-3.0, 1.01, 0.5), 2))
    first = cal.calibrate(nlp, refs)
    assert first.choice != "unchanged" and gp.threshold == first.best_global != 0.0
    kept = (gp.threshold, dict(gp.label_thresholds))
    monkeypatch.setattr(cal, "GRID", numpy.asarray([60.0, 70.0]))
    result = cal.calibrate(nlp, refs)
    assert result.scores["dev_old_threshold"]["f"] > 0 == result.scores["held_out_global"]["f"]
    assert result.choice == "unchanged" and not result.per_label_used
    assert (gp.threshold, gp.label_thresholds) == kept == (result.threshold, result.label_thresholds)


def test_per_label_thresholds_decode_per_label(half_trained):
    nlp = half_trained
    gp = nlp.get_pipe("globalpointer_ner")
    gp.threshold, gp.label_thresholds = -2.0, {"LOC": 50.0}
    doc = nlp(TRAIN_DATA[0][0])
    assert doc.spans["sc"] and all(s.label_ != "LOC" for s in doc.spans["sc"])
    gp.label_thresholds = {"NOPE": 1.0}
    with pytest.raises(ValueError, match="NOPE"):
        nlp(TRAIN_DATA[0][0])
    gp.threshold, gp.label_thresholds = 0.0, {}


def test_calibrate_command_stores_the_threshold(half_trained, tmp_path):
    from spacy.tokens import DocBin

    half_trained.to_disk(tmp_path / "model")
    refs = [eg.reference for eg in make_examples(half_trained, ents=True)]
    DocBin(docs=refs).to_disk(tmp_path / "dev.spacy")
    out = tmp_path / "thresholds.json"
    args = [str(tmp_path / "model"), str(tmp_path / "dev.spacy"), "--output", str(out)]
    result = CliRunner().invoke(app, ["calibrate", *args])
    assert result.exit_code == 0, result.output
    import json

    chosen = json.loads(out.read_text())
    loaded = spacy.load(tmp_path / "model")
    gp = loaded.get_pipe("globalpointer_ner")
    assert gp.threshold == chosen["threshold"] and gp.label_thresholds == chosen["label_thresholds"]
    assert f"threshold = {chosen['threshold']}" in (tmp_path / "model" / "config.cfg").read_text()


def test_nested_metric_is_the_best_spans_f_that_spacy_measures(half_trained, monkeypatch):
    """--metric spans_sc_f: every span above the threshold against the
    nested gold, as spaCy's scorer counts them (no flat selection)."""
    nlp = half_trained
    gp = nlp.get_pipe("globalpointer_ner")
    refs = [eg.reference for eg in make_examples(nlp, ents=True)]
    grid = numpy.round(numpy.arange(-3.0, 1.01, 0.5), 2)
    monkeypatch.setattr(cal, "GRID", grid)
    monkeypatch.setattr(gp, "threshold", 0.0)
    monkeypatch.setattr(gp, "label_thresholds", {})
    result = cal.calibrate(nlp, refs, metric="spans_sc_f")
    assert result.metric == "spans_sc_f"
    examples = [Example(nlp.make_doc(r.text), r) for r in refs]
    spans, ents = {}, {}
    for t in grid:
        gp.threshold, gp.label_thresholds = float(t), {}
        scores = nlp.evaluate(examples)
        spans[float(t)], ents[float(t)] = scores["spans_sc_f"], scores["ents_f"]
    assert spans[result.best_global] == pytest.approx(max(spans.values()))
    assert result.scores["dev_global"]["f"] == pytest.approx(max(spans.values()))
    assert result.scores["dev_old_threshold"]["f"] == pytest.approx(spans[0.0])
    assert spans != ents  # nested gold: the two metrics differ on this model
    with pytest.raises(ValueError, match="metric must be one of"):
        cal.calibrate(nlp, refs, metric="tags_acc")


def test_default_metric_is_the_pipelines_selection_target(half_trained, tmp_path):
    half_trained.to_disk(tmp_path / "model")
    assert cal.selection_metric(spacy.load(tmp_path / "model"), "sc") == "ents_f"
    config = (tmp_path / "model" / "config.cfg").read_text()
    config = config.replace("ents_f = 1.0", "ents_f = 0.0\nspans_sc_f = 1.0")
    (tmp_path / "model" / "config.cfg").write_text(config)
    assert cal.selection_metric(spacy.load(tmp_path / "model"), "sc") == "spans_sc_f"
