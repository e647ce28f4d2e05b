"""The transformer path, offline: a tiny random BERT built into a temp folder."""

import pytest
import spacy
from numpy.testing import assert_equal
from thinc.api import Config, fix_random_seed

from helpers.toy import TRAIN_DATA, make_examples

pytest.importorskip("spacy_transformers")

from helpers.tiny_bert import build_tiny_bert  # noqa: E402

CONFIG = __import__("pathlib").Path(__file__).resolve().parent.parent / "configs" / "tiny_trf_test.cfg"


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    texts = [t for t, _ in TRAIN_DATA] + ["a" * 10, "😀"]
    return build_tiny_bert(tmp_path_factory.mktemp("tiny_bert"), texts, hidden_size=64)


def make_trf_nlp(model_path, **overrides):
    config = Config().from_disk(CONFIG, overrides={"paths.transformer": str(model_path), **overrides})
    return spacy.util.load_model_from_config(config, auto_fill=True, validate=True)


def spans_of(doc):
    return [(s.start, s.end, s.label_) for s in doc.spans["sc"]]


def test_overfit_and_round_trip(tiny_bert, tmp_path):
    fix_random_seed(0)
    nlp = make_trf_nlp(tiny_bert)
    examples = make_examples(nlp)
    optimizer = nlp.initialize(get_examples=lambda: examples)
    steps = None
    for step in range(1, 201):
        nlp.update(examples, sgd=optimizer)
        if step % 10 == 0 and nlp.evaluate(examples)["spans_sc_f"] == 1.0:
            steps = step
            break
    print(f"\ntiny BERT + EfficientGlobalPointer: spans P/R/F = 1.0 after {steps} updates")
    assert steps is not None
    texts = [t for t, _ in TRAIN_DATA]
    docs = [nlp(t) for t in texts]
    nlp.to_disk(tmp_path / "pipeline")
    nlp2 = spacy.load(tmp_path / "pipeline")
    for doc, doc2 in zip(docs, map(nlp2, texts)):
        assert spans_of(doc) == spans_of(doc2)
        assert_equal(doc.spans["sc"].attrs["scores"], doc2.spans["sc"].attrs["scores"])
    assert nlp2.evaluate(make_examples(nlp2))["spans_sc_f"] == 1.0


def test_window_checked_against_positions(tiny_bert):
    with pytest.raises(ValueError, match="max_positions"):
        make_trf_nlp(tiny_bert, **{"components.transformer.model.get_spans.window": 511})


def test_replace_listeners_then_load(tiny_bert, tmp_path):
    """A pipeline whose listener was replaced by a copy of the transformer still loads."""
    nlp = make_trf_nlp(tiny_bert)
    examples = make_examples(nlp)
    optimizer = nlp.initialize(get_examples=lambda: examples)
    nlp.update(examples, sgd=optimizer)
    nlp.replace_listeners("transformer", "globalpointer_ner", ["model.tok2vec"])
    nlp.remove_pipe("transformer")
    texts = [t for t, _ in TRAIN_DATA]
    before = [spans_of(nlp(t)) for t in texts]
    nlp.to_disk(tmp_path / "replaced")
    nlp2 = spacy.load(tmp_path / "replaced")
    assert nlp2.pipe_names == ["globalpointer_ner"]
    assert [spans_of(nlp2(t)) for t in texts] == before
