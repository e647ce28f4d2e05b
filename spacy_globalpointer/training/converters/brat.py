"""brat standoff: a folder of ``NAME.txt`` texts and ``NAME.ann`` annotations.
Text-bound annotations (``T1<TAB>Label 0 5<TAB>text``) are the mentions, with
character offsets (end exclusive) into the .txt as brat reads it (a byte-order
mark there counts as a character). A discontinuous one (``T1<TAB>Label 0 5;9 14``)
is reported, never joined. Relations (``R1<TAB>Label Arg1:T1 Arg2:T3``: Arg1
the subject, Arg2 the object) join the entities they name; events,
attributes, notes, normalizations and equivalences are counted in the report."""

from pathlib import Path
from typing import Dict, Iterator, List, Union

from spacy_globalpointer.files.json_lines import InputError, read_text_file
from spacy_globalpointer.training.converters.gold_records import (
    FormatError,
    GoldRecord,
    Mention,
    check_label,
    check_offsets,
)

# What the first character of an .ann line's id says it is.
_KINDS = {
    "E": "events",
    "A": "attributes",
    "M": "attributes",
    "#": "notes",
    "N": "normalizations",
}


def read_brat(path: Union[str, Path]) -> Iterator[Union[GoldRecord, FormatError]]:
    """Each .ann file of a folder (or one .ann file) with its .txt, as a
    GoldRecord or a FormatError, in name order."""
    path = Path(path)
    anns = sorted(path.rglob("*.ann")) if path.is_dir() else [path]
    if not anns:
        yield FormatError(f"{path}: no .ann files (brat standoff) in this folder")
    for ann in anns:
        try:
            yield parse_brat(ann)
        except FormatError as err:
            yield err


def parse_brat(ann: Path) -> GoldRecord:
    txt = ann.with_suffix(".txt")
    if not txt.exists():
        raise FormatError(f"{ann}:1: no text file {txt.name} beside it")
    try:
        lines: List[str] = read_text_file(ann).split("\n")
        text = read_text_file(txt, keep_bom=True)
    except InputError as err:
        raise FormatError(str(err)) from None
    record = GoldRecord(str(ann), 1, text, doc_id=str(ann.with_suffix("")))
    record.relations = []
    ids: Dict[str, int] = {}
    relation_lines = []
    for line_no, line in enumerate(lines, start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        parts = line.split("\t")
        ident = parts[0]
        if ident.startswith("R"):
            relation_lines.append((line_no, ident, parts))
            continue
        if not ident.startswith("T"):
            record.left_out[_KINDS.get(ident[:1], "other annotation lines")] += 1
            continue
        if len(parts) < 2 or " " not in parts[1]:
            raise record.error(ident, f"expected 'T<id><TAB>Label start end<TAB>text', got {line!r}", line_no)
        label, _, ranges = parts[1].partition(" ")
        label = check_label(record, label, ident, line_no)
        fragments = []
        for piece in ranges.split(";"):
            bounds = piece.split()
            if len(bounds) != 2 or not all(b.isdigit() for b in bounds):
                raise record.error(ident, f"expected offsets 'start end', got {piece!r}", line_no)
            start, end = int(bounds[0]), int(bounds[1])
            check_offsets(record, start, end, ident, line_no)
            fragments.append((start, end))
        if len(fragments) > 1:
            spans = ";".join(f"{s} {e}" for s, e in fragments)
            problem = f"discontinuous ({spans})"
            record.mentions.append(Mention(fragments[0][0], fragments[-1][1], label, ident, line_no, problem))
            ids[ident] = len(record.mentions) - 1
            continue
        start, end = fragments[0]
        if len(parts) > 2 and parts[2] != text[start:end]:
            raise record.error(
                ident, f"offsets {start} {end} cover {text[start:end]!r}, not {parts[2]!r}", line_no
            )
        record.mentions.append(Mention(start, end, label, ident, line_no))
        ids[ident] = len(record.mentions) - 1
    for line_no, ident, parts in relation_lines:
        _relation(record, ids, ident, parts, line_no)
    return record


def _relation(record: GoldRecord, ids: Dict[str, int], ident: str, parts: List[str], line_no: int) -> None:
    fields = parts[1].split() if len(parts) > 1 else []
    if len(fields) != 3 or not all(":" in f for f in fields[1:]):
        got = "\t".join(parts)
        raise record.error(ident, f"expected 'R<id><TAB>Label Arg1:T<id> Arg2:T<id>', got {got!r}", line_no)
    ends = []
    for arg in fields[1:]:
        role, _, target = arg.partition(":")
        if target not in ids:
            message = f"{role}:{target} names no entity (no text-bound line {target})"
            raise record.error(ident, message, line_no)
        ends.append(ids[target])
    record.add_relation(ends[0], ends[1], fields[0], ident, line_no)
