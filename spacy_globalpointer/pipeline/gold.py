"""Gold for training, both components': where spans and relations are read
from, aligned to the predicted doc's tokens by one rule; spans as band
cells; gold out of the model's reach counted."""

import sys
import warnings
import weakref
from typing import Iterable, List, NamedTuple, Optional, Sequence, Tuple

import numpy
from spacy.attrs import IDX, ORTH, SPACY
from spacy.tokens import Doc, Span
from spacy.training import Example
from wasabi import msg

from spacy_globalpointer.pipeline.relations import has_relations, relations

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


def same_tokens(eg: Example) -> bool:
    """Whether the predicted and the reference doc have the same tokens (the
    same text, count and offsets): gold is then taken as it is. spaCy's
    alignment would cost more than the rest of the loss, and a char tokenizer
    always gives the same tokens."""
    pred, ref = eg.predicted, eg.reference
    # The tokens' strings, offsets and trailing spaces, as arrays: the same text and tokens, without
    # building doc.text (a Python loop over the tokens, most of a training step's gold reading).
    attrs = [ORTH, IDX, SPACY]
    return len(pred) == len(ref) and numpy.array_equal(pred.to_array(attrs), ref.to_array(attrs))


def aligned_gold(eg: Example, spans_key: str, name: str) -> Iterable[Span]:
    """Gold spans on the predicted doc's tokens."""
    spans = gold_spans(eg.reference, spans_key, name)
    return spans if same_tokens(eg) else eg.get_aligned_spans_y2x(spans, allow_overlap=True)


class AlignedRelation(NamedTuple):
    """A gold relation on the predicted doc's tokens: its entities' (start,
    end) token offsets and labels, and the relation label."""

    head: Tuple[int, int]
    head_label: str
    tail: Tuple[int, int]
    tail_label: str
    label: str


def aligned_relations(eg: Example, relations_key: str) -> Optional[List[AlignedRelation]]:
    """The reference's relations on the predicted doc's tokens, by the rule
    of aligned_gold; None where the reference has no relation annotation
    (which is not "no relations": the relation loss skips such a doc, as the
    scorer and calibrate do). A relation whose entity does not align to the
    predicted tokens is left out."""
    ref = eg.reference
    if not has_relations(ref, relations_key):
        return None
    rels = relations(ref, relations_key)
    if same_tokens(eg):
        return [
            AlignedRelation(
                (r.head.start, r.head.end), r.head.label_, (r.tail.start, r.tail.end), r.tail.label_, r.label
            )
            for r in rels
        ]
    out = []
    for r in rels:
        ends = [eg.get_aligned_spans_y2x([span], allow_overlap=True) for span in (r.head, r.tail)]
        if all(len(found) == 1 for found in ends):
            (head,), (tail,) = ends
            out.append(
                AlignedRelation(
                    (head.start, head.end), r.head.label_, (tail.start, tail.end), r.tail.label_, r.label
                )
            )
    return out


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


class OutOfReach:
    """Gold a setting puts out of the model's reach (spans longer than
    max_span_length, relations farther apart than max_distance): one warning
    when the first are met, the total when the component goes away (the end
    of `spacy train`), and the count in the component's ``attribute``.
    ``noun``: what is counted ("gold span"); ``why`` and ``why_past``: what
    puts it out of reach, now and once training is over, with ``{limit}``."""

    def __init__(self, name: str, noun: str, why: str, why_past: str, setting: str, attribute: str):
        self.name, self.noun, self.setting, self.attribute = name, noun, setting, attribute
        self.why, self.why_past = why, why_past
        self.count = 0
        self.limit: Optional[int] = None
        self._finalizer: Optional[weakref.finalize] = None

    def add(self, n: int, limit: Optional[int], owner: object) -> None:
        if not self.count:
            warnings.warn(
                f"[{self.name}] Some {self.noun}s {self.why.format(limit=limit)} and cannot be learned; "
                f"raise {self.setting} to include them. The total is reported at the end of training (and "
                f"in the component's {self.attribute}).",
                stacklevel=4,
            )
            self._finalizer = weakref.finalize(owner, _report_out_of_reach, self)
        self.count += n
        self.limit = limit


def _report_out_of_reach(counter: OutOfReach) -> None:
    msg.warn(
        f"[{counter.name}] {counter.count} {counter.noun}(s) in training "
        f"{counter.why_past.format(limit=counter.limit)} and could not be learned."
    )
    sys.stderr.flush()
