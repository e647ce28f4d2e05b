"""Label Studio's JSON export: ``[{"data": {"text"}, "annotations": [{"result":
[{"value": {"start", "end", "labels"}}]}]}]``, character offsets, end exclusive
(or JSON lines, one task each, as Label Studio's storages take them).

Which annotation is used: of a task's annotations that were not cancelled,
the one updated last (``updated_at``, else ``created_at``; ties and missing
times go to the later one in the list). The task's other annotations, its
cancelled ones, its model predictions and results that are neither span
labels nor relations are counted in the report, never converted. A task with
no usable annotation is left out and counted; with ``predictions``, its last
prediction is read instead (a task with neither is left out and counted).

Label Studio's ordinary export (the Export button's) holds predictions as
ids (``"predictions": [5]``): where they would be read, that is an error
naming the snapshot export that holds them in full, never a doc without
entities. The record's id: the ``id`` in the task's ``meta`` (where predict
puts it, as Label Studio drops a task's own ``id`` at import), else the
task's.

Relations: results of ``"type": "relation"`` with ``from_id`` and ``to_id``
(the ``id`` of labelled regions of the same annotation), a ``direction``
("right": from -> to, "left": to -> from, "bi": both) and ``labels`` (one
relation per label; none: the label "relation")."""

from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

from spacy_globalpointer.files.json_lines import (
    InputError,
    iter_json_array,
    iter_json_lines,
    lone_surrogate,
    starts_json_array,
)
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
# A region's tags: its Labels tag (from_name) and the Text tag it labels (to_name).
TAG_KEYS = ("from_name", "to_name")


# Where a task's predictions or annotations are ids: the export that holds them in full.
SNAPSHOT = (
    "Label Studio's ordinary JSON export (the Export button, GET /api/projects/ID/export) holds {what} as "
    "ids, not objects: export a snapshot with them in full (POST /api/projects/ID/exports with "
    '{{"serialization_options": {{"{what}": {{"only_id": false}}}}}}, then GET '
    ".../exports/N/download?exportType=JSON; docs/conversion.md)"
)


def read_label_studio(
    path: Union[str, Path],
    text_field: str = "text",
    predictions: bool = False,
    from_name: Optional[str] = None,
    to_name: Optional[str] = None,
) -> Iterator[Union[GoldRecord, Ignored, FormatError]]:
    """Each task as a GoldRecord, an Ignored task or a FormatError: of a
    JSON list of tasks (Label Studio's export, and what ``predict --format
    label-studio`` writes), or of JSON lines, one task each. ``predictions``:
    a task without a usable annotation is read from its last prediction (the
    pre-annotations taken as they are). ``from_name``/``to_name``: the
    Labels and Text tags whose regions are read (None: any); other tags'
    results are counted."""
    tags = (from_name, to_name)
    if not starts_json_array(path):
        for line, obj in iter_json_lines(path):
            if isinstance(obj, InputError):
                yield FormatError(str(obj))
                continue
            try:
                yield parse_task(obj, str(path), line, line - 1, text_field, predictions, tags)
            except FormatError as err:
                yield err
        return
    try:
        for k, (line, task) in enumerate(iter_json_array(path)):
            try:
                yield parse_task(task, str(path), line, k, text_field, predictions, tags)
            except FormatError as err:
                yield err
    except FormatError:
        raise
    except InputError as err:
        raise FormatError(str(err)) from None


def parse_task(
    task: Any,
    source: str,
    line: int,
    k: int,
    text_field: str,
    predictions: bool = False,
    tags: Tuple[Optional[str], Optional[str]] = (None, None),
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
    # The id predict wrote (Label Studio drops a task's "id" at import, keeps "meta"), else Label Studio's.
    meta = task.get("meta")
    if isinstance(meta, dict) and "id" in meta:
        record.user_data["record_id"] = meta["id"]
    elif "id" in task:
        record.user_data["record_id"] = task["id"]
    annotations = _objects(record, task, "annotations", k)
    usable = [(i, a) for i, a in enumerate(annotations) if not a.get("was_cancelled")]
    record.left_out["cancelled annotations"] += len(annotations) - len(usable)
    predicted = task.get("predictions") or []
    if not usable and predictions:
        predicted = _objects(record, task, "predictions", k)
        if not predicted:
            return Ignored(source, line, "no annotation and no prediction")
        record.left_out["model predictions"] += len(predicted) - 1
        where = f"[{k}].predictions[{len(predicted) - 1}]"
        _read_result(record, _result(record, predicted[-1], where), f"{where}.result", tags)
        return record
    record.left_out["model predictions"] += len(predicted) if isinstance(predicted, list) else 0
    if not usable:
        if predicted:
            return Ignored(
                source, line, "no annotation (it has predictions: --label-studio-predictions reads them)"
            )
        return Ignored(source, line, "no annotation that was not cancelled")
    i, chosen = max(usable, key=lambda ia: (_when(ia[1]), ia[0]))
    record.left_out["other annotations"] += len(usable) - 1
    where = f"[{k}].annotations[{i}]"
    _read_result(record, _result(record, chosen, where), f"{where}.result", tags)
    return record


def _objects(record: GoldRecord, task: Dict[str, Any], key: str, k: int) -> List[Dict[str, Any]]:
    """A task's annotations or predictions: a FormatError where the list is
    not one, or holds ids (what Label Studio's ordinary export writes for
    predictions) or anything else in place of objects."""
    items = task.get(key) or []
    if not isinstance(items, list):
        raise record.error(f"[{k}].{key}", f"expected a list, got {type(items).__name__}")
    for j, item in enumerate(items):
        if isinstance(item, int) and not isinstance(item, bool):
            raise record.error(f"[{k}].{key}[{j}]", f"{item!r}: " + SNAPSHOT.format(what=key))
        if not isinstance(item, dict):
            raise record.error(f"[{k}].{key}[{j}]", f"expected an object, got {item!r}")
    return items


def _result(record: GoldRecord, item: Dict[str, Any], where: str) -> List[Any]:
    result = item.get("result")
    if not isinstance(result, list):
        got = "nothing" if result is None else type(result).__name__
        raise record.error(f"{where}.result", f"expected a list of results, got {got}")
    return result


def _when(annotation: Dict[str, Any]) -> str:
    # ISO 8601 times, as Label Studio writes them, order as strings.
    return str(annotation.get("updated_at") or annotation.get("created_at") or "")


def _read_result(
    record: GoldRecord, result: List[Any], where: str, tags: Tuple[Optional[str], Optional[str]]
) -> None:
    regions: Dict[Any, List[int]] = {}
    elsewhere = set()  # the ids of regions of other tags
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
        assert isinstance(item, dict)  # value is None otherwise
        other = [(key, item.get(key)) for key, tag in zip(TAG_KEYS, tags) if tag not in (None, item.get(key))]
        if other:
            record.left_out[f"regions of another tag ({other[0][0]} {other[0][1]!r})"] += 1
            elsewhere.add(item.get("id"))
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
        if item.get("from_id") in elsewhere or item.get("to_id") in elsewhere:
            record.left_out["relations of regions of another tag"] += 1
            continue
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
