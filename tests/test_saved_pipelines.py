"""Pipelines saved by earlier code still load and predict exactly as they did.

tests/fixtures/saved_0_1 was written by tests/fixtures/make_saved_pipelines.py
with the package as it was before its modules moved into subpackages: four
components (GlobalPointer.v3 with each head, .v2, .v1; NgramHashEmbed.v2 and
spaCy's MultiHashEmbed; settings changed from their defaults), and their
predictions on a few texts."""

import json
from pathlib import Path

import pytest
import spacy

from tests.fixtures.make_saved_pipelines import COMPONENTS, TEXTS, predictions

SAVED = Path(__file__).parent / "fixtures" / "saved_0_1"


@pytest.fixture(scope="module")
def loaded():
    return spacy.load(SAVED / "pipeline")


def test_the_saved_pipeline_predicts_the_saved_spans_and_scores_exactly(loaded):
    expected = json.loads((SAVED / "predictions.json").read_text(encoding="utf8"))
    assert [record["text"] for record in expected] == TEXTS
    assert predictions(loaded) == expected


def test_the_saved_settings_are_read_back(loaded):
    for name, (*_, settings) in COMPONENTS.items():
        pipe = loaded.get_pipe(name)
        for key, value in settings.items():
            assert getattr(pipe, key) == value, (name, key)


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
