"""Every annotation format `convert` reads: hand-made files with nested,
overlapping, adjacent and misaligned spans, an empty text, CJK, emoji and
combining marks. The Docs must hold exactly what the test wrote, the
per-label counts must add up, and bad records must name file and line."""

import json
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
import spacy
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_globalpointer.cli import app
from spacy_globalpointer.training.convert import convert, detect_format, make_tokenizer
from spacy_globalpointer.training.converters.conll import detect_scheme, read_conll
from spacy_globalpointer.training.converters.gold_records import FormatError

runner = CliRunner()
Spans = List[Tuple[int, int, str]]


def spans_of(text: str, *pieces: Tuple[str, str, int]) -> Spans:
    """(start, end, label) of each (surface, label, occurrence) in text."""
    out = []
    for surface, label, nth in pieces:
        start = -1
        for _ in range(nth + 1):
            start = text.index(surface, start + 1)
        out.append((start, start + len(surface), label))
    return out


T1 = "Barack Obama visited New York City."
T3 = "我在北京大学读书😀 cafe\u0301!"
# Nested (New York in New York City, 北京 in 北京大学), overlapping (New York / York City,
# 北京大学 / 大学读), adjacent (Barack Obama / visited, 北京大学 / 读书), emoji, a combining mark.
TRUTH: List[Tuple[str, Spans]] = [
    (
        T1,
        spans_of(
            T1,
            ("Barack Obama", "PER", 0),
            ("visited", "ACT", 0),
            ("New York", "LOC", 0),
            ("New York City", "LOC", 0),
            ("York City", "ORG", 0),
        ),
    ),
    ("", []),
    (
        T3,
        spans_of(
            T3,
            ("北京大学", "ORG", 0),
            ("北京", "LOC", 0),
            ("大学读", "ODD", 0),
            ("读书", "ACT", 0),
            ("😀", "EMO", 0),
            ("cafe\u0301", "LOC", 0),
        ),
    ),
]
# Starts on the space after "Hello": on no token boundary of the character tokenizer.
MISALIGNED = ("Hello world", [(5, 11, "LOC")])


def docs_of(path: Path) -> list:
    return list(DocBin().from_disk(path).get_docs(spacy.blank("xx").vocab))


def triples(doc) -> Spans:
    return sorted((s.start_char, s.end_char, s.label_) for s in doc.spans["sc"])


def check_counts(report) -> None:
    for label in set(report.read) | set(report.written):
        assert report.read[label] == report.written[label] + report.reported[label], label


def check_docs(out: Path, truth: List[Tuple[str, Spans]]) -> None:
    docs = docs_of(out)
    assert [d.text for d in docs] == [text for text, _ in truth]
    for doc, (text, spans) in zip(docs, truth):
        assert triples(doc) == sorted(spans), text
        ents = [(e.start_char, e.end_char, e.label_) for e in doc.ents]
        assert set(ents) <= set(spans) and all(a[1] <= b[0] for a, b in zip(ents, ents[1:]))


def run_all_alignments(src: Path, tmp_path: Path, fmt: str, where: Tuple[str, int, str], **options) -> None:
    """strict stops at the misaligned span naming its file, line and field;
    --skip-invalid leaves it out and reports it; expand moves it onto 'world'."""
    nlp = make_tokenizer("zh")
    source, line, field = where
    message = f"{source}:{line}: field {field}: characters 5..11 (' world') do not fall on token boundaries"
    with pytest.raises(FormatError) as err:
        convert([src], tmp_path / "a.spacy", format=fmt, nlp=nlp, progress=False, **options)
    assert str(err.value).startswith(message), str(err.value)
    report = convert(
        [src], tmp_path / "b.spacy", format=fmt, nlp=nlp, skip_invalid=True, progress=False, **options
    )
    check_docs(tmp_path / "b.spacy", TRUTH + [(MISALIGNED[0], [])])
    check_counts(report)
    assert report.reported == {"LOC": 1} and report.reasons == {"not on token boundaries": 1}
    assert sum(report.read.values()) == sum(len(s) for _, s in TRUTH) + 1
    (change,) = report.changes
    assert (change.source, change.line, change.text) == (source, line, " world")
    report = convert(
        [src], tmp_path / "c.spacy", format=fmt, nlp=nlp, alignment="expand", progress=False, **options
    )
    check_docs(tmp_path / "c.spacy", TRUTH + [(MISALIGNED[0], [(6, 11, "LOC")])])
    assert report.changed == {"LOC": 1} and not report.reported
    check_counts(report)
    written = json.loads((tmp_path / "c.report.json").read_text(encoding="utf8"))
    assert written["changes"] == [
        {**change.to_dict(), "reason": "expand", "new_start": 6, "new_end": 11, "kind": "changed"}
    ]


# --- spans (spaCy / Prodigy) ------------------------------------------------------------


def write_jsonl(path: Path, records: List[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf8")
    return path


def spans_records() -> List[dict]:
    return [
        {"text": text, "spans": [{"start": s, "end": e, "label": lab} for s, e, lab in spans]}
        for text, spans in TRUTH + [MISALIGNED]
    ]


def test_spans_format(tmp_path):
    records = spans_records()
    records.insert(1, {"text": "rejected", "spans": [], "answer": "reject"})
    src = write_jsonl(tmp_path / "data.jsonl", records)
    assert detect_format(src)[0] == "spans"
    run_all_alignments(src, tmp_path, "spans", (str(src), 5, "spans[0]"))
    report = convert([src], tmp_path / "d.spacy", format="spans", nlp=make_tokenizer("zh"), skip_invalid=True)
    assert report.ignored == {"answer 'reject'": 1} and report.records == 5 and report.docs == 4


def test_spans_with_their_own_tokens(tmp_path):
    text = "c-fos  gene of jun B"
    tokens = [(0, 5), (7, 11), (12, 14), (15, 18), (19, 20)]
    record = {
        "text": text,
        "tokens": [{"text": text[s:e], "start": s, "end": e} for s, e in tokens],
        "spans": [
            {"start": 0, "end": 11, "label": "DNA", "token_start": 0, "token_end": 1},
            {"start": 15, "end": 20, "label": "DNA", "token_start": 3, "token_end": 4},
            {"start": 0, "end": 5, "label": "DNA"},
        ],
    }
    src = write_jsonl(tmp_path / "t.jsonl", [record])
    report = convert([src], tmp_path / "t.spacy", progress=False)  # no tokenizer needed
    (doc,) = docs_of(tmp_path / "t.spacy")
    assert doc.text == text and [t.text for t in doc if not t.is_space] == [text[s:e] for s, e in tokens]
    assert triples(doc) == [(0, 5, "DNA"), (0, 11, "DNA"), (15, 20, "DNA")] and report.written == {"DNA": 3}
    record["spans"][1]["token_end"] = 3
    write_jsonl(src, [{"text": "x"}, record])
    with pytest.raises(FormatError, match=f"{src}:2: field spans\\[1\\]: token_start/token_end 3/3"):
        convert([src], tmp_path / "t.spacy", format="spans", nlp=make_tokenizer("en"), progress=False)


# --- doccano -----------------------------------------------------------------------------


def test_doccano_format(tmp_path):
    records = [
        {"text": t, "label": [[s, e, lab] for s, e, lab in spans]} for t, spans in TRUTH + [MISALIGNED]
    ]
    records[2] = {
        "id": 9,
        "text": TRUTH[2][0],
        "entities": [{"start_offset": s, "end_offset": e, "label": lab} for s, e, lab in TRUTH[2][1]],
    }
    src = write_jsonl(tmp_path / "doccano.jsonl", records)
    assert detect_format(src)[0] == "doccano"
    run_all_alignments(src, tmp_path, "doccano", (str(src), 4, "label[0]"))
    assert docs_of(tmp_path / "c.spacy")[2].user_data["record_id"] == 9
    write_jsonl(src, records[:1] + [{"text": "ab", "labels": [[0, 3, "X"]]}])
    with pytest.raises(FormatError, match=f"{src}:2: field labels\\[0\\]: offsets 0..3 out of range"):
        convert([src], tmp_path / "e.spacy", format="doccano", nlp=make_tokenizer("zh"), progress=False)


# --- Label Studio ------------------------------------------------------------------------


def ls_result(spans: Spans) -> List[dict]:
    return [{"type": "labels", "value": {"start": s, "end": e, "labels": [lab]}} for s, e, lab in spans]


def test_label_studio_format(tmp_path):
    tasks = []
    for k, (text, spans) in enumerate(TRUTH + [MISALIGNED]):
        tasks.append({"id": k, "data": {"text": text}, "annotations": [{"result": ls_result(spans)}]})
    # Several annotations: the newest not cancelled is used, the others counted.
    text, spans = TRUTH[0]
    tasks[0]["annotations"] = [
        {"result": ls_result(spans[:1]), "updated_at": "2024-01-01T00:00:00Z"},
        {"result": ls_result(spans), "updated_at": "2024-03-01T00:00:00Z"},
        {"result": ls_result(spans[:2]), "updated_at": "2024-05-01T00:00:00Z", "was_cancelled": True},
    ]
    tasks[0]["annotations"][1]["result"].append({"type": "choices", "value": {"choices": ["news"]}})
    tasks.insert(1, {"id": 99, "data": {"text": "nothing"}, "annotations": []})
    src = tmp_path / "export.json"
    dumped = json.dumps(tasks, ensure_ascii=False, indent=1)
    src.write_text(dumped, encoding="utf8")
    assert detect_format(src)[0] == "label-studio"
    line = [i + 1 for i, text in enumerate(dumped.split("\n")) if text == " {"][4]  # where task 4 opens
    run_all_alignments(src, tmp_path, "label-studio", (str(src), line, "[4].annotations[0].result[0].value"))
    report = convert([src], tmp_path / "f.spacy", nlp=make_tokenizer("zh"), skip_invalid=True, progress=False)
    assert report.ignored == {"no annotation that was not cancelled": 1}
    assert report.left_out == {
        "other annotations": 1,
        "cancelled annotations": 1,
        "results that are neither span labels nor relations": 1,
    }
    src.write_text('[{"data": {"text": "ab"}, "annotations": []},\n {"data": {}}]', encoding="utf8")
    with pytest.raises(FormatError, match=f"{src}:2: field \\[1\\].data.text: missing"):
        convert([src], tmp_path / "g.spacy", nlp=make_tokenizer("zh"), progress=False)


# --- brat --------------------------------------------------------------------------------


def write_brat(folder: Path, docs: List[Tuple[str, Spans]], extra: Dict[int, List[str]] = {}) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k, (text, spans) in enumerate(docs):
        (folder / f"doc{k}.txt").write_text(text, encoding="utf8")
        lines = [f"T{i + 1}\t{lab} {s} {e}\t{text[s:e]}" for i, (s, e, lab) in enumerate(spans)]
        (folder / f"doc{k}.ann").write_text("\n".join(lines + extra.get(k, [])) + "\n", encoding="utf8")
    return folder


def test_brat_format(tmp_path):
    folder = write_brat(
        tmp_path / "ann", TRUTH + [MISALIGNED], {0: ["R1\tLives Arg1:T1 Arg2:T3", "#1\tNote T1\tok"]}
    )
    assert detect_format(folder)[0] == "brat"
    run_all_alignments(folder, tmp_path, "brat", (str(folder / "doc3.ann"), 1, "T1"))
    report = convert(
        [folder], tmp_path / "h.spacy", nlp=make_tokenizer("zh"), skip_invalid=True, progress=False
    )
    # the relation is read (tests/test_relation_formats.py); the note is counted
    assert report.left_out == {"notes": 1}
    assert report.relations_read == report.relations_written == {"Lives": 1}
    # a discontinuous entity is reported, never joined
    (folder / "doc1.ann").write_text("T1\tLOC 0 2;4 6\tBa Ob\n", encoding="utf8")
    (folder / "doc1.txt").write_text("Barack Obama", encoding="utf8")
    with pytest.raises(FormatError, match=f"{folder / 'doc1.ann'}:1: field T1: discontinuous \\(0 2;4 6\\)"):
        convert([folder], tmp_path / "i.spacy", nlp=make_tokenizer("zh"), progress=False)
    report = convert(
        [folder], tmp_path / "i.spacy", nlp=make_tokenizer("zh"), skip_invalid=True, progress=False
    )
    assert report.reasons["discontinuous (0 2;4 6)"] == 1 and report.reported["LOC"] == 2
    assert [d.text for d in docs_of(tmp_path / "i.spacy")][1] == "Barack Obama"
    check_counts(report)
    (folder / "doc1.ann").write_text("T1\tLOC 0 2\tXX\n", encoding="utf8")
    with pytest.raises(
        FormatError, match=f"{folder / 'doc1.ann'}:1: field T1: offsets 0 2 cover 'Ba', not 'XX'"
    ):
        convert([folder], tmp_path / "j.spacy", nlp=make_tokenizer("zh"), progress=False)


# --- CoNLL -------------------------------------------------------------------------------

# (tokens, entities as (first token, last token inclusive, label)): adjacent entities of one type.
SENTENCES = [
    (["Barack", "Obama", "visited", "New", "York", "."], [(0, 1, "PER"), (3, 4, "LOC")]),
    (["Paris", "Rome", "and", "北京", "😀"], [(0, 0, "LOC"), (1, 1, "LOC"), (3, 4, "LOC")]),
    (["nothing", "here"], []),
]


def encode(sentences, scheme: str) -> List[List[str]]:
    """The tags of each sentence in a scheme, written by the test's own rules."""
    out = []
    for tokens, ents in sentences:
        tags = ["O"] * len(tokens)
        previous_end, previous_label = -2, None
        for a, b, lab in ents:
            for i in range(a, b + 1):
                if scheme == "iob2":
                    tags[i] = ("B-" if i == a else "I-") + lab
                elif scheme == "iob1":
                    begins = i == a and previous_end == a - 1 and previous_label == lab
                    tags[i] = ("B-" if begins else "I-") + lab
                else:
                    inner = "M-" if scheme == "bmes" else "I-"
                    tags[i] = ("S-" if a == b else "B-" if i == a else "E-" if i == b else inner) + lab
            previous_end, previous_label = b, lab
        out.append(tags)
    return out


def write_conll(path: Path, sentences, scheme: str, docstart: bool = False) -> Path:
    lines = ["-DOCSTART- -X- O", ""] if docstart else []
    for (tokens, _), tags in zip(sentences, encode(sentences, scheme)):
        lines += [f"{tok}\tX\t{tag}" for tok, tag in zip(tokens, tags)] + [""]
    path.write_text("\n".join(lines), encoding="utf8")
    return path


@pytest.mark.parametrize("scheme", ["iob1", "iob2", "bioes", "bmes"])
def test_conll_schemes_detected_and_decoded(tmp_path, scheme):
    sentences = SENTENCES + ([(["a", "b", "c"], [(0, 2, "X")])] if scheme != "iob1" else [])
    src = write_conll(tmp_path / "train.conll", sentences, scheme, docstart=True)
    rows = [
        [(0, tok, tag) for tok, tag in zip(t, tags)]
        for (t, _), tags in zip(sentences, encode(sentences, scheme))
    ]
    assert detect_scheme(rows) == scheme
    report = convert([src], tmp_path / "out.spacy", progress=False)
    assert report.format == "conll"
    for doc, (tokens, ents) in zip(docs_of(tmp_path / "out.spacy"), sentences):
        assert [t.text for t in doc] == tokens
        assert [(s.start, s.end, s.label_) for s in doc.spans["sc"]] == [
            (a, b + 1, lab) for a, b, lab in ents
        ]
    check_counts(report)


@pytest.mark.parametrize("lang, separator", [("zh", ""), ("en", " "), (None, " ")])
def test_conll_text_is_joined_as_the_language_writes(tmp_path, lang, separator):
    """A character-per-line Chinese file (Weibo NER, say) gives back the raw text, so the
    Docs' offsets are those of the text the pipeline later sees; a spaced language keeps spaces."""
    raw = "科技全方位服务北京大学"
    chars = list(raw)
    entities = [(7, 10, "ORG")]
    src = write_conll(tmp_path / "weibo.conll", [(chars, entities)], "iob2")
    args = {"nlp": make_tokenizer(lang)} if lang else {}
    convert([src], tmp_path / "out.spacy", progress=False, **args)
    (doc,) = docs_of(tmp_path / "out.spacy")
    assert doc.text == separator.join(chars)
    assert [t.text for t in doc] == chars
    start = raw.index("北京大学") + (7 * len(separator))
    assert [(s.start_char, s.end_char, s.text) for s in doc.spans["sc"]] == [
        (start, start + len(separator.join("北京大学")), separator.join("北京大学"))
    ]


def test_conll_bad_tags_name_the_line(tmp_path):
    src = tmp_path / "bad.conll"
    src.write_text("a\tO\nb\tI-X\n\nc\tB-X\nd\tFOO\n", encoding="utf8")
    with pytest.raises(FormatError, match=f"{src}:5: field tag: 'FOO' is not a tag"):
        list(_raise_first(read_conll(src)))
    with pytest.raises(
        FormatError, match=f"{src}:2: field tag: I-X opens an entity, which IOB2 does not allow"
    ):
        list(_raise_first(read_conll(src, scheme="iob2")))
    src.write_text("a\tB-X\nb\tO\n\nc\tB-X\n", encoding="utf8")
    errors = [str(e) for e in read_conll(src, scheme="bioes")]
    assert errors[0].startswith(f"{src}:2: field tag: O before the entity opened at line 1 ended")
    assert errors[1].startswith(f"{src}:4: field tag: the entity opened here is not closed")


def _raise_first(items):
    for item in items:
        if isinstance(item, FormatError):
            raise item
        yield item


# --- the command -------------------------------------------------------------------------


def test_convert_command_prints_per_label_counts_and_writes_the_report(tmp_path):
    src = write_jsonl(tmp_path / "data.jsonl", spans_records())
    out = tmp_path / "out.spacy"
    args = ["convert", str(src), str(out), "--lang", "zh", "--skip-invalid", "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Format: spans" in result.output and "not on token boundaries" in result.output
    assert "LOC" in result.output and str(tmp_path / "out.report.json") in result.output
    report = json.loads((tmp_path / "out.report.json").read_text(encoding="utf8"))
    assert report["labels"]["LOC"] == {"read": 5, "written": 4, "changed": 0, "reported": 1}
    result = runner.invoke(app, ["convert", str(src), str(out), "--lang", "zh", "--format", "xml"])
    assert result.exit_code == 2 and "spans" in result.output and "label-studio" in result.output
    result = runner.invoke(app, ["convert", str(src), str(out), "--no-progress"])
    assert result.exit_code == 1 and "give --lang or --model" in result.output


def test_dev_split_is_deterministic_and_keeps_documents_whole(tmp_path):
    sentences = [([f"w{d}", f"s{s}"], [(0, 0, "X")]) for d in range(10) for s in range(3)]
    lines = []
    for d in range(10):
        lines += ["-DOCSTART- O", ""]
        for s in range(3):
            lines += [f"w{d}\tB-X", f"s{s}\tO", ""]
    src = tmp_path / "docs.conll"
    src.write_text("\n".join(lines), encoding="utf8")
    splits = []
    for _ in range(2):
        report = convert(
            [src], tmp_path / "train.spacy", dev_fraction=0.25, dev_output=tmp_path / "dev.spacy", seed=3
        )
        dev = [d.text for d in docs_of(tmp_path / "dev.spacy")]
        train = [d.text for d in docs_of(tmp_path / "train.spacy")]
        splits.append((train, dev))
        assert report.dev_docs == 9 and report.docs == 21  # ceil(0.25 x 10) = 3 documents of 3
        assert sorted(train + dev) == sorted(" ".join(t) for t, _ in sentences)
        assert {t.split()[0] for t in train}.isdisjoint({t.split()[0] for t in dev})  # documents whole
    assert splits[0] == splits[1]
    other = convert([src], tmp_path / "o.spacy", dev_fraction=0.25, dev_output=tmp_path / "od.spacy", seed=4)
    assert other.dev_docs == 9
    assert [d.text for d in docs_of(tmp_path / "od.spacy")] != splits[0][1]
