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
    rows, label_rows = numpy.nonzero(lower > thresholds[None, :])
    if not len(rows):
        return found
    # Where each doc's found pairs are (rows come sorted, so by doc), and their entities' indices: an
    # untrained model finds a relation in most of its pairs, and a Python step per item must stay small.
    ends = numpy.cumsum(counts)
    doc_of = numpy.searchsorted(ends, rows, side="right")
    pairs = numpy.concatenate([found_pairs for found_pairs, _ in predictions])[rows].tolist()
    values = lower[rows, label_rows].tolist()
    relation_labels = [labels[c] for c in label_rows.tolist()]
    bounds_at = numpy.searchsorted(doc_of, numpy.arange(len(docs) + 1), side="left").tolist()
    for k in numpy.unique(doc_of).tolist():
        entities = [_bounds(span) for span in docs[k].spans[spans_key]]
        out = found[k]
        for n in range(bounds_at[k], bounds_at[k + 1]):
            head, tail, label = entities[pairs[n][0]], entities[pairs[n][1]], relation_labels[n]
            if schema and (head[2], label, tail[2]) not in schema:
                continue
            out.append((*head, *tail, label, values[n]))
    return found


def _bounds(span: Span) -> Tuple[int, int, str]:
    return span.start, span.end, span.label_
