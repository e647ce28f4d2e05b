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
