"""`spacy globalpointer predict`."""

import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer
from spacy.cli._util import Arg, Opt, setup_gpu
from wasabi import Printer

from spacy_globalpointer.cli.app import app, choices, fail
from spacy_globalpointer.corpus.annotation_output import LS_DATA_KEY, LS_FROM_NAME, LS_TO_NAME
from spacy_globalpointer.corpus.displacy_page import write_displacy
from spacy_globalpointer.corpus.input_records import INPUT_FORMATS
from spacy_globalpointer.corpus.output import OUTPUT_FORMATS
from spacy_globalpointer.pipeline.keys import SOURCES

if TYPE_CHECKING:
    # typer reads the options' Enums, made at run time by choices(), from the annotations below; a type
    # checker cannot take a class made at run time as a type: to it they are Enum.
    Engine = Enum
    InputFormat = Enum
    OutputFormat = Enum
    Source = Enum
else:
    Engine = choices("Engine", ("local", "ray"))
    InputFormat = choices("InputFormat", INPUT_FORMATS)
    OutputFormat = choices("OutputFormat", OUTPUT_FORMATS)
    Source = choices("Source", SOURCES)


@app.command("predict")
def predict_cli(
    model: str = Arg(
        ..., help="Pipeline name or path (e.g. training/cluener_cpu/model-best)", metavar="MODEL"
    ),
    inputs: List[str] = Arg(
        ...,
        help="Input files, folders or (quoted) globs, then the output; - is standard input or output",
        metavar="INPUT... OUTPUT",
    ),
    engine: Engine = Opt(
        Engine("local"), "--engine", help="local: one process, streaming, resumable; ray: Ray Data actors"
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
        OutputFormat("jsonl"),
        "--format",
        help="jsonl: spans, ents and relations with character offsets; cluener: CLUENER's submission "
        "lines; spans (Prodigy), doccano (JSON lines) or label-studio (tasks with predictions, a JSON "
        "array unless OUTPUT ends in .jsonl, and the labelling config beside it): pre-annotations to "
        "correct in the tool (convert reads them back)",
    ),
    source: Optional[Source] = Opt(
        None,
        "--source",
        help="Which spans cluener, spans, doccano and label-studio write: ents (flat) or spans (nested "
        "too; relations only between the spans written); default: ents for cluener, spans for the tools",
    ),
    ls_from_name: str = Opt(LS_FROM_NAME, "--ls-from-name", help="label-studio: the Labels tag's name"),
    ls_to_name: str = Opt(LS_TO_NAME, "--ls-to-name", help="label-studio: the Text tag's name"),
    ls_data_key: str = Opt(LS_DATA_KEY, "--ls-data-key", help="label-studio: the task's data field"),
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
    """Predict a corpus: one output line per input record, in input order
    per shard, with the record's id (--id-field) or its source file and line.
    Inputs: JSON lines (--text-field), plain-text lines, or CLUENER files;
    - reads standard input (JSON lines, or text with --input-format text).
    Output: a file when the input is one file and OUTPUT ends in .json/.jsonl,
    a folder with one file per input shard (local) or per block (ray), or -
    for standard output (local; messages and progress go to standard error).

    \b
    Examples:
      spacy globalpointer predict model-best dev.json dev_pred.json --format cluener
      spacy globalpointer predict model-best 'corpus/*.jsonl' out/ --id-field doc_id
      cat texts.txt | spacy globalpointer predict model-best - - --input-format text
      spacy globalpointer predict model-best new.jsonl to_review.jsonl --format spans
      spacy globalpointer predict model-best new.jsonl tasks.json --format label-studio
      spacy globalpointer predict model-best new.jsonl flat.jsonl --format doccano --source ents
      spacy globalpointer predict model-best corpus/ out/ --engine ray --workers 8 \\
          --gpus-per-worker 1 --ray-address auto
    """
    from spacy_globalpointer.corpus.input_records import STDIN
    from spacy_globalpointer.corpus.predict import (
        STDOUT,
        component_relations_key,
        component_spans_key,
        model_fingerprint,
        predict_corpus,
    )
    from spacy_globalpointer.corpus.predict_options import PredictOptions
    from spacy_globalpointer.files.json_lines import InputError

    if len(inputs) < 2:
        raise typer.BadParameter("give at least one input and an output", param_hint="INPUT... OUTPUT")
    *sources, output = inputs
    if displacy_path is not None and sources[0] == STDIN:
        raise typer.BadParameter(
            "the sample is read from the first input again: not from -", param_hint="--displacy"
        )
    # With the predictions on standard output, every message goes to standard error.
    say = Printer(no_print=True)
    to_stderr = output == STDOUT

    def tell(text: str) -> None:
        print(text, file=sys.stderr if to_stderr else sys.stdout)

    nlp = None
    try:
        options = PredictOptions(
            input_format=input_format.value if input_format else None,
            text_field=text_field,
            id_field=id_field,
            output_format=output_format.value,
            source=source.value if source else None,
            with_text=with_text,
            skip_invalid=skip_invalid,
            batch_size=batch_size,
            overwrite=overwrite,
            progress=not no_progress,
            ls_from_name=ls_from_name,
            ls_to_name=ls_to_name,
            ls_data_key=ls_data_key,
        )
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None
    try:
        if engine == Engine("ray"):
            from spacy_globalpointer.corpus.ray_engine import predict_with_ray

            report = predict_with_ray(
                model,
                sources,
                output,
                options,
                workers=workers,
                cpus_per_worker=cpus_per_worker,
                gpus_per_worker=gpus_per_worker,
                ray_address=ray_address,
            )
        else:
            import spacy

            setup_gpu(gpu_id, silent=True)
            nlp = spacy.load(model)
            report = predict_corpus(nlp, sources, output, options, run_id=model_fingerprint(model))
            if report.shards_skipped:
                tell(say.info(f"Resumed: {len(report.shards_skipped)} shard(s) were already done"))
    except InputError as err:
        fail(str(err))
    where = "standard output" if output == STDOUT else output
    invalid = f" ({report.invalid} invalid" + (")" if output == STDOUT else ", see the report)")
    tell(say.good(f"Wrote {report.records} record(s) to {where}" + (invalid if report.invalid else "")))
    if report.left_out:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(report.left_out.items()))
        tell(
            say.info(f"Not written (--source {options.span_source()}): {kinds} (each record's meta.left_out)")
        )
    if options.output_format == "label-studio":
        from spacy_globalpointer.corpus.label_studio_config import config_path, write_label_config

        if output == STDOUT:
            tell(say.info(f"The labelling config: spacy globalpointer label-studio-config {model}"))
        else:
            if nlp is None:
                import spacy

                nlp = spacy.load(model)
            path = write_label_config(nlp, config_path(output), options.ls_names())
            tell(say.good(f"Wrote the Label Studio labelling config to {path}"))
    if displacy_path is not None:
        from itertools import islice

        from spacy_globalpointer.corpus.input_records import expand_inputs, guess_input_format, read_records

        if nlp is None:
            import spacy

            nlp = spacy.load(model)
        shard = expand_inputs(sources)[0][0]
        fmt = options.input_format or guess_input_format(shard)
        records = read_records(shard, fmt, text_field, id_field)
        texts = [r.text or "" for r in islice((r for r in records if r.error is None), displacy_limit)]
        records.close()
        write_displacy(
            list(nlp.pipe(texts)), displacy_path, component_spans_key(nlp), component_relations_key(nlp)
        )
        tell(say.good(f"Wrote a displaCy sample of {len(texts)} docs to {displacy_path}"))
