"""Long documents: band-limited scoring, and transformer windows."""
import numpy
import pytest
import spacy
from thinc.api import fix_random_seed

from .util import TRAIN_DATA, make_examples


def spans_and_scores(nlp, texts):
    out = []
    for doc in nlp.pipe(texts, batch_size=4):
        out.append(({(s.start, s.end, s.label_): float(v) for s, v in zip(doc.spans["sc"], doc.spans["sc"].attrs["scores"])}, [(e.start, e.end, e.label_) for e in doc.ents]))
    return out


def test_band_limited_equals_full_scoring_when_entities_fit():
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    gp = nlp.add_pipe("globalpointer_ner", config={"max_span_length": None, "spans_per_token": 100.0})
    examples = make_examples(nlp)
    optimizer = nlp.initialize(get_examples=lambda: examples)
    for _ in range(30):
        nlp.update(examples, sgd=optimizer)
    texts = [t for t, _ in TRAIN_DATA] + ["".join(t for t, _ in TRAIN_DATA)]
    longest_entity = max(len(e) for _, ents in TRAIN_DATA for e, _ in ents)
    full = spans_and_scores(nlp, texts)
    assert sum(len(s) for s, _ in full) > len(texts)
    for width in (longest_entity, 8, 64):
        gp.max_span_length = width
        band = spans_and_scores(nlp, texts)
        for (fs, fe), (bs, be) in zip(full, band):
            # every span up to the limit is the same span with the same score
            kept = {k: v for k, v in fs.items() if k[1] - k[0] <= width}
            assert set(bs) == set(kept)
            numpy.testing.assert_allclose([bs[k] for k in kept], [kept[k] for k in kept], rtol=1e-5, atol=1e-5)
            if len(kept) == len(fs):
                assert be == fe


def test_long_doc_through_tiny_bert_keeps_entities_at_the_end(tmp_path):
    """A doc of ~600 characters (> 512 wordpieces) is read in overlapping windows:
    an entity at the very end and one across the first window border are found, once."""
    pytest.importorskip("spacy_transformers")
    from spacy_globalpointer.tiny_bert import build_tiny_bert

    from .test_transformer import make_trf_nlp

    filler = "今天天气很好我们一起去公园散步吧" * 40
    border = 126  # the first window covers tokens 0..127: this entity spans 126..129
    text = filler[:border] + "北京大学" + filler[border:560] + "张三在上海"
    assert len(text) > 512
    data = TRAIN_DATA + [(text, [("北京大学", "ORG"), ("张三", "PER"), ("上海", "LOC")])]
    fix_random_seed(0)
    path = build_tiny_bert(tmp_path / "bert", [t for t, _ in data], hidden_size=64)
    nlp = make_trf_nlp(path)
    examples = make_examples(nlp, data)
    optimizer = nlp.initialize(get_examples=lambda: examples)
    found = None
    for step in range(1, 151):
        nlp.update(examples, sgd=optimizer)
        if step % 10 == 0:
            doc = nlp(text)
            found = [(s.start, s.end, s.label_) for s in doc.spans["sc"]]
            if (len(text) - 5, len(text) - 3, "PER") in found and (len(text) - 2, len(text), "LOC") in found and (border, border + 4, "ORG") in found:
                break
    assert (len(text) - 2, len(text), "LOC") in found, found  # the last two tokens
    assert (len(text) - 5, len(text) - 3, "PER") in found, found
    assert found.count((border, border + 4, "ORG")) == 1, found
    # the whole doc was read: no token past the windows lost its vector
    trf = nlp.get_pipe("transformer")
    doc = trf(nlp.make_doc(text))
    assert doc._.trf_data.align.lengths.min() >= 1
