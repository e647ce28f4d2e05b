"""Relation gold for training, on the entity component's rules: aligned to the
predicted tokens by the same check, a doc without relation annotation left
out of the loss (not taken as "no relations"), relations where spaCy users
look (doc._.relations), and what a DocBin keeps."""

import warnings

import pytest
import spacy
import torch
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from thinc.api import fix_random_seed

from helpers.toy import RELATION_DATA as DATA
from helpers.toy import gold_doc, v1_relation_model
from spacy_globalpointer.pipeline.gold import AlignedRelation, aligned_relations
from spacy_globalpointer.pipeline.relations import Relation, has_relations, relations, set_relations


def test_relation_gold_follows_token_offsets_not_just_the_token_count():
    """Two tokenizations of one text with the same token count: a relation
    whose entity has no tokens of its own in the predicted doc is left out,
    never put on the tokens that happen to have its indices."""
    vocab = spacy.blank("en").vocab
    ref = Doc(vocab, words=["a", "bc", "def"], spaces=[False, True, False])
    pred = Doc(vocab, words=["ab", "c", "def"], spaces=[False, True, False])
    assert ref.text == pred.text and len(ref) == len(pred)
    set_relations(
        ref,
        [
            Relation(ref.char_span(0, 3, "X"), ref[2:3], "whole"),  # "abc": tokens 0-1 in both
            Relation(ref[1:2], ref[2:3], "part"),  # "bc": no tokens of its own in pred
        ],
    )
    eg = Example(pred, ref)
    assert aligned_relations(eg, "rel") == [AlignedRelation((0, 2), "X", (2, 3), "", "whole")]
    # The same text and tokens: gold as it is.
    same = Example(Doc(vocab, words=["a", "bc", "def"], spaces=[False, True, False]), ref)
    assert sorted((r.label, r.head) for r in aligned_relations(same, "rel")) == [
        ("part", (1, 2)),
        ("whole", (0, 2)),
    ]


def test_no_relation_annotation_is_not_no_relations():
    nlp = spacy.blank("zh")
    annotated = gold_doc(nlp, "今天天气很好", [], [])
    unannotated = nlp.make_doc("今天天气很好")
    assert has_relations(annotated, "rel") and not has_relations(unannotated, "rel")
    assert aligned_relations(Example(nlp.make_doc(annotated.text), annotated), "rel") == []
    assert aligned_relations(Example(nlp.make_doc(unannotated.text), unannotated), "rel") is None


def _losses(nlp, examples):
    """The relation component's loss and gradient on the scores of these examples."""
    rel = nlp.get_pipe("globalpointer_rel")
    docs = [eg.predicted for eg in examples]
    for name, proc in nlp.pipeline:
        if name != "globalpointer_rel":
            docs = list(proc.pipe(docs))
    scores, _ = rel.model.begin_update(docs)
    loss, grad = rel.get_loss(examples, scores)
    return loss, torch.as_tensor(grad)


def test_the_relation_loss_skips_a_doc_without_relation_annotation():
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_rel", config={"max_distance": 8, "model": v1_relation_model()})
    text, ents, rels = DATA[0]
    with_rels = Example(nlp.make_doc(text), gold_doc(nlp, text, ents, rels))
    nlp.initialize(lambda: [with_rels])
    plain = "南京大学在南京"
    unannotated = Example(nlp.make_doc(plain), nlp.make_doc(plain))
    none_at_all = Example(nlp.make_doc(plain), gold_doc(nlp, plain, [], []))

    alone, alone_grad = _losses(nlp, [with_rels])
    skipped, skipped_grad = _losses(nlp, [with_rels, unannotated])
    counted, counted_grad = _losses(nlp, [with_rels, none_at_all])
    assert alone > 0
    # The unannotated doc adds nothing: the same loss, the same gradient, zero on its own rows.
    assert skipped == pytest.approx(alone, rel=1e-6)
    assert torch.allclose(skipped_grad[0, ..., : alone_grad.shape[-2], :], alone_grad[0], atol=1e-7)
    assert not skipped_grad[1].any()
    # A doc annotated with no relations is a negative example: it takes part.
    assert counted != pytest.approx(alone, rel=1e-3) and counted_grad[1].any()


def test_doc_extension_reads_the_stored_relations():
    nlp = spacy.blank("zh")
    doc = gold_doc(nlp, *DATA[0])
    assert doc._.relations == relations(doc) and len(doc._.relations) == 2
    assert nlp.make_doc("今天")._.relations == []
    other = nlp.make_doc(DATA[0][0])
    spans = [other[0:2], other[3:7]]
    set_relations(other, [Relation(spans[0], spans[1], "works_at")], "mine")
    assert [r.label for r in other._.relations] == ["works_at"]  # the one key it has
    set_relations(other, [Relation(spans[1], spans[0], "has")], "theirs")
    with pytest.raises(ValueError, match="relations\\(doc, key\\)"):
        other._.relations
    with pytest.raises(AttributeError, match="read-only"):
        doc._.relations = []
    assert len(doc._.relations) == 2


def test_a_docbin_keeps_relations_only_with_user_data_and_training_says_so(tmp_path):
    nlp = spacy.blank("zh")
    docs = [gold_doc(nlp, *item) for item in DATA]
    DocBin(docs=docs).to_disk(tmp_path / "default.spacy")
    DocBin(docs=docs, store_user_data=True).to_disk(tmp_path / "kept.spacy")
    dropped = list(DocBin().from_disk(tmp_path / "default.spacy").get_docs(nlp.vocab))
    kept = list(DocBin().from_disk(tmp_path / "kept.spacy").get_docs(nlp.vocab))
    assert not any(has_relations(d, "rel") for d in dropped)
    assert [d._.relations for d in kept] and all(has_relations(d, "rel") for d in kept)

    for read, warns in ((dropped, True), (kept, False)):
        pipeline = spacy.blank("zh")
        rel = pipeline.add_pipe("globalpointer_rel")
        examples = [Example(pipeline.make_doc(d.text), d) for d in read]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            rel.initialize(lambda: examples, nlp=pipeline, labels=["works_at", "located_in"])
        said = [str(w.message) for w in caught if "store_user_data=True" in str(w.message)]
        assert bool(said) == warns, said
    # Without labels given, no relations at all is an error that says the same.
    pipeline = spacy.blank("zh")
    pipeline.add_pipe("globalpointer_rel")
    with pytest.raises(ValueError, match="store_user_data=True"):
        pipeline.initialize(lambda: [Example(pipeline.make_doc(d.text), d) for d in dropped])
