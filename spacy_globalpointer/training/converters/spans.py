"""spaCy / Prodigy JSON lines: ``{"text", "spans": [{"start", "end", "label"}]}``
with character offsets (end exclusive). With ``"tokens": [{"text", "start",
"end"}]`` those are the Doc's tokens, and a span's ``token_start`` /
``token_end`` (inclusive), when given, must name the tokens it covers.
Prodigy records whose ``answer`` is not "accept" are left out and counted.
A ``doc_id`` (or ``meta.doc_id``) groups records into documents for a dev split.

Relations (Prodigy's ``rel.manual``): ``"relations": [{"head", "child",
"head_span", "child_span", "label"}]``, ``head``/``child`` the index of the
span's last token, ``head_span``/``child_span`` the span itself (``start``,
``end``, ``label``). The spans are used when given; a bare token index that
ends two spans (nested ones can) is an error naming both."""

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
    if obj.get("relations") is not None:
        record.relations = []
        expected = "{head, child, label}"
        for where, rel in objects(record, obj["relations"], "relations", expected):
            head, tail = _endpoint(record, rel, "head", where), _endpoint(record, rel, "child", where)
            record.add_relation(head, tail, rel.get("label"), where, label_field=f"{where}.label")
    return record


def _endpoint(record: GoldRecord, rel: Dict[str, Any], name: str, where: str) -> int:
    """The index of the mention a relation's head or child names."""
    span = rel.get(f"{name}_span")
    if span is not None:
        place = f"{where}.{name}_span"
        if not isinstance(span, dict):
            raise record.error(place, f"expected {{start, end, label}}, got {span!r}")
        key = (span.get("start"), span.get("end"))
        found = [
            i
            for i, m in enumerate(record.mentions)
            if (m.start, m.end) == key and span.get("label") in (None, m.label)
        ]
        if len(found) != 1:
            what = f"the span at characters {key[0]}..{key[1]}" + (
                f" ({span['label']})" if span.get("label") else ""
            )
            if not found:
                raise record.error(place, f"{what} names no entity of the record's spans")
            raise record.error(place, f"{what} fits {_both(record, found)}: give the span's label")
        return found[0]
    token = rel.get(name)
    place = f"{where}.{name}"
    if not isinstance(token, int) or isinstance(token, bool):
        raise record.error(place, f"expected the index of the span's last token, got {token!r}")
    if record.tokens is None:
        raise record.error(place, f"a token index needs the record's tokens; give {name}_span")
    if not 0 <= token < len(record.tokens):
        raise record.error(place, f"token {token} is out of range for {len(record.tokens)} tokens")
    found = [i for i, m in enumerate(record.mentions) if m.end == record.tokens[token][1]]
    if not found:
        raise record.error(place, f"no span of the record's spans ends on token {token}")
    if len(found) > 1:
        raise record.error(place, f"token {token} ends {_both(record, found)}: give {name}_span to say which")
    return found[0]


def _both(record: GoldRecord, found: List[int]) -> str:
    named = [record._quote(record.mentions[i]) for i in found]
    return f"{len(found)} spans, " + " and ".join(named)


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
