"""A GoldRecord onto spaCy tokens: the Doc (the record's own tokens, or the
tokenizer's), every mention as a span in doc.spans[key] and a flat subset in
doc.ents. A mention whose characters do not fall on token boundaries is an
error naming it (``strict``), or is moved out to the tokens it touches
(``expand``) or in to the tokens it covers whole (``contract``); every span
that is moved or left out is reported, with its file and line. The record's
relations join the spans; a relation whose entity was moved or left out is
reported, not written (it was annotated on other characters)."""

import bisect
from dataclasses import dataclass
from typing import List, Optional, Tuple

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import filter_spans
from spacy.vocab import Vocab

from spacy_globalpointer.pipeline.keys import DEFAULT_RELATIONS_KEY
from spacy_globalpointer.pipeline.relations import Relation, set_relations
from spacy_globalpointer.training.converters.gold_records import GoldRecord, GoldRelation, Mention

ALIGNMENTS = ("strict", "expand", "contract")


@dataclass
class SpanChange:
    """A gold mention moved (``new_start``/``new_end`` set) or left out on its way to the Doc."""

    source: str
    line: int
    label: str
    text: str
    start: int
    end: int
    reason: str
    new_start: Optional[int] = None
    new_end: Optional[int] = None

    @property
    def dropped(self) -> bool:
        return self.new_start is None

    def to_dict(self) -> dict:
        out = {k: v for k, v in vars(self).items() if v is not None}
        return {**out, "kind": "dropped" if self.dropped else "changed"}


@dataclass
class RelationChange:
    """A gold relation left out because one of its entities was moved or left out."""

    source: str
    line: int
    label: str
    where: str
    reason: str

    def to_dict(self) -> dict:
        return dict(vars(self))


def doc_from_tokens(vocab: Vocab, record: GoldRecord) -> Doc:
    """The record's own tokens as a Doc whose text is the record's text: the
    whitespace between two tokens becomes the first one's trailing space
    (and a whitespace token for any more of it)."""
    words: List[str] = []
    spaces: List[bool] = []
    text, pos = record.text, 0
    for k, (start, end) in enumerate(record.tokens or []):
        _gap(record, text[pos:start], k, words, spaces)
        words.append(text[start:end])
        spaces.append(False)
        pos = end
    _gap(record, text[pos:], len(record.tokens or []), words, spaces)
    return Doc(vocab, words=words, spaces=spaces)


def _gap(record: GoldRecord, gap: str, k: int, words: List[str], spaces: List[bool]) -> None:
    if not gap:
        return
    if not gap.isspace():
        raise record.error(f"tokens[{k}]", f"the text before this token, {gap!r}, is in no token")
    if words and gap[0] == " " and not spaces[-1]:
        spaces[-1], gap = True, gap[1:]
    if gap:
        words.append(gap)
        spaces.append(False)


def record_to_doc(
    nlp: Language,
    record: GoldRecord,
    spans_key: str,
    alignment: str = "strict",
    skip_invalid: bool = False,
    relations_key: str = DEFAULT_RELATIONS_KEY,
) -> Tuple[Doc, List[SpanChange], List[RelationChange]]:
    """The record's Doc, every mention that was moved or left out, and every
    relation left out with them. A mention that cannot be a span as given
    raises a FormatError naming it, unless ``skip_invalid`` (then it is left
    out and reported); with ``expand`` or ``contract`` a misaligned one is
    moved and reported. Relations go under ``relations_key``."""
    if alignment not in ALIGNMENTS:
        raise ValueError(f"alignment must be one of {ALIGNMENTS}, got {alignment!r}")
    doc = doc_from_tokens(nlp.vocab, record) if record.tokens is not None else nlp.make_doc(record.text)
    spans: List[Span] = []
    changes: List[SpanChange] = []
    # Per mention: its span where it was written as annotated, else why not.
    kept: List[Tuple[Optional[Span], str]] = []
    for mention in record.mentions:
        span, change = _align(doc, record, mention, alignment, skip_invalid)
        if span is not None:
            spans.append(span)
        if change is not None:
            changes.append(change)
        kept.append((span if change is None else None, _why(mention, change)))
    doc.spans[spans_key] = sorted(spans, key=lambda s: (s.start, s.end, s.label_))
    doc.set_ents(filter_spans(spans), default="outside")
    doc.user_data.update(record.user_data)
    relation_changes: List[RelationChange] = []
    if record.relations is not None:
        rels = []
        for rel in record.relations:
            (head, why_head), (tail, why_tail) = kept[rel.head], kept[rel.tail]
            if head is not None and tail is not None:
                rels.append(Relation(head, tail, rel.label))
            else:
                reason = "; ".join(why for span, why in ((head, why_head), (tail, why_tail)) if span is None)
                relation_changes.append(_relation_change(record, rel, reason))
        set_relations(doc, rels, relations_key)
    return doc, changes, relation_changes


def _why(mention: Mention, change: Optional[SpanChange]) -> str:
    if change is None:
        return ""
    done = "left out" if change.dropped else "moved"
    return f"its entity {mention.where} ({mention.label}) was {done}: {change.reason}"


def _relation_change(record: GoldRecord, rel: GoldRelation, reason: str) -> RelationChange:
    line = record.line if rel.line is None else rel.line
    return RelationChange(record.source, line, rel.label, rel.where, reason)


def _align(
    doc: Doc, record: GoldRecord, mention: Mention, alignment: str, skip_invalid: bool
) -> Tuple[Optional[Span], Optional[SpanChange]]:
    line = record.line if mention.line is None else mention.line
    text = record.text[mention.start : mention.end]
    change = SpanChange(record.source, line, mention.label, text, mention.start, mention.end, "")
    if mention.problem is not None:
        if not skip_invalid:
            raise record.error(mention.where, f"{mention.problem}: cannot be one span", mention.line)
        change.reason = mention.problem
        return None, change
    span = doc.char_span(mention.start, mention.end, label=mention.label, alignment_mode=alignment)
    if span is None:
        if alignment == "strict" and not skip_invalid:
            raise record.error(mention.where, _misaligned(doc, record, mention), mention.line)
        change.reason = "not on token boundaries" if alignment == "strict" else f"no token left ({alignment})"
        return None, change
    if (span.start_char, span.end_char) != (mention.start, mention.end):
        change.reason, change.new_start, change.new_end = alignment, span.start_char, span.end_char
        return span, change
    return span, None


def _misaligned(doc: Doc, record: GoldRecord, mention: Mention) -> str:
    starts = [t.idx for t in doc]
    ends = [t.idx + len(t) for t in doc]

    def nearest(bounds: List[int], at: int) -> str:
        k = bisect.bisect_left(bounds, at)
        if k < len(bounds) and bounds[k] == at:
            return f"{at} (on a boundary)"
        near = sorted({bounds[i] for i in (k - 1, k) if 0 <= i < len(bounds)})
        return " or ".join(map(str, near)) or "none"

    text = record.text[mention.start : mention.end]
    return (
        f"characters {mention.start}..{mention.end} ({text!r}) do not fall on token boundaries: the "
        f"nearest token start is {nearest(starts, mention.start)}, the nearest token end "
        f"{nearest(ends, mention.end)} (fix the offsets, or pass --alignment expand or contract)"
    )
