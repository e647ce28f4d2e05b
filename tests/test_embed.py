"""NgramHashEmbed's word features (jieba) and their windowed encoding."""

import numpy
import pytest
import spacy
from spacy.strings import hash_string
from thinc.api import fix_random_seed

from helpers.toy import TRAIN_DATA


def word_tok2vec(words="jieba"):
    return {
        "@architectures": "spacy.Tok2Vec.v2",
        "embed": {
            "@architectures": "spacy_globalpointer.NgramHashEmbed.v2",
            "width": 32,
            "attrs": ["NORM"],
            "rows": [500],
            "ngram_sizes": [2],
            "ngram_rows": [500],
            "words": words,
            "word_rows": 500,
        },
        "encode": {
            "@architectures": "spacy.MaxoutWindowEncoder.v2",
            "width": 32,
            "depth": 2,
            "window_size": 1,
            "maxout_pieces": 2,
        },
    }


def test_word_places_by_hand():
    """北京大学|的|学生, one token per character, and one token spanning a word."""
    from spacy_globalpointer.ml.word_places import word_places

    words = ["北京大学", "的", "学生"]
    got = word_places(words, numpy.arange(7), numpy.ones(7, dtype="int64"))
    h = [hash_string(w) for w in words]
    begins, inside, ends, whole = 16, 0, 32, 48
    expected = [
        (h[0], begins + 4),
        (h[0], inside + 4),
        (h[0], inside + 4),
        (h[0], ends + 4),
        (h[1], whole + 1),
        (h[2], begins + 2),
        (h[2], ends + 2),
    ]
    assert got.tolist() == [list(map(int, row)) for row in expected]
    # tokens of several characters: 北京 | 大学的 | 学生
    got = word_places(words, numpy.array([0, 2, 5]), numpy.array([2, 3, 2]))
    assert got.tolist() == [[h[0], begins + 4], [h[0], ends + 4], [h[2], whole + 2]]


def test_word_features_follow_jiebas_own_segmentation():
    """Read the words back from the features (a word starts where a token
    begins one) and compare them, and the hashes, with jieba's cut."""
    import jieba

    from spacy_globalpointer.ml.models.ngram_hash_embed import word_features

    global_was_initialized = jieba.dt.initialized
    nlp = spacy.blank("zh")
    text = "".join(t for t, _ in TRAIN_DATA) + "，浙商银行企业信贷部 abc 12 叶老桂博士。"
    doc = nlp.make_doc(text)
    features = word_features("jieba")
    features.initialize()
    (got,) = features.predict([doc])
    starts = [t.idx for t, (_, place) in zip(doc, got.tolist()) if place & 16] + [len(text)]
    words = [text[a:b] for a, b in zip(starts[:-1], starts[1:])]
    expected = list(jieba.Tokenizer().cut(text, HMM=False))
    assert [w.strip() for w in words] == [w for w in expected if w.strip()]
    # each character's word, with its start and end, straight from the cut
    spans = [(w, a, a + len(w)) for w, a in zip(expected, numpy.cumsum([0] + [len(w) for w in expected]))]
    word_of_char = [span for span in spans for _ in span[0]]
    assert got[:, 0].tolist() == [hash_string(word_of_char[t.idx][0]) for t in doc]
    assert got[:, 1].tolist() == [
        16 * (t.idx == a) + 32 * (t.idx + len(t) >= b) + min(b - a, 15)
        for t in doc
        for _, a, b in [word_of_char[t.idx]]
    ]
    assert jieba.dt.initialized == global_was_initialized  # jieba's own tokenizer untouched


@pytest.mark.parametrize("text", ["", " ", "北京  大学", "北京\r\n大学 ", "a"])
def test_word_features_of_edge_texts(text):
    from spacy_globalpointer.ml.models.ngram_hash_embed import word_features

    doc = spacy.blank("zh").make_doc(text)
    features = word_features("jieba")
    features.initialize()
    (got,) = features.predict([doc])
    assert got.shape == (len(doc), 2) and got.dtype == numpy.uint64
    # every token belongs to a word that holds its first character
    for token, (h, _) in zip(doc, got.tolist()):
        assert any(h == hash_string(w) and token.text[0] in w for w in doc.text.split() + [token.text])


def test_unknown_segmenter_is_named():
    nlp = spacy.blank("zh")
    with pytest.raises(ValueError, match="pkuseg"):
        nlp.add_pipe("globalpointer_ner", config={"model": {"tok2vec": word_tok2vec("pkuseg")}})


def test_long_doc_in_windows_equals_one_pass_with_word_features(monkeypatch):
    """A 960-character run of Han characters without punctuation (jieba's
    best path spans the whole run), sentences in a random order, encoded in
    windows of 97 tokens: equal to one pass, because the windows get the
    doc's segmentation; segmenting each window's own text instead changes
    vectors near the window edges."""
    import random

    from spacy_globalpointer.ml import windowed as windowed_module
    from spacy_globalpointer.ml.windowed import WindowedVectors, encoder_context

    fix_random_seed(0)
    nlp = spacy.blank("zh")
    gp = nlp.add_pipe("globalpointer_ner", config={"model": {"tok2vec": word_tok2vec()}})
    gp.add_label("X")
    nlp.initialize()
    t2v = gp.model.get_ref("tok2vec")
    context = encoder_context(t2v)
    assert context == 2 * 1 + 1  # the CNN and the bigrams; word features read no context
    sentences = [t for t, _ in TRAIN_DATA] * 12
    random.Random(0).shuffle(sentences)
    doc = nlp.make_doc("".join(sentences))
    whole = t2v.predict([doc])[0]

    def windowed():
        windows = WindowedVectors(t2v, doc, 97, context)
        return numpy.concatenate(
            [windows.rows(lo, min(len(doc), lo + 97))[0] for lo in range(0, len(doc), 97)]
        )

    numpy.testing.assert_array_equal(windowed(), whole)
    monkeypatch.setattr(windowed_module, "doc_word_places", lambda doc, seg: _Unset())
    assert not numpy.array_equal(windowed(), whole)


class _Unset:
    """Slices to None: the windows then segment their own text."""

    def __getitem__(self, item):
        return None
