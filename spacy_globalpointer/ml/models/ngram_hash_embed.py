"""Hashed embeddings of token attributes, of n-grams of neighbouring tokens,
and of the word a token is part of.

Chinese NER runs on one-character tokens, where spaCy's NORM, PREFIX and
SUFFIX are all the same character: ``spacy.MultiHashEmbed`` then sees one
feature per token. The character bigrams around a token (and trigrams) carry
part of what a word segmenter would add - 北京 / 京大 in 北京大学 - and are what
the Chinese NER literature pairs with character embeddings. A segmenter adds
the rest: which word of its dictionary a character belongs to, and where in
it (北京大学: 北 begins a four-character word).
"""

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union, cast

import numpy
from spacy.attrs import intify_attr
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import HashEmbed, Maxout, Model, chain, concatenate, list2ragged, ragged2list, with_array
from thinc.types import Floats2d, Ints2d

from spacy_globalpointer.ml.word_places import SEGMENTERS, WORD_PLACES_KEY, doc_word_places

# Stand-ins for the tokens before the first and after the last one: an n-gram
# at a doc's edge hashes differently from the same characters inside a doc.
_EDGE = numpy.uint64(0x9E3779B97F4A7C15)
_MIX = numpy.uint64(0x100000001B3)


@registry.architectures("spacy_globalpointer.NgramHashEmbed.v2")
def NgramHashEmbed(
    width: int,
    attrs: List[Union[str, int]],
    rows: List[int],
    ngram_attr: Union[str, int] = "NORM",
    ngram_sizes: List[int] = [2],
    ngram_rows: List[int] = [50000],
    words: Optional[str] = None,
    word_rows: int = 20000,
) -> Model[List[Doc], List[Floats2d]]:
    """Like spacy.MultiHashEmbed.v2, plus hashed n-grams of neighbouring tokens
    and, optionally, the word of a segmenter's dictionary each token is part of.

    width (int): output width, and the width of every embedding table.
    attrs (List[str]): token attributes embedded on their own, e.g. ["NORM", "SHAPE"].
    rows (List[int]): rows of each attribute's table.
    ngram_attr (str): the attribute whose values form the n-grams (NORM: the
        character itself for Chinese).
    ngram_sizes (List[int]): n-gram lengths, each at least 2. For each n, a
        token gets every n-gram that covers it (n of them: for bigrams, the
        one ending and the one starting at it), each from its own table.
    ngram_rows (List[int]): rows of each n's tables.
    words (Optional[str]): "jieba": segment doc.text with jieba's dictionary
        (no HMM: only dictionary words) and give each token two more
        features, the word it is part of and its place in it (begins / inside
        / ends / is the word, and the word's length). None: no word features.
    word_rows (int): rows of the word table (the place table has 64).

    The layer reads max(ngram_sizes) - 1 tokens on each side of a token; its
    ``attrs["context"]`` says so (see ml/windowed.py, windowed encoding, which hands
    word features the whole doc's segmentation).
    """
    if len(rows) != len(attrs):
        raise ValueError(
            f"[spacy_globalpointer.NgramHashEmbed] {len(attrs)} attrs but {len(rows)} rows; give one "
            "row count per attr."
        )
    if len(ngram_rows) != len(ngram_sizes):
        raise ValueError(
            f"[spacy_globalpointer.NgramHashEmbed] {len(ngram_sizes)} ngram_sizes but "
            f"{len(ngram_rows)} ngram_rows; "
            "give one row count per n-gram size."
        )
    if any(not isinstance(n, int) or n < 2 for n in ngram_sizes):
        raise ValueError(
            "[spacy_globalpointer.NgramHashEmbed] ngram_sizes must be integers of at least 2, got "
            f"{ngram_sizes}."
        )
    table_rows = list(rows) + [r for n, r in zip(ngram_sizes, ngram_rows) for _ in range(n)]
    features = ngram_features(attrs, ngram_attr, ngram_sizes)
    context = features.attrs["context"]
    if words is not None:
        features = concatenate(features, word_features(words))
        table_rows += [word_rows, 64]
    # Seeds as MultiHashEmbed numbers them (8, 9, ...): the attribute tables
    # are hashed the same way as there.
    embeddings: List[Model[Ints2d, Floats2d]] = [
        HashEmbed(width, r, column=i, seed=8 + i, dropout=0.0) for i, r in enumerate(table_rows)
    ]
    model = chain(
        features,
        list2ragged(),
        with_array(concatenate(*embeddings)),
        with_array(Maxout(width, width * len(embeddings), nP=3, dropout=0.0, normalize=True)),
        ragged2list(),
    )
    model.attrs["context"] = context
    return model


@registry.architectures("spacy_globalpointer.NgramHashEmbed.v1")
def NgramHashEmbed_v1(
    width: int,
    attrs: List[Union[str, int]],
    rows: List[int],
    ngram_attr: Union[str, int] = "NORM",
    ngram_sizes: List[int] = [2],
    ngram_rows: List[int] = [50000],
) -> Model[List[Doc], List[Floats2d]]:
    """NgramHashEmbed.v2 without word features (same settings, same layers)."""
    return NgramHashEmbed(
        width=width,
        attrs=attrs,
        rows=rows,
        ngram_attr=ngram_attr,
        ngram_sizes=ngram_sizes,
        ngram_rows=ngram_rows,
    )


def ngram_features(
    attrs: Sequence[Union[str, int]], ngram_attr: Union[str, int], ngram_sizes: Sequence[int]
) -> Model[List[Doc], List[Ints2d]]:
    """Per doc, a (tokens, columns) uint64 array: the attrs, then for each n
    the n n-grams covering the token, oldest first."""
    attr_ids = [intify_attr(a) for a in attrs]
    ngram_id = intify_attr(ngram_attr)
    if None in attr_ids or ngram_id is None:
        raise ValueError(
            f"[spacy_globalpointer.NgramHashEmbed] unknown token attribute in {list(attrs) + [ngram_attr]}."
        )
    return Model(
        "ngram_features",
        _features_forward,
        attrs={
            "attr_ids": attr_ids,
            "ngram_id": ngram_id,
            "ngram_sizes": list(ngram_sizes),
            "context": max(ngram_sizes, default=1) - 1,
        },
    )


def _features_forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[List[Ints2d], object]:
    attr_ids, ngram_id = model.attrs["attr_ids"], model.attrs["ngram_id"]
    sizes, pad = model.attrs["ngram_sizes"], model.attrs["context"]
    out = []
    for doc in docs:
        cols = [doc.to_array(attr_ids).reshape(len(doc), len(attr_ids)).astype("uint64")]
        keys = numpy.full(len(doc) + 2 * pad, _EDGE, dtype="uint64")
        keys[pad : pad + len(doc)] = doc.to_array([ngram_id]).reshape(-1)
        for n in sizes:
            for first in range(pad - n + 1, pad + 1):  # the n-gram's first token, relative to the token
                h = keys[first : first + len(doc)].copy()
                for k in range(1, n):
                    h = (h * _MIX) ^ keys[first + k : first + k + len(doc)]
                cols.append(h[:, None])
        # cast: thinc's array types do not take numpy's ndarray type, whose arrays they stand for.
        out.append(model.ops.asarray2i(cast(Ints2d, numpy.hstack(cols)), dtype="uint64"))
    return out, lambda d_out: []


def word_features(segmenter: str) -> Model[List[Doc], List[Ints2d]]:
    """Per doc, a (tokens, 2) uint64 array: the hash of the word the token's
    first character is part of, and a code of its place in that word (from
    ``doc.user_data[(WORD_PLACES_KEY, segmenter)]`` when set)."""
    if segmenter not in SEGMENTERS:
        raise ValueError(
            f"[spacy_globalpointer.NgramHashEmbed] words must be one of {sorted(SEGMENTERS)} or "
            f"null, got {segmenter!r}."
        )
    return Model("word_features", _words_forward, attrs={"segmenter": segmenter, "context": 0})


def _words_forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[List[Ints2d], Callable]:
    segmenter = model.attrs["segmenter"]
    out = []
    for doc in docs:
        # cast: spacy/tokens/doc.pyi types user_data's keys as str; spaCy's own keys are tuples too.
        places = cast(Dict[Any, Any], doc.user_data).get((WORD_PLACES_KEY, segmenter))
        if places is None:
            places = doc_word_places(doc, segmenter)
        # cast: thinc's array types do not take numpy's ndarray type, whose arrays they stand for.
        out.append(model.ops.asarray2i(cast(Ints2d, places), dtype="uint64"))
    return out, lambda d_out: []
