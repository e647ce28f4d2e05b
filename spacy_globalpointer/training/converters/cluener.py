"""CLUENER 2020, the format: its JSON lines read as GoldRecords, and a Doc's
spans as its ``label`` field (its metrics are in cluener_metrics.py).

CLUENER offsets are character offsets with an *inclusive* end; spaCy's
``Span.end_char`` is exclusive. The two conversion functions below are the
only places that add or remove that 1.
"""

from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple, Union

from spacy.tokens import Doc

from spacy_globalpointer.training.converters.gold_records import FormatError, GoldRecord, Mention, read_json_records
from spacy_globalpointer.files.json_lines import InputError

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


class CluenerError(FormatError):
    """Bad CLUENER input; the message names the file, the line and the field."""


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
    record = GoldRecord(source, line, text)
    if obj.get("id") is not None:
        record.user_data[ID_KEY] = obj["id"]
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
                record.mentions.append(Mention(start, end, label, where))
    return record


def read_cluener(path: Union[str, Path]) -> Iterator[Union[GoldRecord, FormatError]]:
    """Each non-blank line of a CLUENER file as a GoldRecord, or a CluenerError saying where and what."""
    return read_json_records(path, parse_gold_record)


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
