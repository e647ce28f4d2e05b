"""NgramHashEmbed's word features (jieba) and their windowed encoding."""

import numpy
import pytest
import spacy
from spacy.strings import hash_string
from thinc.api import fix_random_seed

from .util import TRAIN_DATA


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
    from spacy_globalpointer.embed import word_places

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
    begins one) and compare with jieba's cut of the text."""
    import jieba

    from spacy_globalpointer.embed import word_features

    nlp = spacy.blank("zh")
    text = "".join(t for t, _ in TRAIN_DATA) + "，浙商银行企业信贷部 abc 12 叶老桂博士。"
    doc = nlp.make_doc(text)
    features = word_features("jieba")
    features.initialize()
    (got,) = features.predict([doc])
    words, current = [], ""
    for token, (_, place) in zip(doc, got.tolist()):
        if place & 16 and current:
            words.append(current)
            current = ""
        current += token.text_with_ws
    words.append(current)
    expected = [w for w in jieba.Tokenizer().cut(text, HMM=False)]
    assert "".join(words) == text
    assert [w.strip() for w in words] == [w for w in expected if w.strip()]
    assert [int(x) for x in got[:, 0]] == [
        hash_string(w.strip()) for w in words for t in nlp.make_doc(w) if not t.is_space
    ]


def test_unknown_segmenter_is_named():
    nlp = spacy.blank("zh")
    with pytest.raises(ValueError, match="pkuseg"):
        nlp.add_pipe("globalpointer_ner", config={"model": {"tok2vec": word_tok2vec("pkuseg")}})


def test_long_doc_in_windows_equals_one_pass_with_word_features():
    """A 960-character run of Han characters without punctuation (jieba's
    best path spans the whole run) encoded in windows of 97 tokens, each
    with encoder_context tokens on either side."""
    from spacy_globalpointer.embed import WORD_CONTEXT
    from spacy_globalpointer.model import WindowedVectors, encoder_context

    fix_random_seed(0)
    nlp = spacy.blank("zh")
    gp = nlp.add_pipe("globalpointer_ner", config={"model": {"tok2vec": word_tok2vec()}})
    gp.add_label("X")
    nlp.initialize()
    t2v = gp.model.get_ref("tok2vec")
    context = encoder_context(t2v)
    assert context == 2 * 1 + 1 + WORD_CONTEXT
    doc = nlp.make_doc("".join(t for t, _ in TRAIN_DATA) * 12)
    whole = t2v.predict([doc])[0]
    windows = WindowedVectors(t2v, doc, 97, context)
    for lo in range(0, len(doc), 61):
        piece = windows.rows(lo, min(len(doc), lo + 130))[0]
        numpy.testing.assert_array_equal(piece, whole[lo : lo + len(piece)])
