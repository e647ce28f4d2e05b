"""The globalpointer_ner component, in the shape of spaCy's test_spancat.py."""

import numpy
import pytest
import spacy
from numpy.testing import assert_equal
from spacy.language import Language
from spacy.training import Example
from thinc.api import fix_random_seed

from helpers.toy import LABELS, TRAIN_DATA, make_examples
from spacy_globalpointer import GlobalPointerNER
from spacy_globalpointer.ml.pytorch.heads import HEADS

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


VARIANTS = [(head, rope) for head in HEADS for rope in (True, False)]
TEXTS = [text for text, _ in TRAIN_DATA]


@pytest.fixture(scope="module", params=VARIANTS, ids=[f"{h}-rope_{r}" for h, r in VARIANTS])
def overfitted(request):
    """A pipeline of each head, with RoPE on and off, trained from seed 0
    until every gold span (nested ones too) is predicted and nothing else;
    its predictions of the training texts one doc at a time."""
    head, rope = request.param
    fix_random_seed(0)
    nlp = make_nlp(model={"head": head, "rope": rope})
    steps = overfit(nlp, make_examples(nlp, ents=True))
    print(f"\n{head}, rope {rope}: P/R/F = 1.0 on {len(TRAIN_DATA)} docs after {steps} updates")
    return nlp, steps, [nlp(text) for text in TEXTS]


def predictions(doc):
    return spans_of(doc), doc.spans["sc"].attrs["scores"], [(e.start, e.end, e.label_) for e in doc.ents]


def test_overfits_the_nested_toy_set(overfitted):
    nlp, steps, _ = overfitted
    assert 0 < steps <= MAX_STEPS
    scores = nlp.evaluate(make_examples(nlp, ents=True))
    assert scores["spans_sc_p"] == scores["spans_sc_r"] == scores["spans_sc_f"] == 1.0
    assert set(scores["spans_sc_per_type"]) == set(LABELS)


def test_ents_are_the_gold_where_nothing_nests(overfitted):
    # Where spans nest, ents keep the best-scoring one, which need not be the longest.
    nlp, _, _ = overfitted
    flat = make_examples(nlp, [d for d in TRAIN_DATA if not is_nested(d[1])], ents=True)
    scores = nlp.evaluate(flat)
    assert scores["ents_p"] == scores["ents_r"] == scores["ents_f"] == 1.0


def test_nested_spans_stay_and_ents_are_a_flat_subset(overfitted):
    _, _, docs = overfitted
    assert {("北京大学", "ORG"), ("北京", "LOC")} <= {(s.text, s.label_) for s in docs[0].spans["sc"]}
    for doc in docs:
        ents = [(e.start, e.end) for e in doc.ents]
        assert {(e.start, e.end, e.label_) for e in doc.ents} <= set(spans_of(doc))
        assert all(a[1] <= b[0] for a, b in zip(sorted(ents), sorted(ents)[1:]))
        assert len(doc.spans["sc"].attrs["scores"]) == len(doc.spans["sc"])


def test_to_disk_and_load_predict_identically(overfitted, tmp_path):
    nlp, _, docs = overfitted
    nlp.to_disk(tmp_path)
    loaded = spacy.load(tmp_path)
    for doc, again in zip(docs, map(loaded, TEXTS)):
        expected, got = predictions(doc), predictions(again)
        assert expected[0] == got[0] and expected[2] == got[2]
        assert_equal(expected[1], got[1])


def test_to_bytes_and_from_bytes_predict_identically(overfitted):
    nlp, _, docs = overfitted
    head, rope = (nlp.config["components"]["globalpointer_ner"]["model"][k] for k in ("head", "rope"))
    other = make_nlp(model={"head": head, "rope": rope})
    other.get_pipe("globalpointer_ner").from_bytes(nlp.get_pipe("globalpointer_ner").to_bytes())
    for doc, again in zip(docs, map(other, TEXTS)):
        assert spans_of(doc) == spans_of(again)
        assert_equal(doc.spans["sc"].attrs["scores"], again.spans["sc"].attrs["scores"])


def test_a_batch_predicts_what_single_docs_do(overfitted):
    # Batches pad to other shapes, and BLAS rounds differently: scores within a tolerance.
    nlp, _, docs = overfitted
    for doc, batched in zip(docs, nlp.pipe(TEXTS, batch_size=5)):
        assert spans_of(doc) == spans_of(batched)
        numpy.testing.assert_allclose(
            doc.spans["sc"].attrs["scores"], batched.spans["sc"].attrs["scores"], rtol=1e-4, atol=1e-4
        )


def test_two_processes_predict_the_same_spans(overfitted):
    nlp, _, docs = overfitted
    multi = list(nlp.pipe(TEXTS, n_process=2, batch_size=4))
    assert [spans_of(d) for d in multi] == [spans_of(d) for d in docs]


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
    with pytest.raises(ValueError, match="EfficientGlobalPointer"):
        make_nlp(model={"head": "Efficient"})
    with pytest.raises(ValueError, match="even"):
        make_nlp(model={"head_size": 63})


def test_v2_pipeline_loads_unchanged(tmp_path):
    """A pipeline saved with GlobalPointer.v2 (no content term) loads as it was
    saved: the same head, no span-term weights, the same spans and scores."""
    from helpers.toy import train_small, v2_model_config

    nlp = train_small(20, model=v2_model_config())
    head = nlp.get_pipe("globalpointer_ner").model.get_ref("scorer").shims[0].module
    assert not head.span_content
    assert not [name for name in head.state_dict() if name.startswith("content")]
    texts = [text for text, _ in TRAIN_DATA]
    before = [(spans_of(doc), list(doc.spans["sc"].attrs["scores"])) for doc in map(nlp, texts)]
    assert sum(len(spans) for spans, _ in before) > 0
    nlp.to_disk(tmp_path)
    loaded = spacy.load(tmp_path)
    config = loaded.config["components"]["globalpointer_ner"]["model"]
    assert config["@architectures"] == "spacy_globalpointer.GlobalPointer.v2"
    assert loaded.get_pipe("globalpointer_ner").model.get_ref("scorer").shims[0].module.config == head.config
    after = [(spans_of(doc), list(doc.spans["sc"].attrs["scores"])) for doc in map(loaded, texts)]
    assert after == before


def test_span_content_learns_and_round_trips(tmp_path):
    """GlobalPointer.v3's content term: its weights move in training (from
    zero), and a saved pipeline gives the same spans and scores."""
    from helpers.toy import train_small

    nlp = train_small(20, model={"span_content": True})
    head = nlp.get_pipe("globalpointer_ner").model.get_ref("scorer").shims[0].module
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

    from helpers.toy import make_examples, train_small

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
