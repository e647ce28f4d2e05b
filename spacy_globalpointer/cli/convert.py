"""`spacy globalpointer convert`."""

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer
from spacy.cli._util import Arg, Opt
from wasabi import msg

from spacy_globalpointer.cli.app import app, choices, failing_on, table
from spacy_globalpointer.pipeline.keys import DEFAULT_RELATIONS_KEY, DEFAULT_SPANS_KEY
from spacy_globalpointer.training.alignment import ALIGNMENTS
from spacy_globalpointer.training.convert import FORMATS
from spacy_globalpointer.training.converters.conll import SCHEMES

# Invalid records printed on the terminal; the report lists them all.
SHOWN = 50
if TYPE_CHECKING:
    # typer reads the options' Enums, made at run time by choices(), from the annotations below; a type
    # checker cannot take a class made at run time as a type: to it they are Enum.
    Format = Enum
    Alignment = Enum
    Scheme = Enum
else:
    Format = choices("Format", FORMATS)
    Alignment = choices("Alignment", ALIGNMENTS)
    Scheme = choices("Scheme", SCHEMES)


@app.command("convert")
def convert_cli(
    paths: List[Path] = Arg(
        ..., help="Input files or folders, then the output .spacy", metavar="INPUT... OUTPUT"
    ),
    format: Format = Opt(
        "auto", "--format", "-f", help="Input format; auto: from the suffix and first record"
    ),
    lang: Optional[str] = Opt(
        None, "--lang", help="Tokenize with a blank pipeline of this language (zh: chars)"
    ),
    model: Optional[str] = Opt(
        None, "--model", help="Tokenize with this pipeline's tokenizer (name or path)"
    ),
    alignment: Alignment = Opt(
        Alignment("strict"),
        "--alignment",
        help="A span off token boundaries: strict (an error), expand or contract",
    ),
    spans_key: str = Opt(DEFAULT_SPANS_KEY, "--spans-key", help="doc.spans key for all entities"),
    relations_key: str = Opt(
        DEFAULT_RELATIONS_KEY,
        "--relations-key",
        help="Where relations go on the Docs (globalpointer_rel's relations_key)",
    ),
    skip_invalid: bool = Opt(
        False, "--skip-invalid", help="Leave bad records and spans out and list them, instead of stopping"
    ),
    dev_fraction: float = Opt(0.0, "--dev-fraction", help="Also write this fraction of documents as dev"),
    dev_output: Optional[Path] = Opt(None, "--dev-output", help="Where the dev DocBin goes (--dev-fraction)"),
    seed: int = Opt(0, "--seed", help="Seed of the dev split"),
    scheme: Optional[Scheme] = Opt(None, "--scheme", help="conll: the tag scheme (default: detected)"),
    token_col: int = Opt(0, "--token-col", help="conll: the token's column"),
    tag_col: int = Opt(-1, "--tag-col", help="conll: the tag's column (-1: the last)"),
    text_field: str = Opt(
        "text", "--text-field", "--ls-data-key", help="label-studio: the data field holding the text"
    ),
    ls_predictions: bool = Opt(
        False,
        "--label-studio-predictions",
        help="label-studio: read a task without annotations from its last prediction (taken as it is)",
    ),
    ls_from_name: Optional[str] = Opt(
        None, "--ls-from-name", help="label-studio: read only the regions of this Labels tag (default: any)"
    ),
    ls_to_name: Optional[str] = Opt(
        None, "--ls-to-name", help="label-studio: read only the regions on this Text tag (default: any)"
    ),
    doccano_annotators: List[str] = Opt(
        [],
        "--doccano-annotator",
        help="doccano export: convert only this annotator's file (repeat for several; default: all)",
    ),
    no_progress: bool = Opt(False, "--no-progress", help="No progress bar"),
):
    """Convert annotated files to a DocBin: every entity in
    doc.spans[SPANS_KEY] (nested and overlapping kept), a non-overlapping
    subset in doc.ents. Formats: cluener, spans (spaCy/Prodigy JSON lines),
    doccano (JSON lines, or its export's zip or folder, one file per
    annotator), label-studio (JSON export, or JSON lines), brat (folder of
    .txt + .ann), conll (IOB1/IOB2/BIOES/BMES). A bad record is an error naming file, line and
    field; every span moved to token boundaries or left out is counted per
    label and listed in OUTPUT.report.json. Relations (spans, doccano,
    label-studio, brat) go on the Docs beside the entities; a relation whose
    entity was moved or left out is counted and listed there too.

    \b
    Examples:
      spacy globalpointer convert train.json corpus/train.spacy
      spacy globalpointer convert export.jsonl corpus/train.spacy --format spans --lang en \\
          --dev-fraction 0.1 --dev-output corpus/dev.spacy
      spacy globalpointer convert ann/ corpus/train.spacy --format brat --model en_core_web_sm
      spacy globalpointer convert train.conll corpus/train.spacy --scheme iob2
      spacy globalpointer convert project-1-at-2025.json corpus/train.spacy --model MODEL
      spacy globalpointer convert snapshot.json corpus/train.spacy --model MODEL --label-studio-predictions
      spacy globalpointer convert doccano.zip corpus/train.spacy --model MODEL --doccano-annotator admin
    """
    from spacy_globalpointer.training.convert import convert, make_tokenizer, report_path

    if len(paths) < 2:
        raise typer.BadParameter("give at least one input and an output", param_hint="INPUT... OUTPUT")
    *inputs, output = paths
    if lang is not None and model is not None:
        raise typer.BadParameter("give --lang or --model, not both", param_hint="--lang")
    options = {
        "conll": {"scheme": scheme.value if scheme else None, "token_col": token_col, "tag_col": tag_col}
    }
    options["label-studio"] = {
        "text_field": text_field,
        "predictions": ls_predictions,
        "from_name": ls_from_name,
        "to_name": ls_to_name,
    }
    options["doccano"] = {"annotators": doccano_annotators or None}
    hint = "Fix it, or pass --skip-invalid to leave bad records out (they are listed)."
    with failing_on(ValueError, hint=hint):  # InputError is one
        report = convert(
            inputs,
            output,
            format=format.value,
            nlp=make_tokenizer(lang, model),
            alignment=alignment.value,
            spans_key=spans_key,
            relations_key=relations_key,
            skip_invalid=skip_invalid,
            dev_fraction=dev_fraction,
            dev_output=dev_output,
            seed=seed,
            reader_options=options,
            progress=not no_progress,
            on_format=lambda name, why: msg.info(f"Format: {name} (from {why})"),
        )
    print_report(report, output, dev_output, spans_key, report_path(output))


def print_report(report, output: Path, dev_output: Optional[Path], spans_key: str, path: Path) -> None:
    written = sum(report.written.values())
    dev = f", {report.dev_docs} to {dev_output}" if dev_output is not None else ""
    for warning in report.warnings:
        msg.warn(warning)
    msg.good(f"Wrote {report.docs} docs to {output}{dev} ({written} spans in doc.spans['{spans_key}'])")
    skipped = report.skipped()
    why = "".join(f"; {n} {reason}" for reason, n in sorted(skipped.items()))
    msg.text(
        f"Records read: {report.records}, written: {report.docs + report.dev_docs}, left out: "
        f"{sum(skipped.values())}{why}"
    )
    if report.empty_docs:
        msg.info(f"{report.empty_docs} doc(s) written with no entity: their record holds none")
    if report.annotators:
        msg.info(
            "Docs per annotator: " + ", ".join(f"{a}: {n}" for a, n in sorted(report.annotators.items()))
        )
    duplicates = report.duplicates()
    if duplicates:
        msg.warn(
            f"{len(duplicates)} text(s) annotated by several annotators, each written once per annotator "
            "(listed in the report): choose one with --doccano-annotator NAME"
        )
    rows = [
        (label, report.read[label], report.written[label], report.changed[label], report.reported[label])
        for label in sorted(set(report.read) | set(report.written))
    ]
    table(rows, ("label", "read", "written", "of them moved", "left out"))
    for reason, n in sorted(report.reasons.items()):
        msg.info(f"{n} span(s): {reason}")
    if report.relations_read:
        counts = (report.relations_read, report.relations_written, report.relations_reported)
        rows = [(label, *(c[label] for c in counts)) for label in sorted(set(counts[0]) | set(counts[1]))]
        table(rows, ("relation", "read", "written", "left out (entity moved or left out)"))
        for change in report.relation_changes[:SHOWN]:
            print(f"  {change.source}:{change.line}: field {change.where}: {change.label}: {change.reason}")
        if len(report.relation_changes) > SHOWN:
            print(f"  ... and {len(report.relation_changes) - SHOWN} more, all listed in the report")
    if report.not_in_ents:
        msg.info(f"{report.not_in_ents} span(s) overlap a longer one: in doc.spans, not in doc.ents")
    for reason, n in sorted(report.left_out.items()):
        if n:
            msg.info(f"Not converted: {n} x {reason}")
    if report.invalid:
        msg.warn(f"Left out {len(report.invalid)} invalid record(s):")
        for line in report.invalid[:SHOWN]:
            print(f"  {line}")
        if len(report.invalid) > SHOWN:
            print(f"  ... and {len(report.invalid) - SHOWN} more, all listed in the report")
    msg.text(f"Report: {path}")
