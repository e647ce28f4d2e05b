"""spaCy / Prodigy JSON lines: ``{"text", "spans": [{"start", "end", "label"}]}``
with character offsets (end exclusive). With ``"tokens": [{"text", "start",
"end"}]`` those are the Doc's tokens, and a span's ``token_start`` /
``token_end`` (inclusive), when given, must name the tokens it covers.
Prodigy records whose ``answer`` is not "accept" are left out and counted.
A ``doc_id`` (or ``meta.doc_id``) groups records into documents for a dev split."""

from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

from spacy_globalpointer.files.json_lines import InputError
from spacy_globalpointer.training.converters.gold_records import (
    FormatError,
    GoldRecord,
    Ignored,
    Mention,
    check_label,
    check_offsets,
    objects,
    read_json_records,
    text_record,
)

Read = Union[GoldRecord, Ignored, FormatError]


def read_spans(path: Union[str, Path]) -> Iterator[Read]:
    """Each non-blank line as a GoldRecord, an Ignored record or a FormatError."""
    return read_json_records(path, parse_spans_record)


def parse_spans_record(
    obj: Union[Dict[str, Any], InputError], source: str, line: int
) -> Union[GoldRecord, Ignored]:
    answer = obj.get("answer", "accept") if isinstance(obj, dict) else "accept"
    if answer != "accept":
        return Ignored(source, line, f"answer {answer!r}")
    record = text_record(obj, source, line)
    assert isinstance(obj, dict)  # text_record raised a FormatError for an InputError
    meta = obj.get("meta")
    meta = meta if isinstance(meta, dict) else {}
    doc_id = obj.get("doc_id", meta.get("doc_id"))
    record.doc_id = None if doc_id is None else str(doc_id)
    if obj.get("tokens") is not None:
        record.tokens = _tokens(record, obj["tokens"])
    for where, span in objects(record, obj.get("spans"), "spans", "{start, end, label}"):
        start, end = span.get("start"), span.get("end")
        check_offsets(record, start, end, where)
        assert isinstance(start, int) and isinstance(end, int)  # check_offsets raised otherwise
        label = check_label(record, span.get("label"), f"{where}.label")
        if record.tokens is not None and ("token_start" in span or "token_end" in span):
            _check_token_indices(record, span, start, end, where)
        record.mentions.append(Mention(start, end, label, where))
    return record


def _tokens(record: GoldRecord, tokens: Any) -> List[Tuple[int, int]]:
    out: List[Tuple[int, int]] = []
    for where, token in objects(record, tokens, "tokens", "{text, start, end}"):
        start, end = token.get("start"), token.get("end")
        check_offsets(record, start, end, where)
        assert isinstance(start, int) and isinstance(end, int)  # check_offsets raised otherwise
        if "text" in token and record.text[start:end] != token["text"]:
            covered = record.text[start:end]
            raise record.error(where, f"offsets {start}..{end} cover {covered!r}, not {token['text']!r}")
        if out and start < out[-1][1]:
            raise record.error(where, f"starts at {start}, inside or before the token before it")
        out.append((start, end))
    return out


def _check_token_indices(record: GoldRecord, span: Dict[str, Any], start: int, end: int, where: str) -> None:
    tokens = record.tokens or []
    first = next((i for i, (s, _) in enumerate(tokens) if s == start), None)
    last = next((i for i, (_, e) in enumerate(tokens) if e == end), None)
    given: Tuple[Optional[int], Optional[int]] = (span.get("token_start"), span.get("token_end"))
    if (first, last) != given:
        raise record.error(
            where,
            f"token_start/token_end {given[0]}/{given[1]} do not name the tokens of characters "
            f"{start}..{end} (tokens {first}..{last})",
        )
