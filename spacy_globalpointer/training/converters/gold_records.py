"""What every annotation format is read into: a text with its gold mentions
(character offsets, end exclusive, as spaCy's ``Span.end_char``), and where
each came from, so that any problem names the file, the line and the field."""

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, TypeVar, Union

from spacy_globalpointer.files.json_lines import InputError, iter_json_lines

R = TypeVar("R")


class FormatError(InputError):
    """A record a format cannot be read from; the message names the file,
    the line and the field."""


@dataclass
class Mention:
    """One gold span as the format gives it. ``problem`` says why it cannot
    be a span as given (a discontinuous brat entity, say): it is then
    reported, never silently changed."""

    start: int
    end: int
    label: str
    where: str
    line: Optional[int] = None
    problem: Optional[str] = None


@dataclass
class GoldRelation:
    """One gold relation as the format gives it: ``head`` (the subject) and
    ``tail`` (the object) index the record's mentions."""

    head: int
    tail: int
    label: str
    where: str
    line: Optional[int] = None


@dataclass
class GoldRecord:
    """One text with its gold mentions. ``tokens``: the format's own tokens
    as (start, end) character offsets, used as the Doc's tokens when given.
    ``doc_id`` groups the records of one document (a dev split keeps a
    document whole); ``user_data`` goes onto the Doc; ``relations``: None
    where the format holds no relations for it (the Doc then has no relation
    annotation), else its gold relations; ``left_out`` counts what the
    record held that is neither (for the report)."""

    source: str
    line: int
    text: str
    mentions: List[Mention] = field(default_factory=list)
    tokens: Optional[List[Tuple[int, int]]] = None
    doc_id: Optional[str] = None
    user_data: Dict[str, Any] = field(default_factory=dict)
    relations: Optional[List[GoldRelation]] = None
    # What the format holds beside the mentions and the reader left out, by reason.
    left_out: Counter = field(default_factory=Counter)

    def where(self, field_name: str = "", line: Optional[int] = None) -> str:
        place = f"{self.source}:{self.line if line is None else line}"
        return f"{place}: field {field_name}" if field_name else place

    def error(self, field_name: str, message: str, line: Optional[int] = None) -> FormatError:
        return FormatError(f"{self.where(field_name, line)}: {message}")

    def add_relation(
        self,
        head: int,
        tail: int,
        label: Any,
        where: str,
        line: Optional[int] = None,
        label_field: Optional[str] = None,
    ) -> None:
        """Add a relation between two of the record's mentions (by index):
        a FormatError for a label (at ``label_field``, else ``where``) that
        is not a non-empty string, a relation of an entity to itself, and
        the same relation twice."""
        label = check_label(self, label, label_field or where, line)
        one, other = self.mentions[head], self.mentions[tail]
        if head == tail or (one.start, one.end, one.label) == (other.start, other.end, other.label):
            raise self.error(where, f"a relation of {self._quote(one)} to itself", line)
        if self.relations is None:
            self.relations = []
        for seen in self.relations:
            if (seen.head, seen.tail, seen.label) == (head, tail, label):
                raise self.error(
                    where,
                    f"the relation {self._quote(one)} -{label}-> {self._quote(other)} is given twice "
                    f"(also at {seen.where})",
                    line,
                )
        self.relations.append(GoldRelation(head, tail, label, where, line))

    def _quote(self, mention: Mention) -> str:
        return f"{self.text[mention.start : mention.end]!r} ({mention.label}, {mention.where})"


@dataclass
class Ignored:
    """A record the format itself says to leave out (a Prodigy answer that
    is not "accept"): counted by reason, never converted."""

    source: str
    line: int
    reason: str


@dataclass
class Notice:
    """What a reader says about a whole file (it holds no annotation at all,
    say): a warning in the report, naming the file; the records it concerns
    come as usual, each counted."""

    source: str
    message: str


def check_offsets(record: GoldRecord, start: Any, end: Any, where: str, line: Optional[int] = None) -> None:
    """Raise a FormatError unless start and end are integer character offsets
    of a non-empty span inside the record's text."""
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end))
    if not ints:
        raise record.error(where, f"offsets must be integers, got start={start!r} end={end!r}", line)
    if not 0 <= start < end <= len(record.text):
        raise record.error(
            where, f"offsets {start}..{end} out of range for a text of {len(record.text)} characters", line
        )


def check_label(record: GoldRecord, label: Any, where: str, line: Optional[int] = None) -> str:
    if not isinstance(label, str) or not label:
        raise record.error(where, f"label must be a non-empty string, got {label!r}", line)
    return label


def read_json_records(
    path: Union[str, Path], parse: Callable[[Union[Dict[str, Any], InputError], str, int], R]
) -> Iterator[Union[R, "FormatError"]]:
    """``parse`` of each non-blank JSON line of a file, or the FormatError it raised."""
    for line_no, obj in iter_json_lines(path):
        try:
            yield parse(obj, str(path), line_no)
        except FormatError as err:
            yield err


def text_record(
    obj: Union[Dict[str, Any], InputError], source: str, line: int, id_key: str = "record_id"
) -> GoldRecord:
    """The GoldRecord of a JSON object with a ``text`` (and maybe an ``id``,
    kept in the Doc's user_data under ``id_key``), mentions to come; a
    FormatError for bad JSON or a missing text."""
    if isinstance(obj, InputError):
        raise FormatError(str(obj))
    text = obj.get("text")
    record = GoldRecord(source, line, text if isinstance(text, str) else "")
    if not isinstance(text, str):
        raise record.error("text", "missing or not a string")
    if obj.get("id") is not None:
        record.user_data[id_key] = obj["id"]
    return record


def objects(
    record: GoldRecord, value: Any, field_name: str, expected: str
) -> Iterator[Tuple[str, Dict[str, Any]]]:
    """(where, item) for each item of a field that must be a list of JSON objects."""
    value = value or []
    if not isinstance(value, list):
        raise record.error(field_name, f"expected a list of {expected}, got {type(value).__name__}")
    for k, item in enumerate(value):
        where = f"{field_name}[{k}]"
        if not isinstance(item, dict):
            raise record.error(where, f"expected {expected}, got {item!r}")
        yield where, item
