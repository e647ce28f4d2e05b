"""Pipelines saved by earlier code still load and predict exactly as they did.

tests/fixtures/saved_0_1 was written by tests/fixtures/make_saved_pipelines.py
with the package as it was before its modules moved into subpackages: four
components (GlobalPointer.v3 with each head, .v2, .v1; NgramHashEmbed.v2 and
spaCy's MultiHashEmbed; settings changed from their defaults), and their
predictions on a few texts.

tests/fixtures/saved_0_1_relations was written by
tests/fixtures/make_saved_relation_pipeline.py with the package as it was
before the two components shared their code (issue 36): globalpointer_ner and
two globalpointer_rel (RelationPointer.v1 with each head, RoPE off and on,
settings changed from their defaults), and their spans, relations and scores."""

import json
import math
from pathlib import Path
from typing import Any

import pytest
import spacy

from tests.fixtures import make_saved_relation_pipeline as saved_relations
from tests.fixtures.make_saved_pipelines import COMPONENTS, TEXTS, predictions

SAVED = Path(__file__).parent / "fixtures" / "saved_0_1"
SAVED_RELATIONS = Path(__file__).parent / "fixtures" / "saved_0_1_relations"


# The scores are float32 matrix products, whose last bits depend on the CPU's kernels (the fixtures
# were written on one machine, CI may run on another CPU: an AMD EPYC gives scores 1e-6 off an Intel's
# for the same weights and inputs). Spans, labels and relations are compared exactly, scores to this.
SCORE_TOLERANCE = 1e-5


def same(got: Any, expected: Any) -> bool:
    """Equal structures, floats within SCORE_TOLERANCE, everything else exactly."""
    if isinstance(expected, float):
        return isinstance(got, float) and math.isclose(got, expected, rel_tol=0, abs_tol=SCORE_TOLERANCE)
    if isinstance(expected, (list, dict)):
        if type(got) is not type(expected) or len(got) != len(expected):
            return False
        if isinstance(expected, dict):
            return got.keys() == expected.keys() and all(same(got[k], expected[k]) for k in expected)
        return all(same(g, e) for g, e in zip(got, expected))
    return got == expected


def test_the_comparison_tells_a_score_apart_but_not_a_cpus_last_bits():
    record = {"text": "x", "spans": [[0, 2, "PER", 0.8260975480079651]]}
    assert same({"text": "x", "spans": [[0, 2, "PER", 0.8260985016822815]]}, record)
    assert not same({"text": "x", "spans": [[0, 2, "PER", 0.8261975]]}, record)
    assert not same({"text": "x", "spans": [[0, 2, "LOC", 0.8260975480079651]]}, record)
    assert not same({"text": "x", "spans": []}, record)


@pytest.fixture(scope="module")
def loaded():
    return spacy.load(SAVED / "pipeline")


def test_the_saved_pipeline_predicts_the_saved_spans_and_scores_exactly(loaded):
    expected = json.loads((SAVED / "predictions.json").read_text(encoding="utf8"))
    assert [record["text"] for record in expected] == TEXTS
    assert same(predictions(loaded), expected)


def test_the_saved_settings_are_read_back(loaded):
    for name, (*_, settings) in COMPONENTS.items():
        pipe = loaded.get_pipe(name)
        for key, value in settings.items():
            assert getattr(pipe, key) == value, (name, key)


def test_the_saved_relation_pipeline_predicts_the_saved_relations_and_scores_exactly():
    expected = json.loads((SAVED_RELATIONS / "predictions.json").read_text(encoding="utf8"))
    assert [record["text"] for record in expected] == saved_relations.TEXTS
    assert any(record["rel_gp"] for record in expected) and any(record["rel_egp"] for record in expected)
    nlp = spacy.load(SAVED_RELATIONS / "pipeline")
    assert same(saved_relations.predictions(nlp), expected)
    for name, (*_, settings) in saved_relations.RELATION_COMPONENTS.items():
        for key, value in settings.items():
            assert getattr(nlp.get_pipe(name), key) == value, (name, key)


def test_every_saved_architecture_is_still_registered(loaded):
    config = loaded.config["components"]
    archs = {config[name]["model"]["@architectures"] for name in COMPONENTS}
    assert archs == {f"spacy_globalpointer.{arch}" for arch, *_ in COMPONENTS.values()}


# Every name this package has registered: released names never change meaning or go away.
REGISTERED = {
    "spacy_factories": {"globalpointer_ner", "globalpointer_rel"},
    "spacy_architectures": {
        "spacy_globalpointer.GlobalPointer.v1",
        "spacy_globalpointer.GlobalPointer.v2",
        "spacy_globalpointer.GlobalPointer.v3",
        "spacy_globalpointer.NgramHashEmbed.v1",
        "spacy_globalpointer.NgramHashEmbed.v2",
        "spacy_globalpointer.RelationPointer.v1",
        "spacy_globalpointer.RelationPointer.v2",
        "spacy_globalpointer.ContextEncoder.v1",
    },
    "spacy_scorers": {
        "spacy_globalpointer.scorer.v1",
        "spacy_globalpointer.scorer.v2",
        "spacy_globalpointer.relation_scorer.v1",
    },
    "spacy_readers": {"spacy_globalpointer.Corpus.v1"},
    "spacy_tokenizers": {"spacy_globalpointer.ChineseCharTokenizer.v1"},
    "spacy_callbacks": {
        "spacy_globalpointer.torch_cpu_ops.v1",
        "spacy_globalpointer.cached_msgpack_lookup.v1",
    },
    "spacy_span_getters": {"spacy_globalpointer.checked_strided_spans.v1"},
    "thinc_model_loaders": {"spacy_globalpointer.HFCheckpointLoader.v1"},
    "spacy_cli": {"globalpointer"},
}


def test_every_registered_name_is_still_there_and_loads():
    from importlib.metadata import distribution

    points = distribution("spacy-globalpointer").entry_points
    found = {group: {ep.name for ep in points if ep.group == group} for group in REGISTERED}
    assert found == REGISTERED
    for ep in points:
        if ep.group in REGISTERED:
            assert callable(ep.load()), ep
