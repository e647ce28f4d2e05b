"""Long documents: band-limited scoring, and transformer windows."""

import numpy
import pytest
import spacy
from thinc.api import fix_random_seed

from helpers.toy import TRAIN_DATA, make_examples


def spans_and_scores(nlp, texts):
    out = []
    for doc in nlp.pipe(texts, batch_size=4):
        out.append(
            (
                {
                    (s.start, s.end, s.label_): float(v)
                    for s, v in zip(doc.spans["sc"], doc.spans["sc"].attrs["scores"])
                },
                [(e.start, e.end, e.label_) for e in doc.ents],
            )
        )
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
            numpy.testing.assert_allclose(
                [bs[k] for k in kept], [kept[k] for k in kept], rtol=1e-5, atol=1e-5
            )
            if len(kept) == len(fs):
                assert be == fe


def test_long_doc_through_tiny_bert_keeps_entities_at_the_end(tmp_path):
    """A doc of ~600 characters (> 512 wordpieces) is read in overlapping windows:
    an entity at the very end and one across the first window border are found, once."""
    pytest.importorskip("spacy_transformers")
    from helpers.tiny_bert import build_tiny_bert

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
            if (
                (len(text) - 5, len(text) - 3, "PER") in found
                and (len(text) - 2, len(text), "LOC") in found
                and (border, border + 4, "ORG") in found
            ):
                break
    assert (len(text) - 2, len(text), "LOC") in found, found  # the last two tokens
    assert (len(text) - 5, len(text) - 3, "PER") in found, found
    assert found.count((border, border + 4, "ORG")) == 1, found
    # the whole doc was read: no token past the windows lost its vector
    trf = nlp.get_pipe("transformer")
    doc = trf(nlp.make_doc(text))
    assert doc._.trf_data.align.lengths.min() >= 1


# --- chunked prediction and windowed encoding ---------------------------------------

LONG = "".join(t for t, _ in TRAIN_DATA) * 3  # ~240 tokens, entities everywhere


@pytest.mark.parametrize("head", ["GlobalPointer", "EfficientGlobalPointer"])
@pytest.mark.parametrize("rope", [True, False])
@pytest.mark.parametrize("max_span_length", [None, 6])
def test_chunked_prediction_equals_whole_batch_scores(head, rope, max_span_length):
    """The component predicts through ChunkedScores (chunk_size starts at a time,
    long docs encoded in windows); the training path scores the whole batch at
    once. Same spans, same scores, entities across chunk borders included."""
    from thinc.api import set_dropout_rate

    from helpers.toy import train_small
    from spacy_globalpointer.pipeline.decode import decode_spans

    model = {"head": head, "rope": rope, "chunk_size": 16, "encoder_window": 50, "span_content": True}
    nlp = train_small(12, model=model, max_span_length=max_span_length, spans_per_token=100.0)
    gp = nlp.get_pipe("globalpointer_ner")
    texts = [LONG, TRAIN_DATA[0][0], LONG[:40], "北"]
    docs = [nlp.make_doc(t) for t in texts]
    lengths = [len(d) for d in docs]
    for batch in ([docs[0]], docs):  # a long doc alone (windowed encoder), and a mixed batch
        set_dropout_rate(gp.model, 0.0)
        whole, _ = gp.model.begin_update(batch)
        expected = decode_spans(whole, [len(d) for d in batch], gp.threshold, gp.spans_per_token)
        got = decode_spans(gp.model.predict(batch), [len(d) for d in batch], gp.threshold, gp.spans_per_token)
        crossing = 0
        for e, g in zip(expected, got):
            assert list(zip(g.starts, g.ends, g.labels)) == list(zip(e.starts, e.ends, e.labels))
            numpy.testing.assert_allclose(g.scores, e.scores, rtol=1e-5, atol=1e-5)
            crossing += sum(1 for s, t in zip(e.starts, e.ends) if s // 16 != (t - 1) // 16)
        assert crossing > 0 and sum(len(e) for e in expected) > 10
    # and through the component: chunking settings do not change the spans
    reference = spacy.blank("zh")
    reference.add_pipe(
        "globalpointer_ner",
        config={
            "max_span_length": max_span_length,
            "spans_per_token": 100.0,
            "model": {"head": head, "rope": rope},
        },
    )
    reference.get_pipe("globalpointer_ner").from_bytes(gp.to_bytes())
    for a, b in zip(nlp.pipe(texts), reference.pipe(texts)):
        assert [(s.start, s.end, s.label_) for s in a.spans["sc"]] == [
            (s.start, s.end, s.label_) for s in b.spans["sc"]
        ]
    assert lengths[0] > 4 * 16


def test_encoder_context_is_the_measured_receptive_field():
    """Change one token and see which vectors change: the farthest one is the
    layer's context, as encoder_context computes it from the layers."""
    from spacy_globalpointer.ml.windowed import encoder_context

    fix_random_seed(0)
    for embed, extra in (
        (
            {
                "@architectures": "spacy.MultiHashEmbed.v2",
                "width": 32,
                "attrs": ["NORM", "SHAPE"],
                "rows": [500, 50],
                "include_static_vectors": False,
            },
            0,
        ),
        (
            {
                "@architectures": "spacy_globalpointer.NgramHashEmbed.v1",
                "width": 32,
                "attrs": ["NORM"],
                "rows": [500],
                "ngram_sizes": [2, 3],
                "ngram_rows": [500, 500],
            },
            2,
        ),
    ):
        for depth, window in ((2, 1), (3, 2)):
            nlp = spacy.blank("zh")
            tok2vec = {
                "@architectures": "spacy.Tok2Vec.v2",
                "embed": embed,
                "encode": {
                    "@architectures": "spacy.MaxoutWindowEncoder.v2",
                    "width": 32,
                    "depth": depth,
                    "window_size": window,
                    "maxout_pieces": 2,
                },
            }
            gp = nlp.add_pipe("globalpointer_ner", config={"model": {"tok2vec": tok2vec}})
            gp.add_label("X")
            nlp.initialize()
            t2v = gp.model.get_ref("tok2vec")
            text = "今天天气很好我们一起去公园散步吧北京欢迎你上海交通大学"
            base = t2v.predict([nlp.make_doc(text)])[0]
            middle = len(text) // 2
            changed = t2v.predict([nlp.make_doc(text[:middle] + "龘" + text[middle + 1 :])])[0]
            reach = max(
                abs(i - middle) for i in range(len(text)) if not numpy.array_equal(base[i], changed[i])
            )
            assert reach == encoder_context(t2v) == depth * window + extra


def test_windowed_vectors_equal_one_pass():
    from helpers.toy import train_small
    from spacy_globalpointer.ml.windowed import WindowedVectors, encoder_context

    nlp = train_small(3)
    t2v = nlp.get_pipe("globalpointer_ner").model.get_ref("tok2vec")
    doc = nlp.make_doc(LONG * 4)
    whole = t2v.predict([doc])[0]
    windows = WindowedVectors(t2v, doc, 97, encoder_context(t2v))
    pieces = [windows.rows(lo, min(len(doc), lo + 130))[0] for lo in range(0, len(doc), 61)]
    for lo, piece in zip(range(0, len(doc), 61), pieces):
        numpy.testing.assert_array_equal(piece, whole[lo : lo + len(piece)])


def test_layers_of_unknown_context_are_not_windowed():
    from spacy_globalpointer.ml.windowed import encoder_context

    nlp = spacy.blank("zh")
    lstm = {
        "@architectures": "spacy.Tok2Vec.v2",
        "embed": {
            "@architectures": "spacy.MultiHashEmbed.v2",
            "width": 16,
            "attrs": ["NORM"],
            "rows": [100],
            "include_static_vectors": False,
        },
        "encode": {"@architectures": "spacy.TorchBiLSTMEncoder.v1", "width": 16, "depth": 1, "dropout": 0.0},
    }
    gp = nlp.add_pipe("globalpointer_ner", config={"model": {"tok2vec": lstm}})
    assert encoder_context(gp.model.get_ref("tok2vec")) is None
