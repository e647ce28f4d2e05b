"""The globalpointer_ner component, in the shape of spaCy's test_spancat.py."""

import numpy
import pytest
import spacy
from numpy.testing import assert_equal
from spacy.language import Language
from spacy.training import Example

from spacy_globalpointer import GlobalPointerNER

from .toy import LABELS, TRAIN_DATA, make_examples

MAX_STEPS = 150


def make_nlp(**config) -> Language:
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_ner", config=config)
    return nlp


def overfit(nlp: Language, examples, max_steps: int = MAX_STEPS) -> int:
    """Train until every gold span (nested ones too) is predicted exactly and
    nothing else is; returns the step count, -1 if never."""
    optimizer = nlp.initialize(get_examples=lambda: examples)
    for step in range(1, max_steps + 1):
        nlp.update(examples, sgd=optimizer)
        if step % 5 == 0 and nlp.evaluate(examples)["spans_sc_f"] == 1.0:
            return step
    return -1


def is_nested(entities) -> bool:
    return any(a != b and a in b for a, _ in entities for b, _ in entities)


def spans_of(doc, key="sc"):
    return [(s.start, s.end, s.label_) for s in doc.spans[key]]


def test_factory_without_extra_imports():
    nlp = spacy.blank("zh")
    gp = nlp.add_pipe("globalpointer_ner")
    assert isinstance(gp, GlobalPointerNER)
    assert nlp.get_pipe_meta("globalpointer_ner").default_score_weights["ents_f"] == 1.0


def test_no_label():
    nlp = make_nlp()
    with pytest.raises(ValueError, match="no labels"):
        nlp.initialize()
    # examples without any span: still no labels
    with pytest.raises(ValueError, match="no labels"):
        nlp.initialize(get_examples=lambda: make_examples(nlp, [("今天天气很好", [])]))


def test_implicit_labels():
    nlp = make_nlp()
    gp = nlp.get_pipe("globalpointer_ner")
    assert len(gp.labels) == 0
    nlp.initialize(get_examples=lambda: make_examples(nlp))
    assert sorted(gp.labels) == LABELS
    assert gp.model.get_dim("nO") == 3


def test_explicit_labels():
    nlp = make_nlp()
    gp = nlp.get_pipe("globalpointer_ner")
    gp.add_label("PER")
    gp.add_label("LOC")
    nlp.initialize()
    assert gp.labels == ("PER", "LOC")
    assert gp.label_data == ["PER", "LOC"]


def test_init_labels_from_config():
    """Labels as `spacy init labels` writes them, given through [initialize.components]."""
    nlp = make_nlp()
    nlp.config["initialize"]["components"]["globalpointer_ner"] = {"labels": ["ORG", "PER"]}
    nlp.initialize(get_examples=lambda: make_examples(nlp))
    assert nlp.get_pipe("globalpointer_ner").labels == ("ORG", "PER")


def test_no_resize_after_initialize():
    nlp = make_nlp()
    gp = nlp.get_pipe("globalpointer_ner")
    gp.add_label("PER")
    nlp.initialize()
    assert gp.add_label("PER") == 0
    with pytest.raises(ValueError):
        gp.add_label("ORG")


def test_labels_read_from_ents_when_spans_key_absent():
    nlp = make_nlp()
    examples = make_examples(nlp, ents=True)
    for eg in examples:
        del eg.reference.spans["sc"]
    nlp.initialize(get_examples=lambda: examples)
    assert sorted(nlp.get_pipe("globalpointer_ner").labels) == LABELS


@pytest.mark.parametrize("head", ["GlobalPointer", "EfficientGlobalPointer"])
def test_overfit_save_load_same_predictions(head, tmp_path):
    nlp = make_nlp(model={"head": head})
    examples = make_examples(nlp, ents=True)
    fix_random_seed()
    steps = overfit(nlp, examples)
    print(f"\n{head}: P/R/F = 1.0 on {len(examples)} docs after {steps} updates")
    assert 0 < steps <= MAX_STEPS
    scores = nlp.evaluate(examples)
    assert scores["spans_sc_p"] == scores["spans_sc_r"] == scores["spans_sc_f"] == 1.0
    assert set(scores["spans_sc_per_type"]) == set(LABELS)
    # Where nothing nests, doc.ents are exactly the gold entities. (Where spans
    # nest, ents keep the best-scoring one, which need not be the longest.)
    flat = make_examples(nlp, [d for d in TRAIN_DATA if not is_nested(d[1])], ents=True)
    flat_scores = nlp.evaluate(flat)
    assert flat_scores["ents_p"] == flat_scores["ents_r"] == flat_scores["ents_f"] == 1.0

    texts = [text for text, _ in TRAIN_DATA]
    docs = [nlp(text) for text in texts]
    # nested spans survive in doc.spans, and doc.ents are a flat subset of them
    nested = docs[0]
    assert {("北京大学", "ORG"), ("北京", "LOC")} <= {(s.text, s.label_) for s in nested.spans["sc"]}
    for doc in docs:
        assert {(e.start, e.end, e.label_) for e in doc.ents} <= set(spans_of(doc))
        assert len(doc.spans["sc"].attrs["scores"]) == len(doc.spans["sc"])

    nlp.to_disk(tmp_path)
    nlp2 = spacy.load(tmp_path)
    # Same docs one at a time: exactly the same. (Batches pad to other
    # shapes, and BLAS rounds differently: compared with a tolerance below.)
    for doc, doc2 in zip(docs, map(nlp2, texts)):
        assert spans_of(doc) == spans_of(doc2)
        assert_equal(doc.spans["sc"].attrs["scores"], doc2.spans["sc"].attrs["scores"])
        assert [(e.start, e.end, e.label_) for e in doc.ents] == [
            (e.start, e.end, e.label_) for e in doc2.ents
        ]
    assert nlp2.evaluate(make_examples(nlp2, ents=True))["spans_sc_f"] == 1.0

    nlp3 = make_nlp(model={"head": head})
    nlp3.get_pipe("globalpointer_ner").from_bytes(nlp.get_pipe("globalpointer_ner").to_bytes())
    for doc, doc3 in zip(docs, map(nlp3, texts)):
        assert spans_of(doc) == spans_of(doc3)
        assert_equal(doc.spans["sc"].attrs["scores"], doc3.spans["sc"].attrs["scores"])

    # a batch predicts what single docs do
    for doc, batched in zip(docs, nlp.pipe(texts, batch_size=5)):
        assert spans_of(doc) == spans_of(batched)
        numpy.testing.assert_allclose(
            doc.spans["sc"].attrs["scores"], batched.spans["sc"].attrs["scores"], rtol=1e-4, atol=1e-4
        )

    # several processes
    multi = list(nlp2.pipe(texts, n_process=2, batch_size=4))
    assert [spans_of(d) for d in multi] == [spans_of(d) for d in docs]


def fix_random_seed():
    from thinc.api import fix_random_seed as fix

    fix(0)


def test_empty_docs():
    nlp = make_nlp()
    examples = make_examples(nlp)
    nlp.initialize(get_examples=lambda: examples)
    texts = ["", "北", "今天", ""]
    for doc in nlp.pipe(texts):
        assert len(doc.spans["sc"]) <= max(len(doc), 1) and len(doc.spans["sc"]) == len(
            doc.spans["sc"].attrs["scores"]
        )
    doc = nlp("")
    assert len(doc.spans["sc"]) == 0 and len(doc.ents) == 0
    # an update on only empty docs is a no-op, with mixed docs it works
    losses = nlp.update([Example(nlp.make_doc(""), nlp.make_doc(""))])
    assert losses["globalpointer_ner"] == 0.0
    losses = nlp.update([Example(nlp.make_doc(""), nlp.make_doc(""))] + examples[:2])
    assert losses["globalpointer_ner"] > 0


def test_spans_key_and_threshold():
    nlp = make_nlp(spans_key="ner_spans", threshold=1e9)
    examples = make_examples(nlp, spans_key="ner_spans")
    nlp.initialize(get_examples=lambda: examples)
    doc = nlp("张三在北京大学读书")
    assert "ner_spans" in doc.spans and len(doc.spans["ner_spans"]) == 0 and len(doc.ents) == 0
    nlp.get_pipe("globalpointer_ner").threshold = -1e9
    doc = nlp("张三在北京大学读书")
    assert len(doc.spans["ner_spans"]) == len(doc)  # capped at one span per token
    assert "spans_ner_spans_f" in nlp.evaluate(examples)


def test_gold_longer_than_max_span_length_is_reported():
    nlp = make_nlp(max_span_length=3)
    examples = make_examples(nlp)
    optimizer = nlp.initialize(get_examples=lambda: examples)
    with pytest.warns(UserWarning, match="longer than max_span_length=3"):
        nlp.update(examples, sgd=optimizer)


def test_bad_settings():
    with pytest.raises(ValueError, match="max_span_length"):
        make_nlp(max_span_length=0)
    with pytest.raises(Exception, match="EfficientGlobalPointer"):
        make_nlp(model={"head": "Efficient"})
    with pytest.raises(Exception, match="even"):
        make_nlp(model={"head_size": 63})


def test_v2_pipeline_loads_unchanged(tmp_path):
    """A pipeline saved with GlobalPointer.v2 (no content term) loads as it was
    saved: the same head, no span-term weights, the same spans and scores."""
    from .toy import train_small, v2_model_config

    nlp = train_small(20, model=v2_model_config())
    head = nlp.get_pipe("globalpointer_ner").model.get_ref("scorer").shims[0]._model
    assert not head.span_content
    assert not [name for name in head.state_dict() if name.startswith("content")]
    texts = [text for text, _ in TRAIN_DATA]
    before = [(spans_of(doc), list(doc.spans["sc"].attrs["scores"])) for doc in map(nlp, texts)]
    assert sum(len(spans) for spans, _ in before) > 0
    nlp.to_disk(tmp_path)
    loaded = spacy.load(tmp_path)
    config = loaded.config["components"]["globalpointer_ner"]["model"]
    assert config["@architectures"] == "spacy_globalpointer.GlobalPointer.v2"
    assert loaded.get_pipe("globalpointer_ner").model.get_ref("scorer").shims[0]._model.config == head.config
    after = [(spans_of(doc), list(doc.spans["sc"].attrs["scores"])) for doc in map(loaded, texts)]
    assert after == before


def test_span_content_learns_and_round_trips(tmp_path):
    """GlobalPointer.v3's content term: its weights move in training (from
    zero), and a saved pipeline gives the same spans and scores."""
    from .toy import train_small

    nlp = train_small(20, model={"span_content": True})
    head = nlp.get_pipe("globalpointer_ner").model.get_ref("scorer").shims[0]._model
    assert head.span_content and float(head.content.weight.abs().sum()) > 0
    texts = [text for text, _ in TRAIN_DATA]
    before = [(spans_of(doc), list(doc.spans["sc"].attrs["scores"])) for doc in map(nlp, texts)]
    assert sum(len(spans) for spans, _ in before) > 0
    nlp.to_disk(tmp_path)
    after = [
        (spans_of(doc), list(doc.spans["sc"].attrs["scores"]))
        for doc in spacy.load(tmp_path).pipe(texts, batch_size=1)
    ]
    assert after == before


def test_length_weight_reaches_the_loss():
    """length_weight weighs each gold span by its length in the component's
    loss: at 0 the loss is the unweighted one; above 0 a batch whose gold
    spans are all one token long keeps its loss, one with longer spans gets a
    larger one (each of its positives weighs more than 1)."""
    from thinc.api import set_dropout_rate

    from .toy import make_examples, train_small

    nlp = train_small(2)
    gp = nlp.get_pipe("globalpointer_ner")
    set_dropout_rate(gp.model, 0.0)
    examples = make_examples(nlp)
    single = make_examples(nlp, [("张三在北京", [("张", "PER"), ("北", "LOC")])])
    losses = {}
    for weight in (0.0, 1.0):
        gp.length_weight = weight
        for name, batch in (("all", examples), ("single", single)):
            scores, _ = gp.model.begin_update([eg.predicted for eg in batch])
            losses[name, weight] = gp.get_loss(batch, scores)[0]
    assert losses["single", 1.0] == pytest.approx(losses["single", 0.0], abs=1e-6)
    assert losses["all", 1.0] > losses["all", 0.0] + 0.01
