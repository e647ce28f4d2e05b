"""JSON lines and text files, read and written: the package's one JSON-lines
reader (files read as bytes and decoded line by line, so a line that is not
UTF-8 is an error of its own line) and its one JSON writer.

A *record* is one parsed input line: in corpus/input_records.py an
InputRecord (a text to predict), in training/converters/ a GoldRecord (a text
with its gold entities). Parsing goes line -> object (parse_json_line) ->
record.

Light on purpose (no spaCy, no torch, nothing else of this package): Ray's
read tasks import it.
"""

import codecs
import json
from pathlib import Path
from typing import IO, Any, Dict, Iterator, Optional, Tuple, Union


class InputError(ValueError):
    """Bad input; the message names the file, the line and the field."""


def parse_json_line(
    line: Union[str, "InputError"], path: Union[str, Path], line_no: int
) -> Union[Dict[str, Any], InputError]:
    """One line (or numbered_lines' error for it) as a JSON object, or an
    InputError saying where and why (for the caller to raise, skip or count).
    A string holding a lone surrogate (valid JSON, not valid Unicode) is an
    error naming its field."""
    if isinstance(line, InputError):
        return line
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as err:
        return InputError(f"{path}:{line_no}: not valid JSON: {err.msg} (column {err.colno})")
    if not isinstance(obj, dict):
        return InputError(f"{path}:{line_no}: expected a JSON object, got {type(obj).__name__}")
    # Only a \u escape can put a surrogate in a decoded line: skip the walk without one.
    bad = lone_surrogate(obj) if "\\u" in line else None
    if bad is not None:
        field_name, offset = bad
        return InputError(
            f"{path}:{line_no}: field {field_name or '(key)'}: a lone surrogate (\\u escape) at character "
            f"{offset}, which is not Unicode text"
        )
    return obj


def lone_surrogate(obj: Any, where: str = "") -> Optional[Tuple[str, int]]:
    """The field (dotted path) and character offset of the first string in a
    JSON value that holds a lone surrogate, or None."""
    if isinstance(obj, str):
        try:
            obj.encode("utf-8")
        except UnicodeEncodeError as err:
            return where, err.start
        return None
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        name = f"{where}.{key}" if where else str(key)
        key_bad = lone_surrogate(key) if isinstance(key, str) else None
        if key_bad is not None:
            return name, key_bad[1]
        found = lone_surrogate(value, name)
        if found is not None:
            return found
    return None


def iter_json_lines(path: Union[str, Path]) -> Iterator[Tuple[int, Union[Dict[str, Any], InputError]]]:
    """(line number, parse_json_line) for every non-blank line of a file, as a stream."""
    with open(path, "rb") as f:
        yield from json_lines_of(f, str(path))


def json_lines_of(f: IO[bytes], source: str) -> Iterator[Tuple[int, Union[Dict[str, Any], InputError]]]:
    """(line number, parse_json_line) for every non-blank line of a binary
    stream (a file, or a member of a zip archive) named ``source`` in errors."""
    for line_no, line in numbered_lines(f, source):
        if isinstance(line, InputError) or line.strip():
            yield line_no, parse_json_line(line, source, line_no)


def starts_json_array(path: Union[str, Path]) -> bool:
    """Whether a file's first character (after a byte-order mark and
    whitespace) opens a JSON array; peeked at, so that the file is read once,
    by its reader."""
    with open(path, "rb") as f:
        head = f.read(4096)
    return head.removeprefix(codecs.BOM_UTF8).lstrip().startswith(b"[")


def iter_json_array(path: Union[str, Path]) -> Iterator[Tuple[int, Any]]:
    """(line, item) of each item of a file holding one JSON array, each item
    decoded on its own so that its line is known; an InputError naming the
    line for anything else."""
    text = read_text_file(path)
    decoder = json.JSONDecoder()
    pos = _skip(text, 0)
    if text[pos : pos + 1] != "[":
        raise InputError(f"{path}:1: expected a JSON list")
    pos, k = _skip(text, pos + 1), 0
    while text[pos : pos + 1] != "]":
        line = text.count("\n", 0, pos) + 1
        try:
            item, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            raise InputError(f"{path}:{err.lineno}: not valid JSON: {err.msg} (column {err.colno})") from None
        yield line, item
        k += 1
        pos = _skip(text, pos)
        if text[pos : pos + 1] == ",":
            pos = _skip(text, pos + 1)
        elif text[pos : pos + 1] != "]":
            line = text.count("\n", 0, pos) + 1
            raise InputError(f"{path}:{line}: not valid JSON: expected ',' or ']' after item {k - 1}")


def iter_json_items(path: Union[str, Path]) -> Iterator[Tuple[int, Any]]:
    """(line, item) of each item of a JSON-array file, or (line, parse_json_line) of each line of a
    JSON-lines file: which, its first character says."""
    yield from iter_json_array(path) if starts_json_array(path) else iter_json_lines(path)


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def count_lines(path: Union[str, Path]) -> int:
    """Lines in a file, read in 1 MiB blocks (for progress bars)."""
    lines, last = 0, b"\n"
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            lines, last = lines + block.count(b"\n"), block[-1:]
    return lines + (last != b"\n")  # a last line without its "\n"


def numbered_lines(f: IO[bytes], source: str) -> Iterator[Tuple[int, Union[str, InputError]]]:
    """(line number, line) of a binary stream, each line decoded as UTF-8 on
    its own: a line that is not UTF-8 comes as an InputError naming file,
    line and byte, and the lines after it are read as usual. Lines end at
    "\\n" only (a text may hold other separators); a "\\r\\n" ending is
    removed whole; a byte-order mark opening the file is dropped."""
    for line_no, raw in enumerate(f, start=1):
        if raw.endswith(b"\n"):
            raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        if line_no == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        yield line_no, decode_line(raw, source, line_no)


def decode_line(raw: bytes, source: str, line_no: int) -> Union[str, InputError]:
    """A line's bytes as text, or an InputError naming the first bad byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return InputError(
            f"{source}:{line_no}: not valid UTF-8: byte 0x{raw[err.start]:02x} at byte {err.start + 1} "
            f"of the line ({err.reason})"
        )


def read_text_file(path: Union[str, Path], keep_bom: bool = False) -> str:
    """A whole UTF-8 file as text (a leading byte-order mark dropped unless
    ``keep_bom``), or an InputError naming the line and byte of the first
    bytes that are not UTF-8."""
    raw = Path(path).read_bytes()
    if raw.startswith(codecs.BOM_UTF8) and not keep_bom:
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line_no = raw.count(b"\n", 0, err.start) + 1
        line_start = raw.rfind(b"\n", 0, err.start) + 1
        raise InputError(
            f"{path}:{line_no}: not valid UTF-8: byte 0x{raw[err.start]:02x} at byte "
            f"{err.start - line_start + 1} of the line ({err.reason})"
        ) from None


def json_line(line: Dict[str, Any]) -> str:
    """An output line as both engines write it: one line of JSON."""
    return json.dumps(line, ensure_ascii=False) + "\n"


class JsonArrayLines:
    """Writes items as one JSON array, one item a line (``[``, the items
    joined by ``,``, ``]``), as a stream: each item is written when the next
    one comes (only then is it known not to be the last), the last one by
    :meth:`close`. iter_json_array reads it back, item by item with its line."""

    def __init__(self, out: IO[bytes]):
        self.out = out
        self.pending: Optional[str] = None
        out.write(b"[\n")

    def write(self, item: Dict[str, Any]) -> None:
        if self.pending is not None:
            self.out.write((self.pending + ",\n").encode("utf8"))
        self.pending = json.dumps(item, ensure_ascii=False)

    def close(self) -> None:
        tail = "" if self.pending is None else self.pending + "\n"
        self.out.write((tail + "]\n").encode("utf8"))
        self.pending = None


def json_text(data: Any) -> str:
    """A JSON document (a report, scores, thresholds) as it is written and printed: indented."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def write_json(path: Union[str, Path], data: Any) -> None:
    """``data`` as an indented JSON file, its folder made if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json_text(data), encoding="utf8")
