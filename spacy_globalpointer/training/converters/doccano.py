"""doccano's JSON lines export: ``{"text", "label": [[start, end, label]]}``
(``labels`` in some versions), or ``{"text", "entities": [{"start_offset",
"end_offset", "label"}]}`` (exports with relations); character offsets, end
exclusive."""

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
        for where, ent in objects(record, obj["entities"], "entities", expected):
            start, end = ent.get("start_offset"), ent.get("end_offset")
            check_offsets(record, start, end, where)
            assert isinstance(start, int) and isinstance(end, int)  # check_offsets raised otherwise
            record.mentions.append(Mention(start, end, check_label(record, ent.get("label"), where), where))
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
