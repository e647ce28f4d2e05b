"""convert reads relations from spaCy/Prodigy JSON lines, doccano, Label
Studio and brat: one hand-made document (CJK, nested entities, a relation
between nested entities, relations both ways between two entities, a
relation to an entity that is left out) written in each format here, read
back, and compared with the document itself; then each bad relation."""

import json

import pytest

from spacy_globalpointer import relations
from spacy_globalpointer.training.convert import convert, make_tokenizer
from spacy_globalpointer.training.converters.gold_records import FormatError

TEXT = "张三在北京大学读书。 IBM总部在纽约"
# (start, end, label), characters. " IBM" starts on the space: not on a token boundary, so
# with --skip-invalid it is left out, and so is the relation to it.
ENTS = [(0, 2, "PER"), (3, 7, "ORG"), (3, 5, "LOC"), (10, 14, "ORG"), (17, 19, "LOC")]
LEFT_OUT = {3}
# (head, tail, label) over ENTS; 1 -> 2 joins nested entities, 1 <-> 2 both ways.
RELS = [(0, 1, "works_at"), (1, 2, "located_in"), (2, 1, "hosts"), (3, 4, "located_in")]
FORMATS = ("spans", "doccano", "label-studio", "brat")


def expected():
    """The relations the document holds whose entities are kept, read from it directly."""
    return {
        (*ENTS[h][:2], ENTS[h][2], *ENTS[t][:2], ENTS[t][2], label)
        for h, t, label in RELS
        if h not in LEFT_OUT and t not in LEFT_OUT
    }


def tokens():
    """Prodigy's tokens: one per character, the space in none."""
    return [{"text": c, "start": i, "end": i + 1, "id": k} for k, (i, c) in enumerate(_chars())]


def _chars():
    return [(i, c) for i, c in enumerate(TEXT) if not c.isspace()]


def last_token(end):
    return next(k for k, (i, _) in enumerate(_chars()) if i == end - 1)


def write(fmt, folder, ents=ENTS, rels=RELS, relation_fields=None):
    """The document in one format; ``relation_fields`` replaces the relations' fields."""
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "spans":
        spans = [{"start": s, "end": e, "label": label} for s, e, label in ents]
        out = []
        for k, (h, t, label) in enumerate(rels):
            rel = {"head": last_token(ents[h][1]), "child": last_token(ents[t][1]), "label": label}
            if k != 1:  # the relation 1 -> 2 by its bare token indices; the others by their spans too
                rel.update(head_span=spans[h], child_span=spans[t])
            out.append(rel)
        record = {"text": TEXT, "tokens": tokens(), "spans": spans, "relations": relation_fields or out}
        path = folder / "rel.jsonl"
        path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf8")
    elif fmt == "doccano":
        entities = [
            {"id": 10 + k, "start_offset": s, "end_offset": e, "label": lb}
            for k, (s, e, lb) in enumerate(ents)
        ]
        out = [{"id": k, "from_id": 10 + h, "to_id": 10 + t, "type": lb} for k, (h, t, lb) in enumerate(rels)]
        record = {"id": 1, "text": TEXT, "entities": entities, "relations": relation_fields or out}
        path = folder / "rel.jsonl"
        path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf8")
    elif fmt == "label-studio":
        result = [
            {
                "id": f"e{k}",
                "from_name": "label",
                "to_name": "text",
                "type": "labels",
                "value": {"start": s, "end": e, "text": TEXT[s:e], "labels": [lb]},
            }
            for k, (s, e, lb) in enumerate(ents)
        ]
        # 2 -> 1 drawn from 1 with direction "left"
        for h, t, lb in rels:
            a, b, direction = (t, h, "left") if lb == "hosts" else (h, t, "right")
            result.append(
                {
                    "from_id": f"e{a}",
                    "to_id": f"e{b}",
                    "type": "relation",
                    "direction": direction,
                    "labels": [lb],
                }
            )
        result += relation_fields or []
        task = {"id": 1, "data": {"text": TEXT}, "annotations": [{"id": 1, "result": result}]}
        path = folder / "export.json"
        path.write_text(json.dumps([task], ensure_ascii=False, indent=1), encoding="utf8")
    else:
        lines = [f"T{k + 1}\t{lb} {s} {e}\t{TEXT[s:e]}" for k, (s, e, lb) in enumerate(ents)]
        lines += [f"R{k + 1}\t{lb} Arg1:T{h + 1} Arg2:T{t + 1}" for k, (h, t, lb) in enumerate(rels)]
        lines += relation_fields or []
        (folder / "doc.txt").write_text(TEXT, encoding="utf8")
        (folder / "doc.ann").write_text("\n".join(lines) + "\n", encoding="utf8")
        path = folder
    return path


def read(path, fmt, tmp_path, **kwargs):
    out = tmp_path / "out.spacy"
    report = convert([path], out, format=fmt, nlp=make_tokenizer("zh"), progress=False, **kwargs)
    from spacy.tokens import DocBin

    nlp = make_tokenizer("zh")
    docs = list(DocBin().from_disk(out).get_docs(nlp.vocab))
    return report, docs


@pytest.mark.parametrize("fmt", FORMATS)
def test_relations_are_read_and_counted(fmt, tmp_path):
    path = write(fmt, tmp_path / "in")
    # the entity off the token boundaries stops the conversion, naming it
    with pytest.raises(FormatError, match="do not fall on token boundaries"):
        read(path, fmt, tmp_path)
    report, docs = read(path, fmt, tmp_path, skip_invalid=True)
    (doc,) = docs
    got = {
        (
            r.head.start_char,
            r.head.end_char,
            r.head.label_,
            r.tail.start_char,
            r.tail.end_char,
            r.tail.label_,
            r.label,
        )
        for r in relations(doc)
    }
    assert got == expected()
    assert len(relations(doc)) == len(got)  # none twice
    # per label, read = written + reported
    labels = {label for _, _, label in RELS}
    for label in labels:
        assert report.relations_read[label] == sum(1 for *_, lb in RELS if lb == label)
        assert (
            report.relations_read[label] == report.relations_written[label] + report.relations_reported[label]
        )
    assert report.relations_reported == {"located_in": 1}
    (change,) = report.relation_changes
    assert "left out" in change.reason and "not on token boundaries" in change.reason
    assert change.source.endswith(("rel.jsonl", "export.json", "doc.ann"))
    data = json.loads((tmp_path / "out.report.json").read_text())
    assert data["relations"]["located_in"] == {"read": 2, "written": 1, "reported": 1}
    # with --alignment contract " IBM" becomes "IBM": moved, so its relation is reported as well
    report, _ = read(path, fmt, tmp_path, skip_invalid=True, alignment="contract")
    assert report.relations_reported == {"located_in": 1}
    assert "was moved: contract" in report.relation_changes[0].reason


BAD = {
    "names no entity": {
        "spans": [
            {
                "head_span": {"start": 0, "end": 2, "label": "PER"},
                "child_span": {"start": 5, "end": 9},
                "label": "x",
            }
        ],
        "doccano": [{"id": 0, "from_id": 10, "to_id": 99, "type": "x"}],
        "label-studio": [{"from_id": "e0", "to_id": "nope", "type": "relation", "direction": "right"}],
        "brat": ["R9\tx Arg1:T1 Arg2:T9"],
    },
    "to itself": {
        "spans": [{"head_span": {"start": 0, "end": 2}, "child_span": {"start": 0, "end": 2}, "label": "x"}],
        "doccano": [{"id": 0, "from_id": 10, "to_id": 10, "type": "x"}],
        "label-studio": [{"from_id": "e0", "to_id": "e0", "type": "relation", "direction": "right"}],
        "brat": ["R9\tx Arg1:T1 Arg2:T1"],
    },
    "given twice": {
        "spans": [{"head_span": {"start": 0, "end": 2}, "child_span": {"start": 3, "end": 7}, "label": "x"}]
        * 2,
        "doccano": [{"id": k, "from_id": 10, "to_id": 11, "type": "x"} for k in range(2)],
        "label-studio": [
            {"from_id": "e0", "to_id": "e1", "type": "relation", "direction": "right", "labels": ["x"]}
        ]
        * 2,
        "brat": ["R8\tx Arg1:T1 Arg2:T2", "R9\tx Arg1:T1 Arg2:T2"],
    },
    "label must be a non-empty string": {
        "spans": [{"head_span": {"start": 0, "end": 2}, "child_span": {"start": 3, "end": 7}, "label": 5}],
        "doccano": [{"id": 0, "from_id": 10, "to_id": 11, "type": 5}],
        "label-studio": [
            {"from_id": "e0", "to_id": "e1", "type": "relation", "direction": "right", "labels": [5]}
        ],
    },
    "expected one of \\('right', 'left', 'bi'\\), got None": {
        "label-studio": [{"from_id": "e0", "to_id": "e1", "type": "relation", "labels": ["x"]}],
    },
    "token 6 ends 2 spans": {
        "spans": [{"head": 1, "child": 6, "label": "x"}],
    },
}


@pytest.mark.parametrize(
    "problem,fmt", [(problem, fmt) for problem, by_format in BAD.items() for fmt in by_format]
)
def test_a_bad_relation_is_an_error_or_a_listed_record(problem, fmt, tmp_path):
    ents = [e for k, e in enumerate(ENTS) if k not in LEFT_OUT] + [(5, 7, "ORG")]  # 大学 ends with 北京大学
    fields = BAD[problem][fmt]
    path = write(fmt, tmp_path / "in", ents=ents, rels=[], relation_fields=fields)
    with pytest.raises(FormatError, match=problem) as caught:
        read(path, fmt, tmp_path)
    message = str(caught.value)
    assert message.startswith(str(path if fmt != "brat" else path / "doc.ann") + ":")
    assert "field " in message
    report, docs = read(path, fmt, tmp_path, skip_invalid=True)
    assert docs == [] and report.invalid == [message]
