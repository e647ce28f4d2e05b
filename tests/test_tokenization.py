"""Tokenization in `convert`: word tokens of a language (en, de), Chinese
characters (zh), a pipeline's own tokenizer (--model), and what strict,
expand and contract do with a span that is not on token boundaries."""

import json

import pytest
import spacy
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_globalpointer.cli import app
from spacy_globalpointer.training.convert import convert, make_tokenizer
from spacy_globalpointer.training.converters.gold_records import FormatError

runner = CliRunner()


def write(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf8")
    return path


def record(text, *pieces):
    spans = []
    for surface, label in pieces:
        start = text.index(surface)
        spans.append({"start": start, "end": start + len(surface), "label": label})
    return {"text": text, "spans": spans}


def docs(path):
    return list(DocBin().from_disk(path).get_docs(spacy.blank("xx").vocab))


@pytest.mark.parametrize(
    "lang,text,pieces",
    [
        ("en", "Barack Obama visited New York City.", [("New York City", "LOC"), ("New York", "LOC")]),
        (
            "de",
            "Die Bundesrepublik Deutschland (BRD) wurde 1949 gegründet.",
            [("BRD", "ORG"), ("1949", "DATE")],
        ),
        ("zh", "我在北京大学读书", [("北京大学", "ORG"), ("北京", "LOC")]),
    ],
)
def test_tokens_are_the_languages_own(tmp_path, lang, text, pieces):
    src = write(tmp_path / "in.jsonl", [record(text, *pieces)])
    convert([src], tmp_path / "out.spacy", nlp=make_tokenizer(lang), progress=False)
    (doc,) = docs(tmp_path / "out.spacy")
    expected = list(text) if lang == "zh" else [t.text for t in spacy.blank(lang)(text)]
    assert [t.text for t in doc] == expected
    assert sorted(s.text for s in doc.spans["sc"]) == sorted(surface for surface, _ in pieces)


def test_a_pipelines_own_tokenizer(tmp_path):
    nlp = spacy.blank("en")
    nlp.tokenizer.add_special_case("NewYork", [{"ORTH": "New"}, {"ORTH": "York"}])
    nlp.to_disk(tmp_path / "pipeline")
    src = write(tmp_path / "in.jsonl", [record("I love NewYork", ("New", "LOC"))])
    out = tmp_path / "out.spacy"
    result = runner.invoke(app, ["convert", str(src), str(out), "--lang", "en", "--no-progress"])
    assert result.exit_code == 1 and "token boundaries" in result.output  # en alone: one token
    args = ["convert", str(src), str(out), "--model", str(tmp_path / "pipeline"), "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    (doc,) = docs(out)
    assert [t.text for t in doc] == ["I", "love", "New", "York"] and doc.spans["sc"][0].text == "New"


def test_strict_expand_contract_on_a_span_inside_a_token(tmp_path):
    src = write(tmp_path / "in.jsonl", [{"text": "x"}, record("I am unhappy today", ("happy", "MOOD"))])
    en = make_tokenizer("en")
    with pytest.raises(FormatError) as err:
        convert([src], tmp_path / "s.spacy", format="spans", nlp=en, progress=False)
    assert str(err.value).startswith(
        f"{src}:2: field spans[0]: characters 7..12 ('happy') do not fall on token boundaries: the nearest "
        "token start is 5 or 13, the nearest token end 12 (on a boundary)"
    )
    report = convert([src], tmp_path / "e.spacy", format="spans", nlp=en, alignment="expand", progress=False)
    doc = docs(tmp_path / "e.spacy")[1]
    assert [(s.text, s.label_) for s in doc.spans["sc"]] == [("unhappy", "MOOD")]
    assert report.changed == {"MOOD": 1} and report.written == {"MOOD": 1}
    (change,) = report.changes
    assert (change.line, change.start, change.end, change.new_start, change.new_end) == (2, 7, 12, 5, 12)
    report = convert(
        [src], tmp_path / "c.spacy", format="spans", nlp=en, alignment="contract", progress=False
    )
    doc = docs(tmp_path / "c.spacy")[1]
    assert doc.text == "I am unhappy today" and len(doc.spans["sc"]) == 0
    assert report.reported == {"MOOD": 1} and report.reasons == {"no token left (contract)": 1}
    assert report.read["MOOD"] == report.written["MOOD"] + report.reported["MOOD"]
