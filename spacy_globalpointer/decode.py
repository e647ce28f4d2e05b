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
    ``max_spans(len, spans_per_token)`` of them (the best). Works on the whole
    batch in the scores' own array module; only the kept spans leave the device."""
    xp = get_array_module(scores)
    B, C, L, W = scores.shape
    hit = (scores > threshold) & valid_cells(xp, lengths, L, W)[:, None]
    b, c, i, w = xp.nonzero(hit)
    s = scores[b, c, i, w].astype("float32")
    # Highest score first within each doc; ties keep (label, start, end) order.
    order = xp.lexsort(xp.stack([-s, b]))
    b, c, i, w, s = b[order], c[order], i[order], w[order], s[order]
    doc_start = xp.searchsorted(b, xp.arange(B))
    rank = xp.arange(len(b)) - doc_start[b]
    caps = xp.asarray([max_spans(n, spans_per_token) for n in lengths], dtype="int64")
    keep = rank < caps[b]
    b, c, i, w, s = (to_numpy(a[keep]) for a in (b, c, i, w, s))
    bounds = numpy.searchsorted(b, numpy.arange(B + 1))
    return [
        SpanCandidates(
            starts=i[lo:hi].astype("int64"),
            ends=(i[lo:hi] + w[lo:hi] + 1).astype("int64"),
            labels=c[lo:hi].astype("int64"),
            scores=s[lo:hi],
        )
        for lo, hi in zip(bounds[:-1], bounds[1:])
    ]


def select_flat(starts: numpy.ndarray, ends: numpy.ndarray, scores: numpy.ndarray) -> numpy.ndarray:
    """Indices of a non-overlapping subset, chosen greedily: highest score
    first (ties: earlier start, then shorter), each span kept unless it
    overlaps one already kept."""
    order = numpy.lexsort((ends, starts, -scores))
    taken = numpy.zeros(int(ends.max()) if len(ends) else 0, dtype=bool)
    chosen = []
    for k in order:
        if not taken[starts[k] : ends[k]].any():
            taken[starts[k] : ends[k]] = True
            chosen.append(k)
    return numpy.asarray(chosen, dtype="int64")
