"""Corpus prediction on one machine: shards, ids, formats, resume, bad input."""

import json
import subprocess
from dataclasses import FrozenInstanceError, replace
from pathlib import Path

import pytest
import spacy
from typer.testing import CliRunner

from helpers.toy import TRAIN_DATA, train_small
from spacy_globalpointer.cli import app
from spacy_globalpointer.corpus import predict as corpus
from spacy_globalpointer.corpus.input_records import expand_inputs
from spacy_globalpointer.corpus.predict_options import PredictOptions
from spacy_globalpointer.corpus.report import REPORT_NAME, PredictReport
from spacy_globalpointer.files.json_lines import InputError

from .test_end_to_end import BIN

TEXTS = [t for t, _ in TRAIN_DATA]
QUIET = PredictOptions(progress=False)
runner = CliRunner()


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("model")
    train_small(40).to_disk(path)
    return path


def write_shards(folder: Path, n_shards: int = 4, per_shard: int = 7, id_field: str = "doc_id") -> Path:
    """n JSON-lines shards of TEXTS cycled, each record with a unique id."""
    folder.mkdir(parents=True, exist_ok=True)
    k = 0
    for s in range(n_shards):
        lines = []
        for _ in range(per_shard):
            lines.append(
                json.dumps({id_field: f"d{k}", "text": TEXTS[k % len(TEXTS)], "meta": s}, ensure_ascii=False)
            )
            k += 1
        (folder / f"shard{s}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf8")
    return folder


def read_output(folder: Path):
    return {
        p.name: [json.loads(line) for line in p.read_text(encoding="utf8").splitlines()]
        for p in sorted(folder.glob("*.jsonl"))
    }


def test_shards_in_order_with_ids_and_spans_as_nlp_predicts(model_path, tmp_path):
    nlp = spacy.load(model_path)
    src = write_shards(tmp_path / "in")
    report = corpus.predict_corpus(
        nlp, [src], tmp_path / "out", PredictOptions(id_field="doc_id", progress=False, batch_size=3)
    )
    out = read_output(tmp_path / "out")
    assert sorted(out) == [f"shard{s}.jsonl" for s in range(4)] and report.records == 28
    for s in range(4):
        lines = out[f"shard{s}.jsonl"]
        assert [r["id"] for r in lines] == [f"d{s * 7 + i}" for i in range(7)]
        for i, rec in enumerate(lines):
            doc = nlp(TEXTS[(s * 7 + i) % len(TEXTS)])
            assert [(x["start"], x["end"], x["label"], x["text"]) for x in rec["spans"]] == [
                (sp.start_char, sp.end_char, sp.label_, sp.text) for sp in doc.spans["sc"]
            ]
            assert [x["score"] for x in rec["spans"]] == pytest.approx(
                [float(v) for v in doc.spans["sc"].attrs["scores"]], abs=1e-5
            )
            assert [(x["start"], x["end"], x["label"]) for x in rec["ents"]] == [
                (e.start_char, e.end_char, e.label_) for e in doc.ents
            ]
    saved = json.loads((tmp_path / "out" / REPORT_NAME).read_text())
    assert saved["status"] == "done" and saved["engine"] == "local" and saved["records"] == 28


def test_output_lines_keep_chinese_readable_and_scores_exact(model_path, tmp_path):
    """Chinese is written as it is (not as \\u escapes), and a score reads back as the very float
    the pipeline gave."""
    nlp = spacy.load(model_path)
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS) + "\n", encoding="utf8")
    out = tmp_path / "out.jsonl"
    corpus.predict_corpus(nlp, [src], out, PredictOptions(with_text=True, progress=False))
    raw = out.read_text(encoding="utf8")
    assert "\\u" not in raw and all(f'"text": "{text}"' in raw for text in TEXTS)
    lines = [json.loads(line) for line in raw.splitlines()]
    scores = [s["score"] for line in lines for s in line["spans"]]
    expected = [float(v) for doc in nlp.pipe(TEXTS) for v in doc.spans["sc"].attrs["scores"]]
    assert scores == expected and len(scores) > 0


def test_text_lines_glob_and_source_line_ids(model_path, tmp_path):
    nlp = spacy.load(model_path)
    (tmp_path / "a.txt").write_text("北京欢迎你\n\n" + "长" * 100_000 + "\n上海", encoding="utf8")
    corpus.predict_corpus(nlp, [str(tmp_path / "*.txt")], tmp_path / "out", QUIET)
    lines = read_output(tmp_path / "out")["a.jsonl"]
    # every line is a record, the empty one and the last one without "\n" too
    assert [(r["source"], r["line"]) for r in lines] == [(str(tmp_path / "a.txt"), i) for i in (1, 2, 3, 4)]
    assert lines[1]["spans"] == [] and lines[1]["ents"] == []
    assert all(0 <= s["start"] < s["end"] <= 100_000 for s in lines[2]["spans"])


def test_cluener_format_single_file(model_path, tmp_path):
    nlp = spacy.load(model_path)
    src = tmp_path / "test.json"
    src.write_text(
        "".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(TEXTS)),
        encoding="utf8",
    )
    out = tmp_path / "pred.json"
    corpus.predict_corpus(nlp, [src], out, PredictOptions(output_format="cluener", progress=False))
    lines = [json.loads(line) for line in out.read_text(encoding="utf8").splitlines()]
    assert [line["id"] for line in lines] == list(range(len(TEXTS)))
    for line, text in zip(lines, TEXTS):
        for ents in line["label"].values():
            for surface, positions in ents.items():
                assert all(text[s : e + 1] == surface for s, e in positions)  # inclusive ends
    assert (tmp_path / "pred.report.json").exists()


def test_resume_after_a_crash_skips_finished_shards(model_path, tmp_path, monkeypatch):
    nlp = spacy.load(model_path)
    src = write_shards(tmp_path / "in", n_shards=3)
    ids = PredictOptions(id_field="doc_id", progress=False)
    corpus.predict_corpus(nlp, [src], tmp_path / "whole", ids)

    real = corpus._predict_records
    calls = []

    def crash_in_second_shard(*args, **kwargs):
        calls.append(1)
        for n, item in enumerate(real(*args, **kwargs)):
            if len(calls) == 2 and n == 3:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(corpus, "_predict_records", crash_in_second_shard)
    with pytest.raises(KeyboardInterrupt):
        corpus.predict_corpus(nlp, [src], tmp_path / "out", ids, run_id="r1")
    first = tmp_path / "out" / "shard0.jsonl"
    assert first.exists() and not (tmp_path / "out" / "shard1.jsonl").exists()
    assert (tmp_path / "out" / "shard1.jsonl.part").exists()  # the half shard does not look done
    stamp = first.stat().st_mtime_ns
    monkeypatch.setattr(corpus, "_predict_records", real)
    report = corpus.predict_corpus(nlp, [src], tmp_path / "out", ids, run_id="r1")
    assert report.shards_skipped == [str(src / "shard0.jsonl")] and first.stat().st_mtime_ns == stamp
    assert read_output(tmp_path / "out") == read_output(tmp_path / "whole")
    assert not list((tmp_path / "out").glob("*.part"))
    # another run (another model, say) does not mix with this output
    with pytest.raises(InputError, match="another run"):
        corpus.predict_corpus(nlp, [src], tmp_path / "out", ids, run_id="r2")
    corpus.predict_corpus(nlp, [src], tmp_path / "out", replace(ids, overwrite=True), run_id="r2")


BAD = [
    '{"text": "北京欢迎你"}',
    '{"text": "x", ',  # invalid JSON
    '{"body": "no text field"}',
    '{"text": 42}',
    '["not", "an", "object"]',
    '{"text": ""}',
]


def test_bad_records_stop_with_file_and_line_or_are_counted(model_path, tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_text("\n".join(BAD) + "\n", encoding="utf8")
    nlp = spacy.load(model_path)
    with pytest.raises(InputError, match=f"{src}:2: not valid JSON"):
        corpus.predict_corpus(nlp, [src], tmp_path / "out", QUIET)
    result = runner.invoke(
        app, ["predict", str(model_path), str(src), str(tmp_path / "out2"), "--no-progress"]
    )
    assert result.exit_code == 1
    assert f"{src}:2: not valid JSON" in " ".join(result.output.split())
    report = corpus.predict_corpus(
        nlp, [src], tmp_path / "out3", PredictOptions(skip_invalid=True, progress=False)
    )
    lines = read_output(tmp_path / "out3")["bad.jsonl"]
    assert [r["line"] for r in lines] == [1, 2, 3, 4, 5, 6]  # nothing dropped, in place
    errors = [r.get("error") for r in lines]
    assert errors[0] is None and errors[5] is None and "spans" in lines[5]
    assert "not valid JSON" in errors[1] and "field text: missing" in errors[2]
    assert "field text: not a string (int)" in errors[3] and "expected a JSON object" in errors[4]
    saved = json.loads((tmp_path / "out3" / REPORT_NAME).read_text())
    assert report.invalid == saved["invalid"] == 4 and len(saved["errors"]) == 4
    assert all(e.startswith(f"{src}:") for e in saved["errors"])


def test_missing_id_field_is_an_error(model_path, tmp_path):
    src = tmp_path / "ids.jsonl"
    src.write_text('{"doc_id": 1, "text": "北京"}\n{"text": "上海"}\n', encoding="utf8")
    with pytest.raises(InputError, match=f"{src}:2: field doc_id: missing"):
        corpus.predict_corpus(
            spacy.load(model_path), [src], tmp_path / "out", PredictOptions(id_field="doc_id", progress=False)
        )


def test_inputs_that_match_nothing(tmp_path):
    with pytest.raises(InputError, match="no file matches"):
        expand_inputs([str(tmp_path / "nothing*.jsonl")])


@pytest.mark.parametrize(
    "option,typo,choices",
    [
        ("--engine", "rya", ("local", "ray")),
        ("--format", "xml", ("jsonl", "cluener")),
        ("--source", "nested", ("ents", "spans")),
        ("--input-format", "csv", ("jsonl", "text")),
    ],
)
def test_a_typo_in_a_closed_option_is_a_usage_error_that_lists_the_choices(
    model_path, tmp_path, option, typo, choices
):
    """Nothing runs (an --engine typo used to run the local engine): exit code 2, the choices named."""
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "北京"}\n', encoding="utf8")
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["predict", str(model_path), str(src), str(out), option, typo, "--no-progress"]
    )
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}'" in result.output and f"'{typo}'" in result.output
    assert all(f"'{choice}'" in result.output for choice in choices), result.output
    assert not out.exists()


def test_dash_pipes_text_lines_from_standard_input_to_standard_output(model_path):
    """`printf ... | spacy globalpointer predict MODEL - - --input-format text`: a JSON line per text
    on standard output and nothing else there; the progress bar and messages go to standard error."""
    proc = subprocess.run(
        [BIN / "spacy", "globalpointer", "predict", model_path, "-", "-", "--input-format", "text"],
        input=b"text one\ntext two\n",
        capture_output=True,
    )
    assert proc.returncode == 0, proc.stderr.decode("utf8", "replace")[-3000:]
    lines = [json.loads(line) for line in proc.stdout.decode("utf8").split("\n")[:-1]]
    assert proc.stdout.endswith(b"\n") and len(lines) == 2
    docs = list(spacy.load(model_path).pipe(["text one", "text two"]))
    for n, (line, doc) in enumerate(zip(lines, docs), start=1):
        assert (line["source"], line["line"]) == ("<stdin>", n)
        assert [(s["start"], s["end"], s["label"]) for s in line["spans"]] == [
            (s.start_char, s.end_char, s.label_) for s in doc.spans["sc"]
        ]
    assert "Wrote 2 record(s) to standard output" in proc.stderr.decode("utf8")


def test_files_to_standard_output_in_order_and_no_report(model_path, tmp_path):
    src = write_shards(tmp_path / "in", n_shards=2, per_shard=3)
    result = runner.invoke(app, ["predict", str(model_path), str(src), "-", "--id-field", "doc_id"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == [f"d{k}" for k in range(6)]
    assert "Wrote 6 record(s) to standard output" in result.stderr
    assert not list(tmp_path.rglob("*.report.json")) and not list(tmp_path.rglob(REPORT_NAME))


def test_standard_input_as_json_lines_into_a_file_is_never_resumed(model_path, tmp_path):
    """Standard input cannot be checked for changes: its output is another run's, every time."""
    out = tmp_path / "out.jsonl"
    stdin = '{"doc_id": "a", "text": "北京欢迎你"}\n\n{"doc_id": "b", "text": "上海"}\n'
    args = ["predict", str(model_path), "-", str(out), "--id-field", "doc_id", "--no-progress"]
    result = runner.invoke(app, args, input=stdin)
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in out.read_text(encoding="utf8").splitlines()] == ["a", "b"]
    again = runner.invoke(app, args, input=stdin)
    assert again.exit_code == 1 and "another run" in again.output
    assert runner.invoke(app, [*args, "--overwrite"], input=stdin).exit_code == 0


def test_bad_standard_input_names_stdin_and_the_line(model_path, tmp_path):
    result = runner.invoke(app, ["predict", str(model_path), "-", "-"], input='{"text": "x"}\n{"text": 1}\n')
    assert result.exit_code == 1
    assert "<stdin>:2: field text: not a string (int)" in " ".join(result.stderr.split())
    # stopped at line 2: nothing of it, and no message, on standard output
    assert all(json.loads(line)["line"] < 2 for line in result.stdout.splitlines())


def test_standard_input_is_read_once_and_only_by_the_local_engine(model_path, tmp_path):
    with pytest.raises(InputError, match="given twice"):
        expand_inputs(["-", "-"])
    pytest.importorskip("ray")
    result = runner.invoke(app, ["predict", str(model_path), "-", str(tmp_path / "out"), "--engine", "ray"])
    assert result.exit_code == 1 and "for the local engine" in result.output
    assert not (tmp_path / "out").exists()


def test_the_command_builds_one_options_object_from_its_flags(model_path, tmp_path, monkeypatch):
    seen = []

    def fake_predict_corpus(nlp, inputs, output, options, *, run_id=""):
        seen.append((inputs, output, options))
        return PredictReport(engine="local")

    monkeypatch.setattr(corpus, "predict_corpus", fake_predict_corpus)
    flags = ["--input-format", "text", "--text-field", "body", "--id-field", "doc_id", "--format", "cluener"]
    flags += ["--source", "spans", "--with-text", "--skip-invalid", "--overwrite", "--batch-size", "7"]
    result = runner.invoke(app, ["predict", str(model_path), "a.txt", "b/", "out", *flags, "--no-progress"])
    assert result.exit_code == 0, result.output
    assert seen == [
        (
            ["a.txt", "b/"],
            "out",
            PredictOptions(
                input_format="text",
                text_field="body",
                id_field="doc_id",
                output_format="cluener",
                source="spans",
                with_text=True,
                skip_invalid=True,
                batch_size=7,
                overwrite=True,
                progress=False,
            ),
        )
    ]


def test_options_are_checked_when_made_and_cannot_change():
    with pytest.raises(ValueError, match="output format must be one of"):
        PredictOptions(output_format="xml")
    with pytest.raises(ValueError, match="input format must be one of"):
        PredictOptions(input_format="csv")
    with pytest.raises(ValueError, match="batch size must be at least 1"):
        PredictOptions(batch_size=0)
    with pytest.raises(FrozenInstanceError):
        QUIET.overwrite = True  # type: ignore[misc]
