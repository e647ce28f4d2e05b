"""The package's one JSON-lines reader, and the error every input check raises."""
import json
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple, Union


class InputError(ValueError):
    """Bad input; the message names the file, the line and the field."""


def parse_json_line(line: str, path: Union[str, Path], line_no: int) -> Union[Dict[str, Any], InputError]:
    """One line as a JSON object, or an InputError saying where and why (for
    the caller to raise, skip or count)."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as err:
        return InputError(f"{path}:{line_no}: not valid JSON ({err.msg} at column {err.colno})")
    if not isinstance(obj, dict):
        return InputError(f"{path}:{line_no}: expected a JSON object, got {type(obj).__name__}")
    return obj


def iter_json_lines(path: Union[str, Path]) -> Iterator[Tuple[int, Union[Dict[str, Any], InputError]]]:
    """(line number, parse_json_line) for every non-blank line of a file, as a stream."""
    with open(path, encoding="utf8") as f:
        for line_no, line in enumerate(f, start=1):
            if line.strip():
                yield line_no, parse_json_line(line, path, line_no)


def count_lines(path: Union[str, Path]) -> int:
    """Newlines in a file, read in 1 MiB blocks (for progress bars)."""
    with open(path, "rb") as f:
        return sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))
