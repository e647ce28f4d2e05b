"""Reading a corpus: files, folders and globs of JSON lines or text lines,
as records that know their file and line. The package's one JSON-lines reader.

A *record* is one parsed input line: here an InputRecord (a text to predict),
in cluener.py a GoldRecord (a text with its gold entities). Parsing goes
line -> object (parse_json_line) -> record (parse_input_record,
cluener.parse_gold_record).

Light on purpose (no spaCy, no torch): Ray's read tasks import it.
"""

import codecs
import glob
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

INPUT_FORMATS = ("jsonl", "text")
# Files a folder contributes, by suffix.
SHARD_SUFFIXES = (".jsonl", ".json", ".txt")


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
        if isinstance(key, str) and lone_surrogate(key) is not None:
            return name, lone_surrogate(key)[1]
        found = lone_surrogate(value, name)
        if found is not None:
            return found
    return None


def iter_json_lines(path: Union[str, Path]) -> Iterator[Tuple[int, Union[Dict[str, Any], InputError]]]:
    """(line number, parse_json_line) for every non-blank line of a file, as a stream."""
    with open(path, "rb") as f:
        for line_no, line in numbered_lines(f, str(path)):
            if isinstance(line, InputError) or line.strip():
                yield line_no, parse_json_line(line, path, line_no)


def count_lines(path: Union[str, Path]) -> int:
    """Lines in a file, read in 1 MiB blocks (for progress bars)."""
    lines, last = 0, b"\n"
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            lines, last = lines + block.count(b"\n"), block[-1:]
    return lines + (last != b"\n")  # a last line without its "\n"


@dataclass
class InputRecord:
    """One text to predict, with where it came from."""

    source: str
    line: int
    text: Optional[str]
    id: Any = None
    error: Optional[str] = None


def parse_input_record(
    obj: Union[Dict[str, Any], InputError], source: str, line: int, text_field: str, id_field: Optional[str]
) -> InputRecord:
    """A JSON object (or parse_json_line's error) as an InputRecord; bad JSON,
    a missing or non-string text, or a missing id gives a record with ``error`` set."""
    if isinstance(obj, InputError):
        return InputRecord(source, line, None, error=str(obj))
    text = obj.get(text_field)
    if not isinstance(text, str):
        what = "missing" if text_field not in obj else f"not a string ({type(text).__name__})"
        return InputRecord(source, line, None, error=f"{source}:{line}: field {text_field}: {what}")
    if id_field is not None and id_field not in obj:
        return InputRecord(source, line, None, error=f"{source}:{line}: field {id_field}: missing")
    return InputRecord(source, line, text, obj.get(id_field) if id_field is not None else None)


def records_from_lines(
    lines: Iterable[Tuple[int, Union[str, InputError]]],
    source: str,
    input_format: str = "jsonl",
    text_field: str = "text",
    id_field: Optional[str] = None,
) -> Iterator[InputRecord]:
    """Records from numbered_lines: every line of a text shard is a text,
    every non-blank line of a JSON-lines shard a record. Invalid records
    (and lines that are not UTF-8) come with ``error`` set."""
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"input format must be one of {INPUT_FORMATS}, got {input_format!r}")
    for line_no, line in lines:
        if isinstance(line, InputError):
            yield InputRecord(source, line_no, None, error=str(line))
        elif input_format == "text":
            yield InputRecord(source, line_no, line)
        elif line.strip():
            obj = parse_json_line(line, source, line_no)
            yield parse_input_record(obj, source, line_no, text_field, id_field)


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


def read_records(
    path: Union[str, Path],
    input_format: str = "jsonl",
    text_field: str = "text",
    id_field: Optional[str] = None,
) -> Iterator[InputRecord]:
    """The records of one shard, in order, invalid ones included (with ``error``), as a stream."""
    with open(path, "rb") as f:
        lines = numbered_lines(f, str(path))
        yield from records_from_lines(lines, str(path), input_format, text_field, id_field)


def expand_inputs(inputs: Sequence[Union[str, Path]]) -> List[Tuple[Path, Path]]:
    """(shard, its path relative to the input it came from) for files,
    folders (every .jsonl/.json/.txt below, sorted) and globs, in the order
    given. Raises if an input matches nothing."""
    shards: List[Tuple[Path, Path]] = []
    for item in inputs:
        path = Path(item)
        if path.is_file():
            shards.append((path, Path(path.name)))
        elif path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SHARD_SUFFIXES)
            shards.extend((p, p.relative_to(path)) for p in found)
        else:
            matches = sorted(Path(p) for p in glob.glob(str(item), recursive=True) if Path(p).is_file())
            if not matches:
                raise InputError(f"{item}: no such file or folder, and no file matches it as a glob")
            base = Path(os.path.commonpath([str(p.parent) for p in matches]))
            shards.extend((p, p.relative_to(base)) for p in matches)
    if not shards:
        raise InputError(
            f"no input files in {', '.join(map(str, inputs))} (looked for {', '.join(SHARD_SUFFIXES)})"
        )
    return shards


def guess_input_format(path: Path) -> str:
    return "text" if path.suffix == ".txt" else "jsonl"
