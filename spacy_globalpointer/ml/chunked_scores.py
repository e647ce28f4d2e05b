"""A batch's scores at prediction, computed when read: the prediction output
of spacy_globalpointer.GlobalPointer.v1-v3, in chunks of start positions, so
a long doc is never held whole - neither its scores nor (for a token-vector
layer of finite context) its encoder activations."""

from typing import Callable, Iterator, List, Tuple, Union

from spacy.tokens import Doc
from thinc.api import Model
from thinc.types import Floats3d, Floats4d

from spacy_globalpointer.ml.head_layer import HeadInput
from spacy_globalpointer.ml.padding import pad
from spacy_globalpointer.ml.pytorch.band import band_width
from spacy_globalpointer.ml.windowed import WindowedVectors, encoder_context

# (offset of the first start, scores for starts offset, offset + 1, ...).
OffsetScores = Tuple[int, Floats4d]


class ChunkedScores:
    """A batch's scores at prediction, computed when iterated: ``(offset,
    scores)`` pairs, ``scores`` of shape (B, C, t, W) for the spans starting at
    tokens ``offset..offset + t - 1``. Docs of up to ``chunk_size`` tokens
    come in one chunk. Only one chunk, and for a long doc only the encoder
    window it needs, is held at a time."""

    def __init__(self, model: Model, docs: List[Doc], chunk_size: int, encoder_window: int):
        self.model = model
        self.docs = docs
        self.lengths = [len(doc) for doc in docs]
        self.chunk_size = chunk_size
        self.encoder_window = encoder_window
        L = max(self.lengths, default=0)
        self.width = band_width(L, model.attrs["max_span_length"])

    def __iter__(self) -> Iterator[OffsetScores]:
        tok2vec, scorer = self.model.layers
        L, W, T = max(self.lengths, default=0), self.width, self.chunk_size
        if L == 0:
            return
        context = encoder_context(tok2vec)
        if len(self.docs) == 1 and L > self.encoder_window and context is not None:
            vectors: Callable[[int, int], Floats3d] = WindowedVectors(
                tok2vec, self.docs[0], self.encoder_window, context
            ).rows
        else:
            padded = pad(scorer.ops, tok2vec.predict(self.docs), scorer.get_dim("nI"))
            vectors = lambda lo, hi: padded[:, lo:hi]  # noqa: E731
        for s in range(0, L, T):
            t = min(T, L - s)
            rows = vectors(s, min(L, s + t + W - 1))
            yield s, scorer.predict(HeadInput(rows, self.lengths, W, offset=s, n_starts=t))


# What the span models (GlobalPointer.v1-v3) return: in training, the batch's (B, C, L, W) band scores
# (the loss needs them all); at prediction, ChunkedScores (decoding reads them a chunk at a time).
SpanScores = Union[Floats4d, ChunkedScores]
