"""Band-layout scores -> spans, and the non-overlapping selection for doc.ents.

Scores arrive whole ((B, C, L, W), from any model) or in chunks of start
positions (a long doc scored piece by piece); decoding keeps only the cells
above the threshold, at most ``max_spans`` per doc, and never holds more than
one chunk's scores. Everything here is linear in the number of cells: no sort
over all cells of a doc.
"""

import math
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple, Union, cast

import numpy
from thinc.api import get_array_module, torch2xp, xp2torch
from thinc.types import Floats4d
from thinc.util import to_numpy

from spacy_globalpointer.ml.chunked_scores import OffsetScores
from spacy_globalpointer.ml.pytorch.band import valid_cells


@dataclass
class SpanCandidates:
    """Spans of one doc above the threshold, highest score first (ties: the
    first in (label, start, end) order). ``ends`` are exclusive token
    indices, like spaCy's Span.end."""

    starts: numpy.ndarray
    ends: numpy.ndarray
    labels: numpy.ndarray
    scores: numpy.ndarray

    def __len__(self) -> int:
        return len(self.starts)

    @classmethod
    def empty(cls) -> "SpanCandidates":
        none = numpy.zeros(0, dtype="int64")
        return cls(none, none, none, numpy.zeros(0, dtype="float32"))


def max_spans(n_tokens: int, spans_per_token: float) -> int:
    """How many spans a doc of n_tokens keeps at most."""
    return max(1, math.ceil(n_tokens * spans_per_token))


def decode_spans(
    scores: Union[Floats4d, Iterable[OffsetScores]],
    lengths: Sequence[int],
    threshold: Union[float, Sequence[float]],
    spans_per_token: float,
    max_span_length: Optional[int] = None,
) -> List[SpanCandidates]:
    """All spans scoring above ``threshold`` (one value, or one per label),
    per doc, at most ``max_spans(len, spans_per_token)`` of them (the best),
    of at most ``max_span_length`` tokens (None: any).

    ``scores``: a (B, C, L, W) array, or chunks of it along L as
    ``(offset, array)`` pairs in any order. Works in the scores' own array
    module; only the cells above the threshold leave the device.
    """
    decoder = SpanDecoder(lengths, threshold, spans_per_token)
    # A whole array is told from chunks by its shape (Floats4d is no class an array is an instance of).
    chunks = (
        [(0, cast(Floats4d, scores))] if hasattr(scores, "shape") else cast(Iterable[OffsetScores], scores)
    )
    for offset, chunk in chunks:
        # A model may score wider spans than asked for (every span, say).
        decoder.add(offset, chunk[:, :, :, :max_span_length] if max_span_length else chunk)
    return decoder.result()


class SpanDecoder:
    """Collects the spans above the threshold from chunks of scores; keeps at
    most twice each doc's cap between chunks, so memory is bounded by the
    caps and one chunk, and time is linear in the cells seen."""

    def __init__(
        self, lengths: Sequence[int], threshold: Union[float, Sequence[float]], spans_per_token: float
    ):
        self.lengths = numpy.asarray(list(lengths), dtype="int64")
        self.caps = numpy.asarray(
            [max_spans(n, spans_per_token) if n else 0 for n in self.lengths], dtype="int64"
        )
        self.threshold = threshold
        self.counts = numpy.zeros(len(self.lengths), dtype="int64")
        # Per kept cell: doc, label, start, width - 1, score.
        self._parts: List[Tuple[numpy.ndarray, ...]] = []

    def add(self, offset: int, scores: Floats4d) -> None:
        """Take the cells of ``scores`` (B, C, t, W), starts offset..offset + t - 1."""
        B, C, t, W = scores.shape
        if B == 0 or t == 0 or W == 0 or not self.caps.any():
            return
        xp = get_array_module(scores)
        above = scores > self._thresholds(xp, C)
        if int(xp.count_nonzero(above)) > int(self.caps.sum()):
            # Many cells above the threshold (an untrained model puts half of
            # them there): first the best cap cells of each doc, in linear time.
            above &= _top_cells(xp, scores, self.lengths, self.caps, offset)
        # Flat indices, then unravel: nonzero on the 4-d mask is much slower.
        b, c, i, w = xp.unravel_index(xp.flatnonzero(above), above.shape)
        inside = offset + i + w < xp.asarray(self.lengths)[b]
        b, c, i, w = b[inside], c[inside], i[inside], w[inside]
        s = scores[b, c, i, w].astype("float32")
        part = tuple(to_numpy(a) for a in (b, c, i + offset, w, s))
        self._parts.append(part)
        self.counts += numpy.bincount(part[0], minlength=len(self.counts))
        if (self.counts > 2 * self.caps).any():
            self._prune()

    def result(self) -> List[SpanCandidates]:
        """Per doc, the kept spans, best first."""
        self._prune()
        b, c, i, w, s = self._merged()
        # By doc, then best first; ties by (label, start, end).
        order = numpy.lexsort((w, i, c, -s, b))
        b, c, i, w, s = (a[order] for a in (b, c, i, w, s))
        bounds = numpy.searchsorted(b, numpy.arange(len(self.lengths) + 1))
        return [
            SpanCandidates(i[lo:hi], i[lo:hi] + w[lo:hi] + 1, c[lo:hi], s[lo:hi])
            for lo, hi in zip(bounds[:-1], bounds[1:])
        ]

    def _thresholds(self, xp, C: int):
        if numpy.ndim(self.threshold) == 0:
            return self.threshold
        assert not isinstance(self.threshold, float)  # a number has ndim 0
        if len(self.threshold) != C:
            raise ValueError(f"{len(self.threshold)} thresholds for scores of {C} labels.")
        return xp.asarray(self.threshold, dtype="float32").reshape(1, C, 1, 1)

    def _merged(self) -> Tuple[numpy.ndarray, ...]:
        if not self._parts:
            empty = numpy.zeros(0, dtype="int64")
            return empty, empty, empty, empty, numpy.zeros(0, dtype="float32")
        cols = [numpy.concatenate([p[k] for p in self._parts]) for k in range(5)]
        return tuple(col.astype("float32" if k == 4 else "int64") for k, col in enumerate(cols))

    def _prune(self) -> None:
        """Keep the best cap cells of every doc that has more."""
        if not (self.counts > self.caps).any():
            return
        b, c, i, w, s = self._merged()
        keep = numpy.ones(len(b), dtype=bool)
        for doc in numpy.flatnonzero(self.counts > self.caps):
            rows = numpy.flatnonzero(b == doc)
            keep[rows] = False
            keep[rows[_best(s[rows], c[rows], i[rows], w[rows], int(self.caps[doc]))]] = True
        self._parts = [tuple(a[keep] for a in (b, c, i, w, s))]
        self.counts = numpy.bincount(b[keep], minlength=len(self.counts))


def _best(s, c, i, w, k: int) -> numpy.ndarray:
    """Indices of the k best cells by score, ties to the first in (label,
    start, end) order; linear time (only the tied cells at the cut are sorted)."""
    if len(s) <= k:
        return numpy.arange(len(s))
    cut = numpy.partition(-s, k - 1)[k - 1]
    better = numpy.flatnonzero(-s < cut)
    tied = numpy.flatnonzero(-s == cut)
    tied = tied[numpy.lexsort((w[tied], i[tied], c[tied]))][: k - len(better)]
    return numpy.concatenate([better, tied])


def _top_cells(xp, scores, lengths, caps, offset: int):
    """(B, C, t, W) bool: per doc, the cells inside the doc that score at
    least its cap-th best (ties kept: the exact cut is made on the host).
    Linear in the cells: a partition, then a sort of the K best only."""
    B, C, t, W = scores.shape
    valid = torch2xp(valid_cells(xp2torch(xp.asarray(lengths)), t, W, offset))
    # thinc's array types leave None (numpy's newaxis) out of the index types they take.
    inside = valid[:, None]  # type: ignore[index,call-overload]
    neg = xp.where(inside, -scores, xp.inf).reshape(B, -1)
    K = min(int(caps.max()), neg.shape[1])
    best = xp.sort(xp.partition(neg, K - 1, axis=1)[:, :K], axis=1)
    cut = xp.take_along_axis(best, xp.asarray(numpy.minimum(caps, K) - 1).clip(0)[:, None], axis=1)
    cut = xp.where(xp.asarray(caps)[:, None] > 0, cut, -xp.inf)
    return (neg <= cut).reshape(scores.shape)


def select_flat(
    starts: numpy.ndarray, ends: numpy.ndarray, scores: numpy.ndarray, taken: Optional[bytearray] = None
) -> numpy.ndarray:
    """Indices of a non-overlapping subset, chosen greedily: highest score
    first (ties: earlier start, then shorter), each span kept unless it
    overlaps one already kept or a token marked in ``taken`` (entities set
    before this component ran)."""
    order = numpy.lexsort((ends, starts, -scores))
    # bytearray.find scans a span's cells in C: this loop runs once per
    # candidate, up to spans_per_token x the doc's length of them.
    size = int(ends.max()) if len(ends) else 0
    taken = (
        bytearray(taken[:size]) + bytearray(max(0, size - len(taken)))
        if taken is not None
        else bytearray(size)
    )
    starts_l, ends_l = starts.tolist(), ends.tolist()
    chosen = []
    for k in order.tolist():
        s, e = starts_l[k], ends_l[k]
        if taken.find(1, s, e) == -1:
            taken[s:e] = b"\x01" * (e - s)
            chosen.append(k)
    return numpy.asarray(chosen, dtype="int64")
