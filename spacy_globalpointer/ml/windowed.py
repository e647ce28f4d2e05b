"""Encoding a long doc in windows: with a token-vector layer whose vectors
each depend on a fixed window of tokens, a doc can be encoded piece by piece
(each piece with the layer's context on both sides) and the vectors are those
of one pass over the whole doc."""

from typing import Any, Dict, List, Optional, cast

from spacy.attrs import (
    IS_ALPHA,
    IS_DIGIT,
    IS_PUNCT,
    IS_SPACE,
    IS_UPPER,
    LENGTH,
    LOWER,
    NORM,
    ORTH,
    PREFIX,
    SHAPE,
    SUFFIX,
    intify_attr,
)
from spacy.tokens import Doc
from thinc.api import Model
from thinc.types import Floats2d, Floats3d, Ints2d

from spacy_globalpointer.ml.word_places import WORD_PLACES_KEY, doc_word_places

# Leaf layers that compute each token's vector from a fixed window of tokens
# around it (expand_window and ngram_features say how wide; word_features get
# the whole doc's segmentation from WindowedVectors): a doc can then be encoded
# in overlapping windows. Anything else (an LSTM, a listener, a
# transformer) is encoded whole.
WINDOWED_LEAVES = {
    "dropout",
    "expand_window",
    "extract_features",
    "hashembed",
    "ints-getitem",
    "layernorm",
    "linear",
    "list2ragged",
    "maxout",
    "mish",
    "ngram_features",
    "ragged2list",
    "relu",
    "remap_ids",
    "static_vectors",
    "word_features",
}


# What a window rebuilt from the doc's words (and token norms) carries.
WINDOW_ATTRS = {
    ORTH,
    LOWER,
    NORM,
    SHAPE,
    PREFIX,
    SUFFIX,
    LENGTH,
    IS_ALPHA,
    IS_DIGIT,
    IS_PUNCT,
    IS_SPACE,
    IS_UPPER,
}


def encoder_context(tok2vec: Model) -> Optional[int]:
    """Tokens on each side that can change a token's vector: an upper bound
    (the sum over every windowed layer), or None when a layer's context is
    unknown or unbounded, or when it reads a token attribute that a window
    rebuilt from words and norms would not have (a tag, a lemma, ...)."""
    context = 0
    for node in tok2vec.walk():
        if node.layers:
            continue  # combinators route; their leaves compute
        if node.name not in WINDOWED_LEAVES:
            return None
        read = list(node.attrs.get("columns", [])) + list(node.attrs.get("attr_ids", []))
        read += [node.attrs["ngram_id"]] if "ngram_id" in node.attrs else []
        if any(intify_attr(attr) not in WINDOW_ATTRS for attr in read):
            return None
        context += int(node.attrs.get("window_size", 0)) + int(node.attrs.get("context", 0))
    return context


class WindowedVectors:
    """One long doc's vectors, encoded window by window on demand. Each window
    is encoded with ``context`` tokens of the doc on each side, so its vectors
    equal those of one pass over the whole doc."""

    def __init__(self, tok2vec: Model, doc: Doc, window: int, context: int):
        self.tok2vec, self.doc, self.window, self.context = tok2vec, doc, window, context
        # Token-level norms (a component may have set them); the rest of what
        # an encoder reads is lexical, and comes with the words.
        # cast: spacy/tokens/doc.pyi types to_array's result as floats; they are uint64 ids.
        self.norms = cast(Ints2d, doc.to_array([NORM]))
        # Word features: the whole doc segmented once (a segmenter's path can
        # depend on text far away), each window given its slice.
        segmenters = {node.attrs["segmenter"] for node in tok2vec.walk() if node.name == "word_features"}
        self.word_places = {seg: doc_word_places(doc, seg) for seg in sorted(segmenters)}
        self.start = 0  # first token held
        self.held: List[Floats2d] = []

    def rows(self, lo: int, hi: int) -> Floats3d:
        """(1, hi - lo, width) vectors of tokens lo..hi - 1; lo never decreases."""
        while self.start + self.window <= lo and self.held:
            self.held.pop(0)
            self.start += self.window
        while self.start + len(self.held) * self.window < hi:
            self.held.append(self._encode(self.start + len(self.held) * self.window))
        xp = self.tok2vec.ops.xp
        joined = self.held[0] if len(self.held) == 1 else xp.concatenate(self.held)
        # thinc's array types leave None (numpy's newaxis) out of the index types they take (so the
        # result has no type either).
        return joined[None, lo - self.start : hi - self.start]  # type: ignore[index,return-value]

    def _encode(self, a: int) -> Floats2d:
        b = min(len(self.doc), a + self.window)
        lo, hi = max(0, a - self.context), min(len(self.doc), b + self.context)
        span = self.doc[lo:hi]
        sub = Doc(self.doc.vocab, words=[t.text for t in span], spaces=[bool(t.whitespace_) for t in span])
        sub.from_array([NORM], self.norms[lo:hi])
        for segmenter, places in self.word_places.items():
            # cast: spacy/tokens/doc.pyi types user_data's keys as str; spaCy's own keys are tuples too.
            cast(Dict[Any, Any], sub.user_data)[(WORD_PLACES_KEY, segmenter)] = places[lo:hi]
        return self.tok2vec.predict([sub])[0][a - lo : b - lo]
