"""Label Studio's JSON export: ``[{"data": {"text"}, "annotations": [{"result":
[{"value": {"start", "end", "labels"}}]}]}]``, character offsets, end exclusive.

Which annotation is used: of a task's annotations that were not cancelled,
the one updated last (``updated_at``, else ``created_at``; ties and missing
times go to the later one in the list). The task's other annotations, its
cancelled ones, its model predictions and results that are neither span
labels nor relations are counted in the report, never converted. A task with
no usable annotation is left out and counted.

Relations: results of ``"type": "relation"`` with ``from_id`` and ``to_id``
(the ``id`` of labelled regions of the same annotation), a ``direction``
("right": from -> to, "left": to -> from, "bi": both) and ``labels`` (one
relation per label; none: the label "relation")."""

import codecs
import json
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple, Union

from spacy_globalpointer.files.json_lines import InputError, iter_json_lines, lone_surrogate, read_text_file
from spacy_globalpointer.training.converters.gold_records import (
    FormatError,
    GoldRecord,
    Ignored,
    Mention,
    check_label,
    check_offsets,
)

# The label of a relation drawn without one.
UNLABELLED = "relation"
DIRECTIONS = ("right", "left", "bi")


def read_label_studio(
    path: Union[str, Path], text_field: str = "text", predictions: bool = False
) -> Iterator[Union[GoldRecord, Ignored, FormatError]]:
    """Each task as a GoldRecord, an Ignored task or a FormatError: of a
    JSON list of tasks (Label Studio's export), or of JSON lines, one task
    each (what ``predict --format label-studio`` writes). ``predictions``:
    a task without a usable annotation is read from its last prediction (the
    pre-annotations taken as they are)."""
    # The first character says which: peeked at, so that the file is read once, by its reader.
    with open(path, "rb") as f:
        head = f.read(4096)
    if head.removeprefix(codecs.BOM_UTF8).lstrip().startswith(b"{"):
        for line, obj in iter_json_lines(path):
            if isinstance(obj, InputError):
                yield FormatError(str(obj))
                continue
            try:
                yield parse_task(obj, str(path), line, line - 1, text_field, predictions)
            except FormatError as err:
                yield err
        return
    for line, k, task in _tasks(path):
        try:
            yield parse_task(task, str(path), line, k, text_field, predictions)
        except FormatError as err:
            yield err


def _tasks(path: Union[str, Path]) -> Iterator[Tuple[int, int, Any]]:
    """(line, index, task) of a JSON array, each task read on its own so
    that its line is known."""
    try:
        text = read_text_file(path)
    except InputError as err:
        raise FormatError(str(err)) from None
    decoder = json.JSONDecoder()
    pos = _skip(text, 0)
    if text[pos : pos + 1] != "[":
        raise FormatError(f"{path}:1: expected a JSON list of tasks (Label Studio's JSON export)")
    pos, k = _skip(text, pos + 1), 0
    while text[pos : pos + 1] != "]":
        line = text.count("\n", 0, pos) + 1
        try:
            task, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            raise FormatError(
                f"{path}:{err.lineno}: not valid JSON: {err.msg} (column {err.colno})"
            ) from None
        yield line, k, task
        k += 1
        pos = _skip(text, pos)
        if text[pos : pos + 1] == ",":
            pos = _skip(text, pos + 1)
        elif text[pos : pos + 1] != "]":
            line = text.count("\n", 0, pos) + 1
            raise FormatError(f"{path}:{line}: not valid JSON: expected ',' or ']' after task {k - 1}")


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def parse_task(
    task: Any, source: str, line: int, k: int, text_field: str, predictions: bool = False
) -> Union[GoldRecord, Ignored]:
    record = GoldRecord(source, line, "")
    if not isinstance(task, dict):
        raise record.error(f"[{k}]", f"expected a task object, got {type(task).__name__}")
    bad = lone_surrogate(task)
    if bad is not None:
        raise record.error(
            f"[{k}].{bad[0]}", f"a lone surrogate at character {bad[1]}, which is not Unicode text"
        )
    text = (task.get("data") or {}).get(text_field) if isinstance(task.get("data"), dict) else None
    if not isinstance(text, str):
        raise record.error(f"[{k}].data.{text_field}", "missing or not a string")
    record.text = text
    if "id" in task:
        record.user_data["record_id"] = task["id"]
    annotations = task.get("annotations") or []
    if not isinstance(annotations, list):
        raise record.error(f"[{k}].annotations", f"expected a list, got {type(annotations).__name__}")
    usable = [(i, a) for i, a in enumerate(annotations) if isinstance(a, dict) and not a.get("was_cancelled")]
    record.left_out["cancelled annotations"] += len(annotations) - len(usable)
    predicted = task.get("predictions") or []
    if not usable and predictions and isinstance(predicted, list) and predicted:
        record.left_out["model predictions"] += len(predicted) - 1
        last = predicted[-1]
        result = last.get("result") if isinstance(last, dict) else None
        _read_result(record, result or [], f"[{k}].predictions[{len(predicted) - 1}].result")
        return record
    record.left_out["model predictions"] += len(predicted)
    if not usable:
        return Ignored(source, line, "no annotation that was not cancelled")
    i, chosen = max(usable, key=lambda ia: (_when(ia[1]), ia[0]))
    record.left_out["other annotations"] += len(usable) - 1
    _read_result(record, chosen.get("result") or [], f"[{k}].annotations[{i}].result")
    return record


def _when(annotation: Dict[str, Any]) -> str:
    # ISO 8601 times, as Label Studio writes them, order as strings.
    return str(annotation.get("updated_at") or annotation.get("created_at") or "")


def _read_result(record: GoldRecord, result: List[Any], where: str) -> None:
    if not isinstance(result, list):
        raise record.error(where, f"expected a list, got {type(result).__name__}")
    regions: Dict[Any, List[int]] = {}
    links = []
    record.relations = []
    for j, item in enumerate(result):
        if isinstance(item, dict) and item.get("type") == "relation":
            links.append((j, item))
            continue
        value = item.get("value") if isinstance(item, dict) else None
        if not isinstance(value, dict) or "labels" not in value:
            record.left_out["results that are neither span labels nor relations"] += 1
            continue
        first = len(record.mentions)
        place = f"{where}[{j}].value"
        start, end, labels = value.get("start"), value.get("end"), value.get("labels")
        check_offsets(record, start, end, place)
        assert isinstance(start, int) and isinstance(end, int)  # check_offsets raised otherwise
        if not isinstance(labels, list) or not labels:
            raise record.error(f"{place}.labels", f"expected a non-empty list of labels, got {labels!r}")
        for label in labels:
            record.mentions.append(Mention(start, end, check_label(record, label, f"{place}.labels"), place))
        if isinstance(item.get("id"), (int, str)):
            regions[item["id"]] = list(range(first, len(record.mentions)))
    for j, item in links:
        _read_relation(record, regions, item, f"{where}[{j}]")


def _read_relation(
    record: GoldRecord, regions: Dict[Any, List[int]], item: Dict[str, Any], place: str
) -> None:
    ends = []
    for key in ("from_id", "to_id"):
        ident = item.get(key)
        found = regions.get(ident) if isinstance(ident, (int, str)) else None
        if found is None:
            known = ", ".join(map(repr, regions)) or "none"
            raise record.error(
                f"{place}.{key}",
                f"{ident!r} names no entity (labelled region) of this annotation (region ids: {known})",
            )
        if len(found) != 1:
            raise record.error(
                f"{place}.{key}",
                f"{ident!r} is a region with {len(found)} labels: a relation joins one entity",
            )
        ends.append(found[0])
    direction = item.get("direction")
    if direction not in DIRECTIONS:
        raise record.error(f"{place}.direction", f"expected one of {DIRECTIONS}, got {direction!r}")
    labels = item.get("labels")
    if labels is None or labels == []:
        labels = [UNLABELLED]
    if not isinstance(labels, list):
        raise record.error(f"{place}.labels", f"expected a list of labels, got {labels!r}")
    pairs = {"right": [ends], "left": [ends[::-1]], "bi": [ends, ends[::-1]]}[direction]
    for label in labels:
        for head, tail in pairs:
            record.add_relation(head, tail, label, place, label_field=f"{place}.labels")
