"""Choosing the threshold on dev: the best F of doc.ents, stored where spacy.load reads it."""

import numpy
import pytest
import spacy
from spacy.training import Example

from spacy_globalpointer import calibrate as cal
from spacy_globalpointer.cli import main

from .util import TRAIN_DATA, make_examples, train_small


@pytest.fixture(scope="module")
def half_trained():
    """Trained just enough to be unsure: its best threshold is not 0."""
    return train_small(3)


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
    assert measured[result.threshold] == pytest.approx(best)
    assert result.scores["dev_global"]["f"] == pytest.approx(best)
    assert result.scores["dev_old_threshold"]["f"] == pytest.approx(measured[0.0])
    assert best > measured[0.0]  # the test is only worth something if 0 was not already the best


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
    assert (
        main(["calibrate", str(tmp_path / "model"), str(tmp_path / "dev.spacy"), "--output", str(out)]) == 0
    )
    import json

    chosen = json.loads(out.read_text())
    loaded = spacy.load(tmp_path / "model")
    gp = loaded.get_pipe("globalpointer_ner")
    assert gp.threshold == chosen["threshold"] and gp.label_thresholds == chosen["label_thresholds"]
    assert f"threshold = {chosen['threshold']}" in (tmp_path / "model" / "config.cfg").read_text()
