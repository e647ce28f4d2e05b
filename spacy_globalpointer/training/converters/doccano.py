"""doccano's JSON lines export: ``{"text", "label": [[start, end, label]]}``
(``labels`` in some versions), or ``{"text", "entities": [{"start_offset",
"end_offset", "label"}]}`` (exports with relations); character offsets, end
exclusive. Relations: ``"relations": [{"id", "from_id", "to_id", "type"}]``,
``from_id`` (the subject) and ``to_id`` naming entities by their ``id``.

doccano exports a zip of one such file per annotator (``NAME.jsonl``; in a
collaborative project one ``all.jsonl``): read as it comes, zipped or not."""

import zipfile
from pathlib import Path
from typing import IO, Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from spacy_globalpointer.files.json_lines import InputError, iter_json_lines, json_lines_of
from spacy_globalpointer.training.converters.gold_records import (
    FormatError,
    GoldRecord,
    Ignored,
    Mention,
    Notice,
    check_label,
    check_offsets,
    objects,
    text_record,
)

Item = Union[GoldRecord, Ignored, FormatError, Notice]
Lines = Iterator[Tuple[int, Union[Dict[str, Any], InputError]]]
EMPTY = "in an annotator's file that holds no annotation at all"


def read_doccano(path: Union[str, Path], annotators: Optional[Sequence[str]] = None) -> Iterator[Item]:
    """Each record of a doccano export, as it comes: a JSON-lines file, the
    export's zip or the folder it unzips to (one ``NAME.jsonl`` per annotator,
    ``all.jsonl`` for a collaborative project). The records of a zip or
    folder carry their annotator (the file's name) in ``user_data``;
    ``annotators``: only theirs are converted (the others' counted). A file
    none of whose records holds an annotation (an annotator who never saw
    the pre-annotations, in a project that does not share them) is a Notice,
    and its records are left out and counted, unless its annotator is chosen
    by name."""
    path = Path(path)
    files = _export_files(path)
    names = [name for name, _ in files]
    unknown = [a for a in annotators or () if a not in names]
    if unknown:
        known = ", ".join(names) or "none"
        raise InputError(f"{path}: no annotator {unknown[0]!r} in this export (its annotators: {known})")
    for name, source in files:
        if annotators and name not in annotators:
            for line, _ in _open_lines(path, source):
                yield Ignored(source, line, f"another annotator's ({name}; --doccano-annotator chose others)")
            continue
        annotator = name if path.is_dir() or path.suffix == ".zip" else None
        chosen = name in (annotators or ())
        yield from _read_file(_open_lines(path, source), source, annotator, chosen)


def _export_files(path: Path) -> List[Tuple[str, str]]:
    """(annotator, source) of each JSON-lines file of an export: the sources
    are the file paths, or ``ZIP/MEMBER`` for a member of a zip."""
    if path.is_dir():
        found = sorted(path.glob("*.jsonl"))
        if not found:
            raise InputError(f"{path}: no .jsonl files in this folder (doccano's JSONL export, unzipped)")
        return [(p.stem, str(p)) for p in found]
    if path.suffix != ".zip":
        return [(path.stem, str(path))]
    try:
        with zipfile.ZipFile(path) as zf:
            members = sorted(n for n in zf.namelist() if n.endswith(".jsonl"))
    except zipfile.BadZipFile as err:
        raise InputError(f"{path}: not a zip archive ({err})") from None
    if not members:
        raise InputError(f"{path}: no .jsonl file in this zip: export the project as JSONL")
    return [(Path(m).stem, f"{path}/{m}") for m in members]


def _open_lines(path: Path, source: str) -> Lines:
    if path.suffix != ".zip" or path.is_dir():
        yield from iter_json_lines(source)
        return
    with zipfile.ZipFile(path) as zf, zf.open(source[len(str(path)) + 1 :]) as f:
        member: IO[bytes] = f
        yield from json_lines_of(member, source)


def _read_file(lines: Lines, source: str, annotator: Optional[str], chosen: bool) -> Iterator[Item]:
    """A file's records, held back until one of them holds an annotation:
    a file with none is a Notice, its records left out (or, its annotator
    chosen, written)."""
    held: List[Union[GoldRecord, FormatError]] = []
    annotated = False
    for line, obj in lines:
        item: Union[GoldRecord, FormatError]
        try:
            item = parse_doccano_record(obj, source, line)
        except FormatError as err:
            item = err
        if isinstance(item, GoldRecord) and annotator is not None:
            item.user_data["annotator"] = annotator
        if annotated:
            yield item
            continue
        held.append(item)
        if isinstance(item, GoldRecord) and (item.mentions or item.relations):
            annotated = True
            yield from held
            held = []
    records = [r for r in held if isinstance(r, GoldRecord)]
    if annotated or not records:
        yield from held
        return
    who = f" (annotator {annotator})" if annotator is not None else ""
    what = "written as they are: you chose this annotator" if chosen else "left out"
    yield Notice(source, f"none of its {len(records)} records{who} holds an entity or relation: {what}")
    for item in held:
        yield item if chosen or isinstance(item, FormatError) else Ignored(item.source, item.line, EMPTY)


def parse_doccano_record(obj: Union[Dict[str, Any], InputError], source: str, line: int) -> GoldRecord:
    record = text_record(obj, source, line)
    assert isinstance(obj, dict)  # text_record raised a FormatError for an InputError
    if "entities" in obj:
        expected = "{start_offset, end_offset, label}"
        ids: Dict[Any, int] = {}
        for where, ent in objects(record, obj["entities"], "entities", expected):
            start, end = ent.get("start_offset"), ent.get("end_offset")
            check_offsets(record, start, end, where)
            assert isinstance(start, int) and isinstance(end, int)  # check_offsets raised otherwise
            record.mentions.append(Mention(start, end, check_label(record, ent.get("label"), where), where))
            if ent.get("id") is not None:
                ids[ent["id"]] = len(record.mentions) - 1
        if obj.get("relations") is not None:
            record.relations = []
            for where, rel in objects(record, obj["relations"], "relations", "{from_id, to_id, type}"):
                head, tail = (_entity(record, ids, rel.get(k), f"{where}.{k}") for k in ("from_id", "to_id"))
                record.add_relation(head, tail, rel.get("type"), where, label_field=f"{where}.type")
        return record
    key = "label" if "label" in obj else "labels"
    triples = obj.get(key) or []
    if not isinstance(triples, list):
        raise record.error(key, f"expected a list of [start, end, label], got {type(triples).__name__}")
    for k, triple in enumerate(triples):
        where = f"{key}[{k}]"
        if not (isinstance(triple, list) and len(triple) == 3):
            raise record.error(where, f"expected [start, end, label], got {triple!r}")
        start, end, label = triple
        check_offsets(record, start, end, where)
        record.mentions.append(Mention(start, end, check_label(record, label, where), where))
    return record


def _entity(record: GoldRecord, ids: Dict[Any, int], ident: Any, where: str) -> int:
    if not isinstance(ident, (int, str)) or ident not in ids:
        known = ", ".join(map(repr, ids)) or "none"
        raise record.error(where, f"{ident!r} names no entity of this record (its entity ids: {known})")
    return ids[ident]
