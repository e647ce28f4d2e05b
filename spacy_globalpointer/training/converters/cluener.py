"""CLUENER 2020, the format: its JSON lines read as GoldRecords, and a Doc's
spans as its ``label`` field (its metrics are in corpus/score.py).

CLUENER offsets are character offsets with an *inclusive* end; spaCy's
``Span.end_char`` is exclusive. The two conversion functions below are the
only places that add or remove that 1.
"""

from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple, Union

from spacy.tokens import Doc

from spacy_globalpointer.files.json_lines import InputError
from spacy_globalpointer.pipeline.keys import DEFAULT_SPANS_KEY, check_source
from spacy_globalpointer.training.converters.gold_records import (
    FormatError,
    GoldRecord,
    Mention,
    check_label,
    check_offsets,
    read_json_records,
    text_record,
)

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
    try:
        return _parse(obj, source, line)
    except FormatError as err:
        raise CluenerError(str(err)) from None


def _parse(obj: Union[Dict[str, Any], InputError], source: str, line: int) -> GoldRecord:
    record = text_record(obj, source, line, id_key=ID_KEY)
    assert not isinstance(obj, InputError)  # text_record raised it
    labels = obj.get("label") or {}
    if not isinstance(labels, dict):
        raise record.error(
            "label", f"expected {{type: {{entity: [[start, end], ...]}}}}, got {type(labels).__name__}"
        )
    for label, entities in labels.items():
        check_label(record, label, "label")
        if not isinstance(entities, dict):
            raise record.error(
                f"label.{label}", f"expected {{entity: [[start, end], ...]}}, got {type(entities).__name__}"
            )
        for surface, positions in entities.items():
            where = f"label.{label}.{surface}"
            if not isinstance(positions, list):
                raise record.error(
                    where, f"expected a list of [start, end] pairs, got {type(positions).__name__}"
                )
            for pos in positions:
                if not (isinstance(pos, list) and len(pos) == 2):
                    raise record.error(where, f"expected [start, end] integers, got {pos!r}")
                first, last = pos
                # Only an int is an offset: check_offsets names anything else.
                check_offsets(record, first, last + 1 if type(last) is int else last, where)
                start, end = cluener_to_char_offsets(first, last)
                if record.text[start:end] != surface:
                    raise record.error(
                        where, f"offsets {pos} cover {record.text[start:end]!r}, not {surface!r}"
                    )
                record.mentions.append(Mention(start, end, label, where))
    return record


def read_cluener(path: Union[str, Path]) -> Iterator[Union[GoldRecord, FormatError]]:
    """Each non-blank line of a CLUENER file as a GoldRecord, or a CluenerError saying where and what."""
    return read_json_records(path, parse_gold_record)


def cluener_labels(
    doc: Doc, *, source: str = "ents", spans_key: str = DEFAULT_SPANS_KEY
) -> Dict[str, Dict[str, List[List[int]]]]:
    """CLUENER's ``label`` field for a doc (inclusive ends, sorted), from
    doc.ents (``source="ents"``) or doc.spans[spans_key] (``"spans"``)."""
    check_source(source)
    spans = doc.ents if source == "ents" else doc.spans.get(spans_key, [])
    out: Dict[str, Dict[str, List[List[int]]]] = defaultdict(lambda: defaultdict(list))
    for span in sorted(spans, key=lambda s: (s.start_char, s.end_char, s.label_)):
        out[span.label_][doc.text[span.start_char : span.end_char]].append(
            list(char_offsets_to_cluener(span.start_char, span.end_char))
        )
    return {label: dict(ents) for label, ents in out.items()}
