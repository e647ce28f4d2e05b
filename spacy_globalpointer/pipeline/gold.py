"""Gold spans for training: where they are read from, aligned to the
predicted doc's tokens, as band cells; spans too long to learn are counted."""

import sys
import warnings
import weakref
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy
from spacy.attrs import IDX
from spacy.tokens import Doc, Span
from spacy.training import Example
from wasabi import msg

# (doc, label, start, width - 1): one gold cell of the band scores.
Cell = Tuple[int, int, int, int]


def gold_spans(doc: Doc, spans_key: str, name: str) -> Iterable[Span]:
    """Gold: doc.spans[spans_key], else doc.ents; never a silent guess."""
    if spans_key in doc.spans:
        return doc.spans[spans_key]
    if doc.spans:
        raise ValueError(
            f"[{name}] A gold doc has span groups {sorted(doc.spans)} but none "
            f"under spans_key '{spans_key}'. Set [components.{name}] spans_key to "
            f"the key your data uses, or convert the data with --spans-key {spans_key}."
        )
    return doc.ents


def aligned_gold(eg: Example, spans_key: str, name: str) -> Iterable[Span]:
    """Gold spans on the predicted doc's tokens. Where both docs have the
    same tokens (a char tokenizer, always), the spans are taken as they
    are: spaCy's alignment would cost more than the rest of the loss."""
    pred, ref = eg.predicted, eg.reference
    if len(pred) == len(ref) and pred.text == ref.text:
        if numpy.array_equal(pred.to_array([IDX]), ref.to_array([IDX])):
            return gold_spans(ref, spans_key, name)
    return eg.get_aligned_spans_y2x(gold_spans(ref, spans_key, name), allow_overlap=True)


def gold_cells(
    examples: Sequence[Example], labels: Sequence[str], spans_key: str, width: int, name: str
) -> Tuple[List[Cell], int]:
    """The band cells of the examples' gold spans (labels the component does
    not know are left out), and how many gold spans are wider than the band."""
    label_map = {label: i for i, label in enumerate(labels)}
    cells: List[Cell] = []
    too_long = 0
    for b, eg in enumerate(examples):
        ref = eg.reference
        if len(ref) and spans_key not in ref.spans and not ref.has_annotation("ENT_IOB"):
            # Unannotated is not "no entities": training on it would teach misses.
            raise ValueError(
                f"[{name}] A gold doc has neither doc.spans['{spans_key}'] nor "
                f"doc.ents annotation: {ref.text[:50]!r}. Annotate entities in one of them."
            )
        for span in aligned_gold(eg, spans_key, name):
            w = span.end - span.start - 1
            if w >= width:
                too_long += 1
            elif span.label_ in label_map:
                cells.append((b, label_map[span.label_], span.start, w))
    return cells, too_long


class TooLongCounter:
    """Gold spans longer than max_span_length: one warning when the first are
    met, the total when the component goes away (the end of `spacy train`)."""

    def __init__(self, name: str):
        self.name = name
        self.count = 0
        self.limit: Optional[int] = None
        self._finalizer: Optional[weakref.finalize] = None

    def add(self, n: int, limit: Optional[int], owner: object) -> None:
        if not self.count:
            warnings.warn(
                f"[{self.name}] Some gold spans are longer than max_span_length={limit} tokens "
                f"and cannot be learned; raise max_span_length to include them. The total is "
                f"reported at the end of training (and in the component's too_long_gold_spans).",
                stacklevel=3,
            )
            self._finalizer = weakref.finalize(owner, _report_too_long, self.name, self)
        self.count += n
        self.limit = limit


def _report_too_long(name: str, counter: TooLongCounter) -> None:
    msg.warn(
        f"[{name}] {counter.count} gold span(s) in training were longer than "
        f"max_span_length={counter.limit} tokens and could not be learned."
    )
    sys.stderr.flush()
