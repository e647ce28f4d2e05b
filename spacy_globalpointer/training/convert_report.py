"""What a conversion read, wrote, moved and left out: the report convert
prints and writes beside its output."""

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple

from spacy.tokens import Doc

from spacy_globalpointer.pipeline.relations import relations
from spacy_globalpointer.training.alignment import RelationChange, SpanChange
from spacy_globalpointer.training.converters.gold_records import GoldRecord


@dataclass
class ConvertReport:
    """What a conversion read and wrote; per label, spans read = spans
    written + spans reported (left out). Moved spans are written, and listed.
    Per relation label, relations read = written + reported (their entity
    was moved or left out), each reported one listed."""

    format: str = ""
    records: int = 0
    docs: int = 0
    dev_docs: int = 0
    invalid: List[str] = field(default_factory=list)
    ignored: Counter = field(default_factory=Counter)
    left_out: Counter = field(default_factory=Counter)
    read: Counter = field(default_factory=Counter)
    written: Counter = field(default_factory=Counter)
    changed: Counter = field(default_factory=Counter)
    reported: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    not_in_ents: int = 0
    changes: List[SpanChange] = field(default_factory=list)
    relations_read: Counter = field(default_factory=Counter)
    relations_written: Counter = field(default_factory=Counter)
    relations_reported: Counter = field(default_factory=Counter)
    relation_changes: List[RelationChange] = field(default_factory=list)
    # What readers say of whole files (doccano: an annotator's file without any annotation).
    warnings: List[str] = field(default_factory=list)
    # Docs written with no span: their record holds none (an annotation with an empty result, say).
    empty_docs: int = 0
    # Docs written per annotator (doccano's export), and where each text was read, per annotator.
    annotators: Counter = field(default_factory=Counter)
    texts: Dict[str, List[Tuple[str, str]]] = field(default_factory=dict)

    def add_relations(self, record: GoldRecord, doc: Doc, changes: List[RelationChange], key: str) -> None:
        self.relations_read.update(r.label for r in record.relations or [])
        self.relations_written.update(r.label for r in relations(doc, key))
        self.relations_reported.update(change.label for change in changes)
        self.relation_changes.extend(changes)

    def add(self, record: GoldRecord, doc: Doc, changes: List[SpanChange], spans_key: str) -> None:
        self.read.update(m.label for m in record.mentions)
        self.written.update(s.label_ for s in doc.spans[spans_key])
        for change in changes:
            (self.reported if change.dropped else self.changed)[change.label] += 1
            self.reasons[change.reason] += 1
        self.changes.extend(changes)
        self.left_out.update({reason: n for reason, n in record.left_out.items() if n})
        self.not_in_ents += len(doc.spans[spans_key]) - len(doc.ents)
        self.empty_docs += not len(doc.spans[spans_key])
        annotator = record.user_data.get("annotator")
        if annotator is not None:
            self.annotators[annotator] += 1
            self.texts.setdefault(record.text, []).append((annotator, f"{record.source}:{record.line}"))

    def skipped(self) -> Dict[str, int]:
        """The records read and not written, by why: the format's own rule, or invalid (listed)."""
        out = {reason: n for reason, n in self.ignored.items() if n}
        if self.invalid:
            out["invalid (listed under invalid)"] = len(self.invalid)
        return out

    def duplicates(self) -> List[Dict[str, Any]]:
        """The texts that several annotators' files hold, with where."""
        return [
            {"text": text, "annotators": [a for a, _ in seen], "records": [w for _, w in seen]}
            for text, seen in self.texts.items()
            if len({a for a, _ in seen}) > 1
        ]

    def to_dict(self) -> Dict[str, Any]:
        labels = sorted(set(self.read) | set(self.written))
        return {
            "format": self.format,
            "records": self.records,
            "docs": self.docs,
            "dev_docs": self.dev_docs,
            "records_skipped": self.skipped(),
            "empty_docs": self.empty_docs,
            "warnings": self.warnings,
            "annotators": dict(self.annotators),
            "duplicates": self.duplicates(),
            "invalid": self.invalid,
            "ignored": dict(self.ignored),
            "left_out": {k: v for k, v in self.left_out.items() if v},
            "not_in_ents": self.not_in_ents,
            "labels": {
                label: {key: getattr(self, key)[label] for key in ("read", "written", "changed", "reported")}
                for label in labels
            },
            "reasons": dict(self.reasons),
            "changes": [change.to_dict() for change in self.changes],
            "relations": {
                label: {
                    "read": self.relations_read[label],
                    "written": self.relations_written[label],
                    "reported": self.relations_reported[label],
                }
                for label in sorted(set(self.relations_read) | set(self.relations_written))
            },
            "relation_changes": [change.to_dict() for change in self.relation_changes],
        }
