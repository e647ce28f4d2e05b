"""CLUENER 2020, the format: JSON lines <-> spaCy Docs (its metrics are in
cluener_metrics.py).

CLUENER offsets are character offsets with an *inclusive* end; spaCy's
``Span.end_char`` is exclusive. The two conversion functions below are the
only places that add or remove that 1.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import filter_spans

from .inputs import InputError, count_lines, iter_json_lines

CLUENER_LABELS = (
    "address",
    "book",
    "company",
    "game",
    "government",
    "movie",
    "name",
    "organization",
    "position",
    "scene",
)
ID_KEY = "cluener_id"
# Where a doc's CLUENER labels come from: doc.ents (flat, like CLUENER's gold) or the span group (nested).
SOURCES = ("ents", "spans")


def cluener_to_char_offsets(start: int, end_inclusive: int) -> Tuple[int, int]:
    """CLUENER [start, end] (inclusive) -> Python/spaCy [start, end) (exclusive)."""
    return start, end_inclusive + 1


def char_offsets_to_cluener(start: int, end_exclusive: int) -> Tuple[int, int]:
    """Python/spaCy [start, end) (exclusive) -> CLUENER [start, end] (inclusive)."""
    return start, end_exclusive - 1


class CluenerError(InputError):
    """Bad CLUENER input; the message names the file, the line and the field."""


@dataclass
class Entity:
    label: str
    start: int  # character offset, inclusive
    end: int  # character offset, exclusive
    text: str


@dataclass
class GoldRecord:
    """One CLUENER line: a text with its gold entities (exclusive ends)."""

    source: str
    line: int
    text: str
    id: Any = None
    entities: List[Entity] = field(default_factory=list)

    def where(self, field_name: str = "") -> str:
        return f"{self.source}:{self.line}" + (f": field {field_name}" if field_name else "")


@dataclass
class ConvertReport:
    """What a conversion read, kept and skipped: printed, and returned to callers."""

    docs: int = 0
    entities: Counter = field(default_factory=Counter)
    not_in_ents: int = 0
    skipped: List[str] = field(default_factory=list)


def parse_gold_record(obj: Union[Dict[str, Any], InputError], source: str, line: int) -> GoldRecord:
    """A CLUENER object (or parse_json_line's error) -> GoldRecord, or a
    CluenerError saying where and what."""

    def fail(field_name: str, msg: str) -> CluenerError:
        return CluenerError(
            f"{source}:{line}: field {field_name}: {msg}" if field_name else f"{source}:{line}: {msg}"
        )

    if isinstance(obj, InputError):
        raise CluenerError(str(obj))
    text = obj.get("text")
    if not isinstance(text, str):
        raise fail("text", "missing or not a string")
    record = GoldRecord(source=source, line=line, text=text, id=obj.get("id"))
    labels = obj.get("label", {})
    if labels is None:
        labels = {}
    if not isinstance(labels, dict):
        raise fail(
            "label", f"expected {{type: {{entity: [[start, end], ...]}}}}, got {type(labels).__name__}"
        )
    for label, entities in labels.items():
        if not isinstance(entities, dict):
            raise fail(
                f"label.{label}", f"expected {{entity: [[start, end], ...]}}, got {type(entities).__name__}"
            )
        for surface, positions in entities.items():
            where = f"label.{label}.{surface}"
            if not isinstance(positions, list):
                raise fail(where, f"expected a list of [start, end] pairs, got {type(positions).__name__}")
            for pos in positions:
                ints = (
                    all(isinstance(p, int) and not isinstance(p, bool) for p in pos)
                    if isinstance(pos, list)
                    else False
                )
                if not (isinstance(pos, list) and len(pos) == 2 and ints):
                    raise fail(where, f"expected [start, end] integers, got {pos!r}")
                start, end = cluener_to_char_offsets(*pos)
                if not 0 <= start < end <= len(text):
                    raise fail(where, f"offsets {pos} out of range for a text of {len(text)} characters")
                if text[start:end] != surface:
                    raise fail(where, f"offsets {pos} cover {text[start:end]!r}, not {surface!r}")
                record.entities.append(Entity(label, start, end, surface))
    return record


def read_cluener(
    path: Union[str, Path], *, skip_invalid: bool = False, report: Optional[ConvertReport] = None
) -> Iterator[GoldRecord]:
    """The records of a CLUENER JSON-lines file, in order. A bad line raises a
    CluenerError, or with ``skip_invalid`` is left out and listed in
    ``report.skipped`` (a report is then required: nothing is dropped unseen)."""
    if skip_invalid and report is None:
        raise ValueError("read_cluener: skip_invalid needs a report to list the skipped lines in")
    for line_no, obj in iter_json_lines(path):
        try:
            yield parse_gold_record(obj, str(path), line_no)
        except CluenerError as err:
            if not skip_invalid:
                raise
            report.skipped.append(str(err))


def record_to_doc(nlp: Language, record: GoldRecord, spans_key: str = "sc") -> Doc:
    """A Doc with every entity in doc.spans[spans_key], a non-overlapping
    subset (longest first) in doc.ents, and the line's id in doc.user_data."""
    doc = nlp.make_doc(record.text)
    spans = []
    for ent in record.entities:
        span = doc.char_span(ent.start, ent.end, label=ent.label, alignment_mode="strict")
        if span is None:
            raise CluenerError(
                f"{record.where(f'label.{ent.label}.{ent.text}')}: characters {ent.start}..{ent.end - 1} "
                f"do not fall on token boundaries of the tokenizer ({nlp.config['nlp']['tokenizer']})"
            )
        spans.append(span)
    doc.spans[spans_key] = sorted(spans, key=lambda s: (s.start, s.end, s.label_))
    doc.set_ents(filter_spans(spans), default="outside")
    if record.id is not None:
        doc.user_data[ID_KEY] = record.id
    return doc


def records_to_docs(
    nlp: Language,
    records: Iterable[GoldRecord],
    spans_key: str = "sc",
    *,
    skip_invalid: bool = False,
    report: Optional[ConvertReport] = None,
) -> Iterator[Doc]:
    """Docs for records; counts go to ``report``. Token-boundary errors are
    raised, or skipped and listed with ``skip_invalid``."""
    if skip_invalid and report is None:
        raise ValueError("records_to_docs: skip_invalid needs a report to list the skipped records in")
    report = report if report is not None else ConvertReport()
    for record in records:
        try:
            doc = record_to_doc(nlp, record, spans_key)
        except CluenerError as err:
            if not skip_invalid:
                raise
            report.skipped.append(str(err))
            continue
        report.docs += 1
        report.entities.update(ent.label for ent in record.entities)
        report.not_in_ents += len(record.entities) - len(doc.ents)
        yield doc


def cluener_labels(
    doc: Doc, *, source: str = "ents", spans_key: str = "sc"
) -> Dict[str, Dict[str, List[List[int]]]]:
    """CLUENER's ``label`` field for a doc (inclusive ends, sorted), from
    doc.ents (``source="ents"``) or doc.spans[spans_key] (``"spans"``)."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    spans = doc.ents if source == "ents" else doc.spans.get(spans_key, [])
    out: Dict[str, Dict[str, List[List[int]]]] = defaultdict(lambda: defaultdict(list))
    for span in sorted(spans, key=lambda s: (s.start_char, s.end_char, s.label_)):
        out[span.label_][doc.text[span.start_char : span.end_char]].append(
            list(char_offsets_to_cluener(span.start_char, span.end_char))
        )
    return {label: dict(ents) for label, ents in out.items()}


# --- files -------------------------------------------------------------------


def convert(
    in_path: Union[str, Path],
    out_path: Union[str, Path],
    *,
    nlp: Optional[Language] = None,
    spans_key: str = "sc",
    skip_invalid: bool = False,
    progress: bool = True,
) -> ConvertReport:
    """CLUENER JSON lines -> a DocBin (.spacy). Returns what was converted and skipped."""
    import spacy
    from spacy.tokens import DocBin
    from tqdm import tqdm

    from .msgpack_cache import cached_msgpack_lookup

    nlp = nlp or spacy.blank("zh")
    report = ConvertReport()
    records = read_cluener(in_path, skip_invalid=skip_invalid, report=report)
    if progress:
        records = tqdm(
            records,
            total=count_lines(in_path),
            desc=f"convert {Path(in_path).name}",
            unit=" lines",
            leave=False,
        )
    db = DocBin(store_user_data=True)
    with cached_msgpack_lookup():
        for doc in records_to_docs(nlp, records, spans_key, skip_invalid=skip_invalid, report=report):
            db.add(doc)
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
        db.to_disk(out_path)
    return report
