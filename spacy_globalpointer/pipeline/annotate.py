"""Predicted spans onto a Doc: every span in a span group with its score, and
a non-overlapping selection in doc.ents, next to the entities already there."""

from typing import List

import numpy
from spacy.tokens import Doc, Span, SpanGroup

from spacy_globalpointer.pipeline.decode import SpanCandidates, select_flat


def write_predictions(
    doc: Doc, cand: SpanCandidates, label_ids: List[int], spans_key: str, overwrite_ents: bool
) -> None:
    """doc.spans[spans_key]: all spans, sorted, with attrs["scores"]. doc.ents:
    a greedy non-overlapping selection by score, around the entities already
    set (``overwrite_ents`` false) or replacing those ours overlap (true)."""
    starts, ends = cand.starts.tolist(), cand.ends.tolist()
    spans = [Span(doc, s, e, label_ids[c]) for s, e, c in zip(starts, ends, cand.labels.tolist())]
    order = numpy.lexsort((cand.labels, cand.ends, cand.starts))
    group = SpanGroup(doc, name=spans_key, spans=[spans[k] for k in order.tolist()])
    group.attrs["scores"] = cand.scores[order]
    doc.spans[spans_key] = group
    preset = list(doc.ents)
    taken = bytearray(len(doc))
    for ent in [] if overwrite_ents else preset:
        taken[ent.start : ent.end] = b"\x01" * len(ent)
    ours = [spans[k] for k in select_flat(cand.starts, cand.ends, cand.scores, taken).tolist()]
    if overwrite_ents:
        # As entity_ruler overwrites: ours win where they overlap, the rest stay.
        for ent in ours:
            taken[ent.start : ent.end] = b"\x01" * len(ent)
        preset = [ent for ent in preset if taken.find(1, ent.start, ent.end) == -1]
    doc.set_ents(sorted(preset + ours, key=lambda span: span.start), default="outside")
