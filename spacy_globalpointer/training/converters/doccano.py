"""doccano's JSON lines export: ``{"text", "label": [[start, end, label]]}``
(``labels`` in some versions), or ``{"text", "entities": [{"start_offset",
"end_offset", "label"}]}`` (exports with relations); character offsets, end
exclusive. Relations: ``"relations": [{"id", "from_id", "to_id", "type"}]``,
``from_id`` (the subject) and ``to_id`` naming entities by their ``id``."""

from pathlib import Path
from typing import Any, Dict, Iterator, Union

from spacy_globalpointer.files.json_lines import InputError
from spacy_globalpointer.training.converters.gold_records import (
    FormatError,
    GoldRecord,
    Mention,
    check_label,
    check_offsets,
    objects,
    read_json_records,
    text_record,
)


def read_doccano(path: Union[str, Path]) -> Iterator[Union[GoldRecord, FormatError]]:
    """Each non-blank line as a GoldRecord or a FormatError."""
    return read_json_records(path, parse_doccano_record)


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
