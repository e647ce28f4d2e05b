"""A corpus to predict: files, folders and globs of JSON lines or text lines,
as InputRecords that know their file and line.

Light on purpose (no spaCy, no torch): Ray's read tasks import it.
"""

import glob
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Generator, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from spacy_globalpointer.files.json_lines import InputError, numbered_lines, parse_json_line

INPUT_FORMATS = ("jsonl", "text")


# Files a folder contributes, by suffix.
SHARD_SUFFIXES = (".jsonl", ".json", ".txt")

# "-" as an input is standard input, as for cat and jq (a file named "-" is "./-"). Its shard is a
# name no real file has, and its records' source: messages then say "<stdin>:LINE".
STDIN = "-"
STDIN_SHARD = Path("<stdin>")


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


def read_records(
    path: Union[str, Path],
    input_format: str = "jsonl",
    text_field: str = "text",
    id_field: Optional[str] = None,
) -> Generator[InputRecord, None, None]:
    """The records of one shard, in order, invalid ones included (with ``error``), as a stream."""
    if is_stdin(path):
        # Not closed here: standard input belongs to the process.
        lines = numbered_lines(sys.stdin.buffer, str(STDIN_SHARD))
        yield from records_from_lines(lines, str(STDIN_SHARD), input_format, text_field, id_field)
        return
    with open(path, "rb") as f:
        lines = numbered_lines(f, str(path))
        yield from records_from_lines(lines, str(path), input_format, text_field, id_field)


def expand_inputs(inputs: Sequence[Union[str, Path]]) -> List[Tuple[Path, Path]]:
    """(shard, its path relative to the input it came from) for files,
    folders (every .jsonl/.json/.txt below, sorted) and globs, in the order
    given; ``-`` is standard input (STDIN_SHARD, written as ``stdin``). Raises if an input matches
    nothing."""
    shards: List[Tuple[Path, Path]] = []
    for item in inputs:
        path = Path(item)
        if isinstance(item, str) and item == STDIN:
            if any(is_stdin(shard) for shard, _ in shards):
                raise InputError("standard input (-) is given twice: it can be read once")
            shards.append((STDIN_SHARD, Path("stdin")))
        elif path.is_file():
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


def is_stdin(path: Union[str, Path]) -> bool:
    return Path(path) == STDIN_SHARD


def guess_input_format(path: Path) -> str:
    """Standard input has no suffix: it is JSON lines unless --input-format says text."""
    return "text" if path.suffix == ".txt" else "jsonl"
