"""Bytes a reader meets in real files: a line that is not UTF-8, a JSON
escape of a lone surrogate (valid JSON, not Unicode), a byte-order mark.
In every reader (`convert`'s formats, CLUENER, `predict`'s inputs): a clear
error naming file and line, or with --skip-invalid an error record; a
leading BOM is read as if it were not there."""

import json

import pytest
from typer.testing import CliRunner

from helpers.toy import train_small
from spacy_globalpointer.cli import app

runner = CliRunner()
BOM = b"\xef\xbb\xbf"


def flat(output: str) -> str:
    """The command's output with wasabi's line wrapping undone."""
    return " ".join(output.split())


def lines_file(path, *lines: bytes) -> str:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return str(path)


def spans_line(text: str) -> bytes:
    return json.dumps({"text": text, "spans": [{"start": 0, "end": 2, "label": "LOC"}]}).encode()


GOOD = spans_line("北京欢迎你")
NOT_UTF8 = b'{"text": "\xff\xfe bad", "spans": []}'
SURROGATE = b'{"text": "a\\ud800b", "spans": []}'


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("model")
    train_small(20).to_disk(path)
    return path


@pytest.mark.parametrize(
    "bad,message",
    [
        (NOT_UTF8, "not valid UTF-8: byte 0xff at byte 11 of the line"),
        (SURROGATE, "field text: a lone surrogate (\\u escape) at character 1"),
    ],
)
def test_convert_names_the_line_and_skips_it_on_request(tmp_path, bad, message):
    src = lines_file(tmp_path / "in.jsonl", BOM + GOOD, bad, GOOD)
    out = str(tmp_path / "out.spacy")
    result = runner.invoke(app, ["convert", src, out, "--lang", "zh", "--no-progress"])
    assert result.exit_code == 1 and f"{src}:2: {message}" in flat(result.output), result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["convert", src, out, "--lang", "zh", "--skip-invalid", "--no-progress"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out.report.json").read_text(encoding="utf8"))
    assert report["docs"] == 2 and report["labels"]["LOC"]["written"] == 2  # the BOM line is read
    assert len(report["invalid"]) == 1 and report["invalid"][0].startswith(f"{src}:2: {message}")


@pytest.mark.parametrize("bad", [NOT_UTF8, SURROGATE])
def test_cluener_reader_too(tmp_path, bad):
    good = json.dumps({"text": "北京", "label": {"address": {"北京": [[0, 1]]}}}, ensure_ascii=False).encode()
    src = lines_file(tmp_path / "c.json", BOM + good, bad.replace(b'"spans": []', b'"label": {}'))
    out = str(tmp_path / "c.spacy")
    result = runner.invoke(app, ["convert", src, out, "--format", "cluener", "--no-progress"])
    assert result.exit_code == 1 and f"{src}:2:" in flat(result.output) and "Traceback" not in result.output
    result = runner.invoke(
        app, ["convert", src, out, "--format", "cluener", "--skip-invalid", "--no-progress"]
    )
    assert result.exit_code == 0 and "Left out 1 invalid record(s)" in flat(result.output), result.output


def test_a_whole_file_format_names_the_line_of_the_bad_bytes(tmp_path):
    src = tmp_path / "export.json"
    src.write_bytes(BOM + b'[{"data": {"text": "ok"}, "annotations": []},\n{"data": {"text": "\xff"}}]')
    result = runner.invoke(app, ["convert", str(src), str(tmp_path / "o.spacy"), "--lang", "en"])
    assert result.exit_code == 1 and f"{src}:2: not valid UTF-8" in flat(result.output), result.output


def test_predict_names_the_line_and_writes_error_records_on_request(model_path, tmp_path):
    src = lines_file(
        tmp_path / "in.jsonl", BOM + '{"text": "张三在北京"}'.encode(), NOT_UTF8, SURROGATE, b'{"text": "ok"}'
    )
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["predict", str(model_path), src, str(out), "--no-progress"])
    assert result.exit_code == 1 and f"{src}:2: not valid UTF-8" in flat(result.output), result.output
    assert "Traceback" not in result.output
    args = ["predict", str(model_path), src, str(out), "--skip-invalid", "--no-progress", "--overwrite"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    got = [json.loads(line) for line in out.read_text(encoding="utf8").splitlines()]
    assert [r["line"] for r in got] == [1, 2, 3, 4]
    assert "error" not in got[0] and "spans" in got[0]  # the BOM is not part of the first record
    assert got[1]["error"].startswith(f"{src}:2: not valid UTF-8")
    assert got[2]["error"].startswith(f"{src}:3: field text: a lone surrogate")
    assert "error" not in got[3]
    report = json.loads((tmp_path / "out.report.json").read_text(encoding="utf8"))
    assert report["invalid"] == 2


def test_predict_text_lines_with_bad_bytes(model_path, tmp_path):
    src = lines_file(tmp_path / "in.txt", BOM + "张三".encode(), b"\xc3\x28", "李四".encode())
    out = tmp_path / "out.jsonl"
    args = ["predict", str(model_path), src, str(out), "--skip-invalid", "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    got = [json.loads(line) for line in out.read_text(encoding="utf8").splitlines()]
    assert [("error" in r) for r in got] == [False, True, False]
    assert got[1]["error"].startswith(f"{src}:2: not valid UTF-8: byte 0xc3 at byte 1")
