"""CLUENER conversion, offsets, validation, submission and metrics."""

import json

import pytest
import spacy
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_globalpointer.cli import app
from spacy_globalpointer.corpus.score import exact_scores, official_scores
from spacy_globalpointer.files.json_lines import parse_json_line
from spacy_globalpointer.training.alignment import record_to_doc as align
from spacy_globalpointer.training.convert import convert, make_tokenizer
from spacy_globalpointer.training.converters import cluener
from spacy_globalpointer.training.converters.cluener import (
    CluenerError,
    char_offsets_to_cluener,
    cluener_labels,
    cluener_to_char_offsets,
    parse_gold_record,
)
from spacy_globalpointer.training.converters.gold_records import FormatError, GoldRecord

runner = CliRunner()

# Latin letters, digits, spaces and emoji inside Chinese text; the emoji and
# the combining accent are single code points in Python's str.
MIXED = "我在New York买了3部iPhone 15😀手机，花了8999元。Café́好"
MIXED_ENTS = {
    "address": ["New York"],
    "game": ["iPhone 15"],
    "position": ["8999"],
    "scene": ["Café́"],
    "name": ["手机"],
}


def gold_record(line: str, path: str = "f.json", line_no: int = 1) -> GoldRecord:
    """One CLUENER line parsed as convert parses it: JSON, then the record."""
    return parse_gold_record(parse_json_line(line, path, line_no), path, line_no)


def record_to_doc(nlp, record):
    """The Doc convert makes of a record (strict alignment)."""
    return align(nlp, record, "sc")[0]


def mixed_line() -> str:
    label = {}
    for lab, surfaces in MIXED_ENTS.items():
        for surface in surfaces:
            start = MIXED.index(surface)
            label.setdefault(lab, {})[surface] = [[start, start + len(surface) - 1]]
    return json.dumps({"id": 7, "text": MIXED, "label": label}, ensure_ascii=False)


def test_offset_functions_are_inverse():
    assert cluener_to_char_offsets(3, 5) == (3, 6)
    assert char_offsets_to_cluener(3, 6) == (3, 5)
    for s in range(5):
        for e in range(s, 8):
            assert char_offsets_to_cluener(*cluener_to_char_offsets(s, e)) == (s, e)


def test_mixed_script_offsets_round_trip():
    nlp = make_tokenizer("zh")
    record = gold_record(mixed_line(), "mixed.json")
    doc = record_to_doc(nlp, record)
    assert doc.text == MIXED
    got = {(s.label_, s.text) for s in doc.spans["sc"]}
    assert got == {(lab, surface) for lab, ss in MIXED_ENTS.items() for surface in ss}
    for span in doc.spans["sc"]:
        # spaCy's end_char is exclusive, CLUENER's end inclusive
        start, end = char_offsets_to_cluener(span.start_char, span.end_char)
        assert MIXED[start : end + 1] == span.text
        assert MIXED[span.start_char : span.end_char] == span.text
    assert doc.user_data[cluener.ID_KEY] == 7
    assert cluener_labels(doc, source="spans") == json.loads(mixed_line())["label"]


def test_one_character_entity_and_emoji_entity():
    text = "😀是表情A"
    line = json.dumps({"text": text, "label": {"name": {"😀": [[0, 0]], "A": [[4, 4]]}}}, ensure_ascii=False)
    doc = record_to_doc(make_tokenizer("zh"), gold_record(line))
    assert [(s.start_char, s.end_char, s.text) for s in doc.spans["sc"]] == [(0, 1, "😀"), (4, 5, "A")]
    assert cluener_labels(doc, source="ents") == {"name": {"😀": [[0, 0]], "A": [[4, 4]]}}


@pytest.mark.parametrize(
    "line,where,what",
    [
        ('{"text": "abc", "label": {', "f.json:3", "not valid JSON"),
        ('{"label": {}}', "f.json:3: field text", "missing"),
        (
            '{"text": "北京欢迎你", "label": {"address": {"北京": [[0, 2]]}}}',
            "f.json:3: field label.address.北京",
            "cover '北京欢'",
        ),
        (
            '{"text": "北京", "label": {"address": {"北京": [[1, 5]]}}}',
            "f.json:3: field label.address.北京",
            "out of range",
        ),
        (
            '{"text": "北京", "label": {"address": {"北京": [0, 1]}}}',
            "f.json:3: field label.address.北京",
            "expected \\[start, end\\]",
        ),
        ('{"text": "北京", "label": {"address": ["北京"]}}', "f.json:3: field label.address", "expected"),
        ("[1, 2]", "f.json:3", "expected a JSON object"),
    ],
)
def test_bad_lines_name_file_line_and_field(line, where, what):
    with pytest.raises(CluenerError, match=where) as err:
        gold_record(line, "f.json", 3)
    assert err.match(what)


def test_span_off_token_boundaries_is_an_error():
    nlp = make_tokenizer("zh")
    line = json.dumps({"text": "北京 欢迎", "label": {"address": {"北京 ": [[0, 2]]}}}, ensure_ascii=False)
    with pytest.raises(
        FormatError, match="f.json:1: field label.address.北京 : characters 0..3 .*token boundaries"
    ):
        record_to_doc(nlp, gold_record(line))


def test_convert_bad_file_then_skip_invalid(tmp_path):
    good = '{"text": "北京欢迎你", "label": {"address": {"北京": [[0, 1]]}}}'
    lines = [
        good,
        '{"text": "x", "label"',
        good,
        '{"text": "北京", "label": {"address": {"北": [[0, 1]]}}}',
        good,
        '{"text": "北京", "label": {"address": {"北京": [[0, 9]]}}}',
    ]
    src = tmp_path / "bad.json"
    src.write_text("\n".join(lines) + "\n", encoding="utf8")
    out = tmp_path / "out.spacy"
    result = runner.invoke(app, ["convert", str(src), str(out), "--no-progress"])
    assert result.exit_code == 1 and f"{src}:2" in result.output
    with pytest.raises(CluenerError, match=f"{src}:2"):
        convert([src], out, format="cluener", progress=False)
    report = convert([src], out, format="cluener", skip_invalid=True, progress=False)
    assert report.docs == 3 and sum(report.written.values()) == 3
    assert len(report.invalid) == 3
    assert [r.split(": ")[0] for r in report.invalid] == [f"{src}:2", f"{src}:4", f"{src}:6"]
    docs = list(DocBin().from_disk(out).get_docs(spacy.blank("zh").vocab))
    assert len(docs) == 3 and all(d.spans["sc"][0].text == "北京" for d in docs)
    result = runner.invoke(app, ["convert", str(src), str(out), "--skip-invalid", "--no-progress"])
    assert result.exit_code == 0
    assert "Left out 3 invalid record(s)" in result.output and f"{src}:6" in result.output


@pytest.mark.parametrize("split,n_docs,n_ents", [("train", 10748, 23971), ("dev", 1343, 3072)])
def test_whole_split_converts_and_round_trips(cluener_dir, tmp_path, split, n_docs, n_ents):
    src = cluener_dir / f"{split}.json"
    out = tmp_path / f"{split}.spacy"
    report = convert([src], out, progress=False)
    assert report.format == "cluener"
    assert report.docs == n_docs and sum(report.written.values()) == n_ents and not report.invalid
    assert report.read == report.written and not report.reported
    nlp = spacy.blank("zh")
    docs = list(DocBin().from_disk(out).get_docs(nlp.vocab))
    assert len(docs) == n_docs
    assert sum(len(d.spans["sc"]) for d in docs) == n_ents
    for doc, line in zip(docs, open(src, encoding="utf8")):
        gold = json.loads(line)
        assert doc.text == gold["text"]
        assert cluener_labels(doc, source="spans") == {
            lab: {e: sorted(p) for e, p in ents.items()} for lab, ents in gold["label"].items()
        }
        # doc.ents: never overlapping, all of them gold spans
        assert {(e.start, e.end, e.label_) for e in doc.ents} <= {
            (s.start, s.end, s.label_) for s in doc.spans["sc"]
        }
    if split == "train":
        assert report.not_in_ents == 2


def test_scores_on_hand_made_files(tmp_path):
    gold = [
        {"text": "北京和上海", "label": {"address": {"北京": [[0, 1]], "上海": [[3, 4]]}}},
        {"text": "张三张三", "label": {"name": {"张三": [[0, 1], [2, 3]]}}},
        {"text": "无", "label": {}},
    ]
    pred = [
        {"label": {"address": {"北京": [[0, 1]]}, "name": {"和上": [[2, 3]]}}},  # 1 tp, 1 fn (上海), 1 fp
        {"label": {"name": {"张三": [[0, 1]], "三张": [[1, 2]]}}},  # 1 tp, 1 fn, 1 fp
        {"label": {"address": {"无": [[0, 0]]}}},  # 1 fp
    ]
    exact = exact_scores(gold, pred)
    assert (exact["tp"], exact["fp"], exact["fn"]) == (2, 3, 2)
    assert exact["p"] == pytest.approx(2 / 5) and exact["r"] == pytest.approx(2 / 4)
    assert exact["f"] == pytest.approx(2 * 0.4 * 0.5 / 0.9)
    assert exact["per_type"]["address"] == pytest.approx(
        {"p": 0.5, "r": 0.5, "f": 0.5, "tp": 1, "fp": 1, "fn": 1}
    )
    official = official_scores(gold, pred)
    # address: strings {北京,上海} vs {北京}, {} vs {无}: tp 1, fn 1, fp 1 -> f 0.5
    # name: {张三} vs {张三, 三张} and {} vs {和上}: tp 1, fp 2, fn 0 -> p 1/3, r 1, f 0.5
    assert official["per_type"]["address"]["f"] == pytest.approx(0.5)
    assert official["per_type"]["name"]["f"] == pytest.approx(0.5)
    assert official["macro_f"] == pytest.approx((0.5 + 0.5) / 10)  # macro over CLUENER's 10 labels
    g, p = tmp_path / "g.json", tmp_path / "p.json"
    g.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in gold), encoding="utf8")
    p.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in pred), encoding="utf8")
    result = runner.invoke(app, ["score", str(g), str(p), "--output", str(tmp_path / "s.json")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "s.json").read_text()) == {"exact": exact, "official": official}


def test_predict_test_set_submission(cluener_dir, tmp_path):
    """An initialized (untrained) pipeline predicts plenty of spans: every
    one must come back with ids in order and inclusive ends."""
    nlp = spacy.blank("zh")
    gp = nlp.add_pipe("globalpointer_ner", config={"threshold": -1e9})
    for label in cluener.CLUENER_LABELS:
        gp.add_label(label)
    nlp.initialize()
    nlp.to_disk(tmp_path / "model")
    out = tmp_path / "cluener_predict.json"
    args = [str(tmp_path / "model"), str(cluener_dir / "test.json"), str(out), "--format", "cluener"]
    result = runner.invoke(app, ["predict", *args, "--no-progress", "--batch-size", "128"])
    assert result.exit_code == 0, result.output
    texts = [json.loads(line)["text"] for line in open(cluener_dir / "test.json", encoding="utf8")]
    lines = [json.loads(line) for line in open(out, encoding="utf8")]
    assert len(lines) == 1345
    assert [line["id"] for line in lines] == list(range(1345))
    n = 0
    for line, text in zip(lines, texts):
        for ents in line["label"].values():
            for surface, positions in ents.items():
                for start, end in positions:
                    assert text[start : end + 1] == surface
                    n += 1
    assert n > 1345
    # the interactive command, non-interactively: a table and a displaCy page
    html = tmp_path / "sample.html"
    args = [str(tmp_path / "model"), "--text", "浙商银行叶老桂博士", "--displacy", str(html)]
    result = runner.invoke(app, ["interactive", *args])
    assert result.exit_code == 0, result.output
    assert "doc.ents (flat)" in html.read_text(encoding="utf8") and "叶" in html.read_text(encoding="utf8")
