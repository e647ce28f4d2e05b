"""Commands: ``spacy globalpointer convert|predict|score|interactive|calibrate``.

Registered under spaCy's own command line through the ``spacy_cli`` entry
point (see spacy_cli.py); ``spacy-globalpointer ...`` and ``python -m
spacy_globalpointer ...`` run the same commands.
"""

import json
import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer
from spacy.cli._util import Arg, Opt, setup_gpu
from wasabi import msg

from . import cluener

PROG = "spacy globalpointer"
app = typer.Typer(
    name="globalpointer",
    help="GlobalPointer NER: CLUENER conversion, corpus prediction, scoring, threshold calibration.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


def _fail(text: str, hint: str = "") -> None:
    msg.fail(text, hint)
    raise typer.Exit(1)


def _table(rows, header) -> None:
    msg.table(rows, header=header, divider=True, aligns=("l",) + ("r",) * (len(header) - 1))


@app.command("convert")
def convert_cli(
    input_path: Path = Arg(..., help="CLUENER .json (JSON lines)", exists=True, dir_okay=False),
    output_path: Path = Arg(..., help="Output .spacy file"),
    spans_key: str = Opt("sc", "--spans-key", help="doc.spans key for all entities"),
    skip_invalid: bool = Opt(
        False,
        "--skip-invalid",
        help="Leave invalid lines out and list them, instead of stopping at the first",
    ),
    no_progress: bool = Opt(False, "--no-progress", help="No progress bar"),
):
    """Convert CLUENER JSON lines to a DocBin: every entity in
    doc.spans[SPANS_KEY], a non-overlapping subset in doc.ents, the line's id
    in doc.user_data. A bad line is an error naming file, line and field.

    \b
    Example:
      spacy globalpointer convert train.json corpus/train.spacy
    """
    try:
        report = cluener.convert(
            input_path, output_path, spans_key=spans_key, skip_invalid=skip_invalid, progress=not no_progress
        )
    except cluener.CluenerError as err:
        _fail(str(err), "Fix the line, or pass --skip-invalid to leave bad lines out (they are listed).")
    msg.good(f"Wrote {report.docs} docs with {sum(report.entities.values())} entities to {output_path}")
    _table([(label, n) for label, n in sorted(report.entities.items())], ("label", "entities"))
    if report.not_in_ents:
        msg.info(
            f"{report.not_in_ents} entities overlap a longer one: kept in doc.spans['{spans_key}'],"
            " left out of doc.ents"
        )
    if report.skipped:
        msg.warn(f"Skipped {len(report.skipped)} invalid line(s):")
        for line in report.skipped:
            print(f"  {line}")


class Engine(str, Enum):
    local = "local"
    ray = "ray"


class InputFormat(str, Enum):
    jsonl = "jsonl"
    text = "text"


class OutputFormat(str, Enum):
    jsonl = "jsonl"
    cluener = "cluener"


class Source(str, Enum):
    ents = "ents"
    spans = "spans"


@app.command("predict")
def predict_cli(
    model: str = Arg(
        ..., help="Pipeline name or path (e.g. training/cluener_cpu/model-best)", metavar="MODEL"
    ),
    inputs: List[str] = Arg(
        ..., help="Input files, folders or (quoted) globs, then the output", metavar="INPUT... OUTPUT"
    ),
    engine: str = Opt(
        "local", "--engine", help="local: one process, streaming, resumable; ray: Ray Data actors"
    ),
    input_format: Optional[InputFormat] = Opt(
        None, "--input-format", help="jsonl or text (one text per line); default: by suffix (.txt: text)"
    ),
    text_field: str = Opt("text", "--text-field", help="JSON field holding the text"),
    id_field: Optional[str] = Opt(
        None,
        "--id-field",
        help="JSON field carried to the output as the record's id (default: source file and line)",
    ),
    output_format: OutputFormat = Opt(
        OutputFormat.jsonl,
        "--format",
        help="jsonl: spans and ents with character offsets; cluener: CLUENER's submission lines",
    ),
    source: Source = Opt(
        Source.ents,
        "--source",
        help="--format cluener: ents (flat, what CLUENER's gold is) or spans (nested)",
    ),
    with_text: bool = Opt(
        False, "--with-text", help="Also write each text (records are then displaCy's manual format)"
    ),
    skip_invalid: bool = Opt(
        False,
        "--skip-invalid",
        help="Write invalid records as error records and count them, instead of stopping",
    ),
    overwrite: bool = Opt(
        False,
        "--overwrite",
        help="Replace output left by another run (local: rerunning the same run resumes it without this)",
    ),
    batch_size: int = Opt(
        256, "--batch-size", help="Docs per nlp.pipe batch (local) or per actor call (ray)"
    ),
    gpu_id: int = Opt(-1, "--gpu-id", "-g", help="GPU id, -1 for CPU (local engine)"),
    workers: int = Opt(1, "--workers", help="Ray: actors in the pool"),
    cpus_per_worker: float = Opt(1, "--cpus-per-worker", help="Ray: CPUs per actor (its torch threads)"),
    gpus_per_worker: float = Opt(0, "--gpus-per-worker", help="Ray: GPUs per actor (spaCy runs on the GPU)"),
    ray_address: Optional[str] = Opt(
        None, "--ray-address", help="Ray: attach to this cluster ('auto', 'host:6379'); default: a local Ray"
    ),
    displacy_path: Optional[Path] = Opt(
        None,
        "--displacy",
        help="Also write the first --displacy-limit texts of the first input as displaCy HTML",
    ),
    displacy_limit: int = Opt(25, "--displacy-limit", help="Docs in the --displacy sample"),
    no_progress: bool = Opt(False, "--no-progress", help="No progress bar"),
):
    """Predict a corpus: one output record per input record, in input order
    per shard, with the record's id (--id-field) or its source file and line.
    Inputs: JSON lines (--text-field), plain-text lines, or CLUENER files.
    Output: a file when the input is one file and OUTPUT ends in .json/.jsonl,
    else a folder with one file per input shard (local) or per block (ray).

    \b
    Examples:
      spacy globalpointer predict model-best dev.json dev_pred.json --format cluener
      spacy globalpointer predict model-best 'corpus/*.jsonl' out/ --id-field doc_id
      spacy globalpointer predict model-best corpus/ out/ --engine ray --workers 8 \\
          --gpus-per-worker 1 --ray-address auto
    """
    from .corpus import model_fingerprint, predict_corpus
    from .inputs import InputError

    if len(inputs) < 2:
        raise typer.BadParameter("give at least one input and an output", param_hint="INPUT... OUTPUT")
    *sources, output = inputs
    nlp = None
    common = dict(
        input_format=input_format.value if input_format else None,
        text_field=text_field,
        id_field=id_field,
        output_format=output_format.value,
        source=source.value,
        with_text=with_text,
        skip_invalid=skip_invalid,
        batch_size=batch_size,
        progress=not no_progress,
    )
    try:
        if engine == Engine.ray:
            from .distributed import predict_with_ray

            report = predict_with_ray(
                model,
                sources,
                output,
                workers=workers,
                cpus_per_worker=cpus_per_worker,
                gpus_per_worker=gpus_per_worker,
                ray_address=ray_address,
                overwrite=overwrite,
                **common,
            )
            records, invalid = report["records"], report["invalid"]
        else:
            import spacy

            setup_gpu(gpu_id, silent=True)
            nlp = spacy.load(model)
            result = predict_corpus(
                nlp,
                sources,
                output,
                run_id=model_fingerprint(model),
                overwrite=overwrite,
                **common,
            )
            records, invalid = result.records, result.invalid
            if result.shards_skipped:
                msg.info(f"Resumed: {len(result.shards_skipped)} shard(s) were already done")
    except InputError as err:
        _fail(str(err))
    msg.good(
        f"Wrote {records} record(s) to {output}"
        + (f" ({invalid} invalid, see the report)" if invalid else "")
    )
    if displacy_path is not None:
        from itertools import islice

        from .inputs import expand_inputs, guess_input_format, read_records

        if nlp is None:
            import spacy

            nlp = spacy.load(model)
        shard = expand_inputs(sources)[0][0]
        fmt = common["input_format"] or guess_input_format(shard)
        records = read_records(shard, fmt, text_field, id_field)
        texts = [r.text for r in islice((r for r in records if r.error is None), displacy_limit)]
        records.close()
        write_displacy(list(nlp.pipe(texts)), displacy_path, _spans_key(nlp))
        msg.good(f"Wrote a displaCy sample of {len(texts)} docs to {displacy_path}")


def _spans_key(nlp) -> str:
    from .corpus import component_spans_key

    return component_spans_key(nlp)


def write_displacy(docs, path, spans_key: str) -> None:
    """One HTML page: nested spans (displaCy's span style), then the flat doc.ents."""
    import warnings

    from spacy import displacy

    with warnings.catch_warnings():
        # W117/W006: a doc of the sample without entities is not news.
        warnings.filterwarnings("ignore", message=r"\[W(117|006)\]")
        spans = displacy.render(
            docs, style="span", options={"spans_key": spans_key}, page=False, jupyter=False
        )
        ents = displacy.render(docs, style="ent", page=False, jupyter=False)
    html = (
        "<!DOCTYPE html><html lang='zh'><meta charset='utf-8'><body>"
        f"<h2>doc.spans['{spans_key}'] (nested)</h2>"
        f"{spans}<h2>doc.ents (flat)</h2>{ents}</body></html>"
    )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(html, encoding="utf8")


def score_files(gold_path, pred_path):
    gold, pred = cluener.load_json_lines(gold_path), cluener.load_json_lines(pred_path)
    return {"exact": cluener.exact_scores(gold, pred), "official": cluener.official_scores(gold, pred)}


@app.command("score")
def score_cli(
    gold: Path = Arg(..., help="Gold CLUENER .json", exists=True, dir_okay=False),
    pred: Path = Arg(
        ..., help="Predicted CLUENER .json (same lines, or the same ids)", exists=True, dir_okay=False
    ),
    as_json: bool = Opt(False, "--json", help="Print JSON instead of tables"),
    output: Optional[Path] = Opt(None, "--output", help="Also write the scores as JSON to this file"),
):
    """Exact (start, end, label) micro P/R/F per label, and the official
    CLUENER metric (entity strings per line, macro F over labels).

    \b
    Example:
      spacy globalpointer score dev.json dev_pred.json --output metrics/dev.json
    """
    try:
        scores = score_files(gold, pred)
    except (cluener.CluenerError, ValueError) as err:
        _fail(str(err))
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(scores, indent=2, ensure_ascii=False), encoding="utf8")
    if as_json:
        print(json.dumps(scores, indent=2, ensure_ascii=False))
        return
    exact, official = scores["exact"], scores["official"]

    def pct(v):
        return f"{100 * v:.2f}"

    msg.divider("Exact (start, end, label) match, micro")
    rows = [
        (label, pct(v["p"]), pct(v["r"]), pct(v["f"]), v["tp"] + v["fn"])
        for label, v in exact["per_type"].items()
    ]
    rows.append(("ALL (micro)", pct(exact["p"]), pct(exact["r"]), pct(exact["f"]), exact["tp"] + exact["fn"]))
    _table(rows, ("label", "P", "R", "F", "gold"))
    msg.divider("CLUENER official: entity strings per line, macro over labels")
    rows = [(label, pct(v["p"]), pct(v["r"]), pct(v["f"])) for label, v in official["per_type"].items()]
    rows.append(("MACRO F", "", "", pct(official["macro_f"])))
    _table(rows, ("label", "P", "R", "F"))


@app.command("calibrate")
def calibrate_cli(
    model: Path = Arg(
        ..., help="Trained pipeline folder (written in place unless --output-model)", exists=True
    ),
    dev_path: Path = Arg(..., help="Gold .spacy (DocBin with doc.ents), e.g. corpus/dev.spacy", exists=True),
    output: Optional[Path] = Opt(
        None, "--output", help="Also write what was chosen, with the scores, as JSON"
    ),
    output_model: Optional[Path] = Opt(
        None, "--output-model", help="Save the calibrated pipeline here instead"
    ),
    component: str = Opt("globalpointer_ner", "--component", help="Name of the component"),
    gpu_id: int = Opt(-1, "--gpu-id", "-g", help="GPU id, -1 for CPU"),
):
    """Choose the decision threshold of a trained pipeline on gold data: the
    one threshold with the best exact-match F of doc.ents, or per-label ones,
    whichever wins on held-out halves of the data; the pipeline's own
    threshold stays when neither beats it there. Stores them in the pipeline
    (config.cfg and the component), so spacy.load uses them.

    \b
    Example:
      spacy globalpointer calibrate training/cluener_cpu/model-best corpus/dev.spacy
    """
    import spacy
    from spacy.tokens import DocBin

    from .calibrate import calibrate, save_calibrated

    setup_gpu(gpu_id, silent=True)
    nlp = spacy.load(model)
    references = list(DocBin().from_disk(dev_path).get_docs(nlp.vocab))
    result = calibrate(nlp, references, component)
    save_calibrated(nlp, output_model or model, component)
    rows = [
        (name.replace("_", " "), *(f"{100 * v[k]:.2f}" for k in "prf")) for name, v in result.scores.items()
    ]
    _table(rows, ("doc.ents on " + dev_path.name, "P", "R", "F"))
    if result.choice == "unchanged":
        msg.good(
            f"Threshold left at {result.threshold:+.2f}: a new one (best on all of {dev_path.name}: "
            f"{result.best_global:+.2f}) did not win on held-out halves; saved to {output_model or model}"
        )
    else:
        chosen = "per label" if result.per_label_used else "one for all labels"
        msg.good(f"Threshold {result.threshold:+.2f} ({chosen}), saved to {output_model or model}")
    if result.label_thresholds:
        _table(sorted(result.label_thresholds.items()), ("label", "threshold"))
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "threshold": result.threshold,
            "label_thresholds": result.label_thresholds,
            "choice": result.choice,
            "per_label_used": result.per_label_used,
            "best_global": result.best_global,
            "scores": result.scores,
        }
        output.write_text(json.dumps(data, indent=2) + "\n", encoding="utf8")


def _typed_texts(text: Optional[str]):
    """The one --text, or lines typed at the prompt until an empty line or Ctrl-D."""
    if text is not None:
        yield text
        return
    msg.info("Type a sentence and press Enter (an empty line or Ctrl-D ends).")
    while True:
        try:
            line = input("> ")
        except EOFError:
            return
        if not line.strip():
            return
        yield line


@app.command("interactive")
def interactive_cli(
    model: str = Arg(..., help="Pipeline name or path"),
    text: Optional[str] = Opt(
        None, "--text", help="Score this one text and stop, instead of reading from the keyboard"
    ),
    spans_key: Optional[str] = Opt(None, "--spans-key", help="doc.spans key (default: the component's)"),
    displacy_path: Optional[Path] = Opt(
        None, "--displacy", help="Write the docs to this HTML file (displaCy: nested spans and ents)"
    ),
    serve: bool = Opt(False, "--serve", help="Serve the docs with displaCy on 127.0.0.1 when done"),
    port: int = Opt(5002, "--port", help="Port for --serve"),
    gpu_id: int = Opt(-1, "--gpu-id", "-g", help="GPU id, -1 for CPU"),
):
    """Type a sentence, see every predicted span: label, text, offsets
    (inclusive end, as CLUENER writes them), score, and whether it is in doc.ents.

    \b
    Example:
      spacy globalpointer interactive training/cluener_cpu/model-best --text "浙商银行企业信贷部"
    """
    import spacy
    from spacy import displacy

    setup_gpu(gpu_id, silent=True)
    nlp = spacy.load(model)
    key = spans_key or _spans_key(nlp)
    docs = []
    for typed in _typed_texts(text):
        doc = nlp(typed)
        docs.append(doc)
        scores = doc.spans[key].attrs.get("scores", []) if key in doc.spans else []
        in_ents = {(e.start, e.end, e.label_) for e in doc.ents}
        rows = [
            (
                span.label_,
                span.text,
                *cluener.char_offsets_to_cluener(span.start_char, span.end_char),
                f"{float(score):.2f}",
                "yes" if (span.start, span.end, span.label_) in in_ents else "",
            )
            for span, score in zip(doc.spans.get(key, []), scores)
        ]
        if rows:
            _table(rows, ("label", "text", "start", "end (incl.)", "score", "in ents"))
        else:
            msg.text("(no entities)")
    if displacy_path and docs:
        write_displacy(docs, displacy_path, key)
        msg.good(f"Wrote {len(docs)} doc(s) to {displacy_path}")
    if serve and docs:
        displacy.serve(docs, style="span", options={"spans_key": key}, port=port, host="127.0.0.1")


def main(argv: Optional[List[str]] = None, prog_name: str = "spacy-globalpointer") -> int:
    """Run a command as the console script does; returns the exit code."""
    command = typer.main.get_command(app)
    try:
        # Without standalone mode, an Exit's code is returned instead of exiting.
        code = command.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except typer.Abort:
        return 1
    except Exception as err:
        if not (hasattr(err, "show") and hasattr(err, "exit_code")):
            raise
        err.show()  # a usage error: what click would print, and its code
        return err.exit_code
    return code if isinstance(code, int) else 0


def run() -> None:
    sys.exit(main())
