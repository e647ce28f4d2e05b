"""Pair scores -> relations, as decode.py is for spans: the candidate pairs
whose scores (the lower of a pair's pointer scores) are above their label's
threshold, as the stored tuples relations.py keeps, without making Spans."""

from typing import AbstractSet, List, Sequence, Tuple

import numpy
from spacy.tokens import Doc, Span

from spacy_globalpointer.ml.pair_scores import DocPairScores
from spacy_globalpointer.pipeline.relations import Stored


def decode_relations(
    docs: Sequence[Doc],
    predictions: Sequence[DocPairScores],
    labels: Sequence[str],
    thresholds: numpy.ndarray,
    spans_key: str,
    schema: AbstractSet[Tuple[str, ...]] = frozenset(),
) -> List[List[Stored]]:
    """Per doc, its relations above ``thresholds`` (one per label); with a ``schema`` of (subject
    label, relation label, object label), only the relations whose entities' labels it holds."""
    found: List[List[Stored]] = [[] for _ in docs]
    counts = [len(pairs) for pairs, _ in predictions]
    if not sum(counts):
        return found
    # One comparison for the batch: a sentence has few pairs, and a call per doc costs more.
    lower = numpy.concatenate([scores for _, scores in predictions]).min(axis=2)
    ends = numpy.cumsum(counts)
    for row, c in zip(*numpy.nonzero(lower > thresholds[None, :])):
        k = int(numpy.searchsorted(ends, row, side="right"))
        a, b = predictions[k][0][row - (ends[k] - counts[k])]
        group = docs[k].spans[spans_key]
        head, tail = _bounds(group[int(a)]), _bounds(group[int(b)])
        if schema and (head[2], labels[c], tail[2]) not in schema:
            continue
        found[k].append((*head, *tail, labels[c], float(lower[row, c])))
    return found


def _bounds(span: Span) -> Tuple[int, int, str]:
    return span.start, span.end, span.label_
