"""Candidate pairs: which ordered pairs of a batch's entities the relation
component scores at prediction (and, for RelationPointer.v1, nothing else):
two distinct entities whose starts, and whose ends, are at most
``max_distance`` tokens apart. Vectorized over the docs of a batch that hold
few entities; a window over a doc of many, O(entities x entities within
reach), not O(entities**2)."""

from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy
from spacy.tokens import Span

# Up to this many candidate entities, a doc's pairs are found by testing every pair.
FEW_SPANS = 24


def entity_pairs(spans: Sequence[Span], max_distance: int) -> List[Tuple[int, int]]:
    """(i, j) indices of ordered pairs of distinct spans whose starts, and
    whose ends, are at most ``max_distance`` tokens apart: the pairs the
    relation component scores, in (i, j) order."""
    bounds = numpy.asarray([(s.start, s.end) for s in spans], dtype="int64").reshape(-1, 2)
    _, a, b = candidate_pairs(numpy.asarray([len(spans)]), bounds, max_distance)
    return list(zip(a.tolist(), b.tolist()))


def candidate_pairs(
    counts: numpy.ndarray, bounds: numpy.ndarray, max_distance: int
) -> Tuple[numpy.ndarray, ...]:
    """Every doc's candidate pairs, as (doc, i, j) arrays in (doc, i, j)
    order, i and j indexing the doc's spans: ``bounds`` (N, 2) holds the
    (start, end) of all docs' spans end to end, ``counts`` how many each doc
    has. A doc of few spans tests every pair (all such docs at once); one of
    many, a window over its spans sorted by start, O(spans x spans within
    reach), not O(spans**2)."""
    first = numpy.cumsum(counts) - counts
    few = counts <= FEW_SPANS
    squares = numpy.where(few, counts**2, 0)
    doc = numpy.repeat(numpy.arange(len(counts)), squares)
    place = numpy.arange(len(doc)) - numpy.repeat(numpy.cumsum(squares) - squares, squares)
    n = counts[doc]
    a, b = place // numpy.maximum(n, 1), place % numpy.maximum(n, 1)
    ga, gb = first[doc] + a, first[doc] + b
    near = numpy.abs(bounds[ga] - bounds[gb]).max(axis=1, initial=0) <= max_distance
    keep = (a != b) & near
    parts = [(doc[keep], a[keep], b[keep])]
    for k in numpy.flatnonzero(~few).tolist():
        found = window_pairs(bounds[first[k] : first[k] + counts[k]], max_distance)
        parts.append((numpy.full(len(found), k), found[:, 0], found[:, 1]))
    docs, firsts, seconds = (numpy.concatenate([part[m] for part in parts]).astype("int64") for m in range(3))
    order = numpy.argsort(docs, kind="stable")
    return docs[order], firsts[order], seconds[order]


def window_pairs(bounds: numpy.ndarray, max_distance: int) -> numpy.ndarray:
    starts, ends = bounds[:, 0].tolist(), bounds[:, 1].tolist()
    order = sorted(range(len(starts)), key=lambda k: starts[k])
    sorted_starts = [starts[k] for k in order]
    out = []
    lo = 0
    for a_pos, a in enumerate(order):
        while sorted_starts[lo] < sorted_starts[a_pos] - max_distance:
            lo += 1
        b_pos = lo
        while b_pos < len(order) and sorted_starts[b_pos] <= sorted_starts[a_pos] + max_distance:
            b = order[b_pos]
            if b != a and abs(ends[a] - ends[b]) <= max_distance:
                out.append((a, b))
            b_pos += 1
    return numpy.asarray(sorted(out), dtype="int64").reshape(-1, 2)


@dataclass
class Pairs:
    """A batch's candidates: where each doc's spans start in ``bounds``, all
    spans' (start, end) end to end, and the pairs as (doc, i, j) arrays in
    that order, i and j indexing the doc's spans."""

    span_offsets: numpy.ndarray
    bounds: numpy.ndarray
    doc: numpy.ndarray
    i: numpy.ndarray
    j: numpy.ndarray
