"""Band-layout scores -> spans, and the non-overlapping selection for doc.ents."""
import math
from dataclasses import dataclass
from typing import List, Sequence

import numpy
from thinc.api import get_array_module
from thinc.util import to_numpy
from thinc.types import Floats4d


@dataclass
class SpanCandidates:
    """Spans of one doc above the threshold, highest score first.
    ``ends`` are exclusive token indices, like spaCy's Span.end."""

    starts: numpy.ndarray
    ends: numpy.ndarray
    labels: numpy.ndarray
    scores: numpy.ndarray

    def __len__(self) -> int:
        return len(self.starts)


def valid_cells(xp, lengths: Sequence[int], L: int, W: int):
    """(B, L, W) bool: the band cell (i, w) is the span i..i+w inside the doc."""
    ends = xp.arange(L)[:, None] + xp.arange(W)[None, :]
    return ends[None] < xp.asarray(list(lengths), dtype="int64")[:, None, None]


def max_spans(n_tokens: int, spans_per_token: float) -> int:
    """How many spans a doc of n_tokens keeps at most."""
    return max(1, math.ceil(n_tokens * spans_per_token))


def decode_spans(scores: Floats4d, lengths: Sequence[int], threshold: float, spans_per_token: float) -> List[SpanCandidates]:
    """All spans scoring above ``threshold``, per doc, at most
    ``max_spans(len, spans_per_token)`` of them (the best; ties go to the
    first cell in (label, start, end) order). Works on the whole batch in the
    scores' own array module; only the kept spans leave the device."""
    xp = get_array_module(scores)
    B, C, L, W = scores.shape
    caps = xp.asarray([max_spans(n, spans_per_token) if n else 0 for n in lengths], dtype="int64")
    K = min(int(caps.max()) if B else 0, C * L * W)
    if K == 0:
        empty = numpy.zeros(0, dtype="int64")
        return [SpanCandidates(empty, empty, empty, numpy.zeros(0, dtype="float32")) for _ in range(B)]
    above = scores > threshold
    if int(xp.count_nonzero(above)) <= int(caps.sum()):
        # A trained model: few cells above the threshold. Check just those
        # against the doc lengths; if no doc has more than its cap, keep all.
        # Flat indices, then unravel: nonzero on the 4-d mask is ~10x slower.
        b, c, i, w = xp.unravel_index(xp.flatnonzero(above), above.shape)
        inside = i + w < xp.asarray(list(lengths), dtype="int64")[b]
        b, c, i, w = b[inside], c[inside], i[inside], w[inside]
        if bool((xp.bincount(b, minlength=B) <= caps).all()):
            s = scores[b, c, i, w].astype("float32")
            order = xp.lexsort(xp.stack([-s, b]))  # by doc, then best first; stable for ties
            b, c, i, w, s = (to_numpy(a[order]) for a in (b, c, i, w, s))
            return _split(b, i, i + w + 1, c, s, B)
    valid = valid_cells(xp, lengths, L, W)[:, None]
    flat = xp.where(valid, scores, -xp.inf).reshape(B, -1)
    # The K best cells of each doc in linear time: an untrained model puts
    # half of all cells above 0.
    if K < flat.shape[1]:
        top = xp.sort(xp.argpartition(-flat, K - 1, axis=1)[:, :K], axis=1)
    else:
        top = xp.broadcast_to(xp.arange(flat.shape[1]), flat.shape)
    vals = xp.take_along_axis(flat, top, axis=1)
    order = xp.argsort(-vals, axis=1, kind="stable")
    top, vals = xp.take_along_axis(top, order, axis=1), xp.take_along_axis(vals, order, axis=1)
    keep = (vals > threshold) & (xp.arange(K)[None, :] < caps[:, None])
    b, r = xp.nonzero(keep)
    cell, s = to_numpy(top[b, r]), to_numpy(vals[b, r]).astype("float32")
    c, i, w = cell // (L * W), (cell // W) % L, cell % W
    return _split(to_numpy(b), i, i + w + 1, c, s, B)


def _split(b, starts, ends, labels, scores, B: int) -> List[SpanCandidates]:
    """Per-doc candidates from flat arrays sorted by doc."""
    bounds = numpy.searchsorted(b, numpy.arange(B + 1))
    return [
        SpanCandidates(starts[lo:hi].astype("int64"), ends[lo:hi].astype("int64"), labels[lo:hi].astype("int64"), scores[lo:hi].astype("float32"))
        for lo, hi in zip(bounds[:-1], bounds[1:])
    ]


def select_flat(starts: numpy.ndarray, ends: numpy.ndarray, scores: numpy.ndarray) -> numpy.ndarray:
    """Indices of a non-overlapping subset, chosen greedily: highest score
    first (ties: earlier start, then shorter), each span kept unless it
    overlaps one already kept."""
    order = numpy.lexsort((ends, starts, -scores))
    # bytearray.find scans a span's cells in C: this loop runs once per
    # candidate, up to spans_per_token x the doc's length of them.
    taken = bytearray(int(ends.max()) if len(ends) else 0)
    starts_l, ends_l = starts.tolist(), ends.tolist()
    chosen = []
    for k in order.tolist():
        s, e = starts_l[k], ends_l[k]
        if taken.find(1, s, e) == -1:
            taken[s:e] = b"\x01" * (e - s)
            chosen.append(k)
    return numpy.asarray(chosen, dtype="int64")
