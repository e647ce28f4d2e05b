"""Corpus-scale prediction on one machine: shards in, one output per shard.

Input is JSON lines (one object per line, the text under ``text_field``),
plain-text lines (one text per line) or CLUENER files (JSON lines with
``text`` and ``id``); a corpus is one or more files, folders or globs, each
file a *shard*, or standard input (``-``). Every input record becomes one output line (output.py), in
input order per shard, carrying the record's id (``id_field``) or its source
file and line. Shards are written to a temporary name and renamed when
complete, so a rerun skips finished shards and never takes a half-written
shard for done.
"""

import hashlib
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any, BinaryIO, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from spacy.language import Language
from spacy.tokens import Doc

from spacy_globalpointer.corpus.input_records import (
    InputRecord,
    expand_inputs,
    guess_input_format,
    is_stdin,
    read_records,
)
from spacy_globalpointer.corpus.output import check_record, json_array_output, output_line
from spacy_globalpointer.corpus.predict_options import PredictOptions
from spacy_globalpointer.corpus.report import REPORT_NAME, PredictReport, write_report
from spacy_globalpointer.files.json_lines import (
    InputError,
    JsonArrayLines,
    count_lines,
    json_line,
    write_json,
)
from spacy_globalpointer.pipeline.keys import DEFAULT_SPANS_KEY

# An output of "-" is standard output, as for cat and jq.
STDOUT = "-"


def component_spans_key(nlp: Language) -> str:
    """The spans key of the pipeline's globalpointer_ner (or the default)."""
    from spacy_globalpointer.pipeline.globalpointer_ner import GlobalPointerNER

    for _, proc in nlp.pipeline:
        if isinstance(proc, GlobalPointerNER):
            return proc.spans_key
    return DEFAULT_SPANS_KEY


def component_relations_key(nlp: Language) -> Optional[str]:
    """The relations key of the pipeline's globalpointer_rel, or None without one."""
    from spacy_globalpointer.pipeline.globalpointer_rel import GlobalPointerRel

    for _, proc in nlp.pipeline:
        if isinstance(proc, GlobalPointerRel):
            return proc.relations_key
    return None


def output_layout(
    shards: List[Tuple[Path, Path]], output: Path, output_format: str
) -> Tuple[List[Path], Path]:
    """Where each shard's output goes, and the report: ``output`` itself (and
    NAME.report.json beside it) for one input file when ``output`` names a
    file (.json/.jsonl); else one file per shard under the folder ``output``,
    at the shard's relative path, and predict_report.json in it."""
    if len(shards) == 1 and output.suffix in (".json", ".jsonl") and not output.is_dir():
        return [output], output.with_name(output.stem + ".report.json")
    suffix = ".json" if output_format == "cluener" or json_array_output(output_format, "") else ".jsonl"
    targets = [output / rel.with_suffix(suffix) for _, rel in shards]
    seen: Dict[Path, Path] = {}
    for (shard, _), target in zip(shards, targets):
        if target in seen:
            raise InputError(f"{seen[target]} and {shard} would both be written to {target}: rename one")
        seen[target] = shard
    return targets, output / REPORT_NAME


def model_fingerprint(model: Union[str, Path]) -> str:
    """Changes when the pipeline does: the names, sizes and modification times
    of a pipeline folder's files, or an installed package's name and version."""
    path = Path(model)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        stats = [(str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
        return hashlib.sha256(json.dumps([str(path.resolve()), stats]).encode()).hexdigest()
    from importlib.metadata import version

    return f"{model}=={version(str(model))}"


def predict_corpus(
    nlp: Language,
    inputs: Sequence[Union[str, Path]],
    output: Union[str, Path],
    options: PredictOptions = PredictOptions(),
    *,
    run_id: str = "",
) -> PredictReport:
    """Predict every record of a corpus with ``nlp``, shard by shard, streaming.

    Each shard's output is written to ``NAME.part`` and renamed to NAME when
    the shard is complete. A rerun of the same run (the same ``run_id``, say
    model_fingerprint(model), inputs and options) skips the shards whose
    output exists, so a run stopped by a crash or Ctrl-C resumes where it
    stopped (its report counts the finished shards from their files); output
    left by a different run (another model, options, or an input shard that
    changed) is an error unless ``options.overwrite``.
    An invalid record raises an InputError naming its file, line and field,
    or with ``options.skip_invalid`` is written as ``{..., "error": ...}`` in its
    place and counted in the report (see output_layout). Memory does not grow
    with the corpus: records are read, predicted and written ``options.batch_size``
    at a time.
    An input ``-`` is standard input. An ``output`` of ``-`` is standard output: every shard's
    lines, in order, and no report file (nor resume).
    """
    from tqdm import tqdm  # type: ignore[import-untyped]  # no stubs, no py.typed

    shards = expand_inputs(inputs)
    keys = component_spans_key(nlp), component_relations_key(nlp)
    # Standard input can be read once and has no size: the bar then counts without a total.
    total = None if any(is_stdin(p) for p, _ in shards) else sum(count_lines(p) for p, _ in shards)
    bar = tqdm(total=total, unit=" lines", disable=not options.progress, smoothing=0.1)
    report = PredictReport(engine="local")
    if str(output) == STDOUT:
        out = _Sink(sys.stdout.buffer, json_array_output(options.output_format, STDOUT), flush=True)
        for shard, _ in shards:
            bar.set_description(f"predict {shard.name}")
            _write_shard(nlp, shard, out, keys, options, report, bar)
            report.shards_done.append(str(shard))
        out.close()
        bar.close()
        return report
    output = Path(output)
    targets, report_file = output_layout(shards, output, options.output_format)
    run = {
        "run_id": run_id,
        "shards": [_shard_stamp(p) for p, _ in shards],
        "options": options.output_key(),
    }
    _claim_output(report_file, run, targets, options.overwrite)
    for (shard, _), target in zip(shards, targets):
        if target.exists():
            # Done by an earlier try of this run: count what it wrote.
            report.shards_skipped.append(str(shard))
            report.count_written(target)
            bar.update(count_lines(shard))
            continue
        bar.set_description(f"predict {shard.name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        with open(partial, "wb") as f:
            sink = _Sink(f, json_array_output(options.output_format, target.name))
            _write_shard(nlp, shard, sink, keys, options, report, bar)
            sink.close()
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, target)
        report.shards_done.append(str(shard))
    bar.close()
    write_report(report_file, report, run=run, status="done")
    return report


class _Sink:
    """Where output records go, as UTF-8 (a file's and standard output's bytes are the same): JSON
    lines, or one JSON array (JsonArrayLines). ``flush``: each record is flushed as it is written, so
    that a reader at the other end of a pipe gets it as it is predicted."""

    def __init__(self, out: BinaryIO, array: bool, flush: bool = False):
        self.out, self.flush = out, flush
        self.array = JsonArrayLines(out) if array else None

    def write(self, line: Dict[str, Any]) -> None:
        if self.array is not None:
            self.array.write(line)
        else:
            self.out.write(json_line(line).encode("utf8"))
        if self.flush:
            self.out.flush()

    def close(self) -> None:
        if self.array is not None:
            self.array.close()


def _write_shard(
    nlp: Language,
    shard: Path,
    out: _Sink,
    keys: Tuple[str, Optional[str]],
    options: PredictOptions,
    report: PredictReport,
    bar: Any,
) -> None:
    """One shard's output records. ``keys``: the pipeline's spans key and relations key (None
    without a relation component)."""
    fmt = options.input_format or guess_input_format(shard)
    records = read_records(shard, fmt, options.text_field, options.id_field)
    written = 0
    for record, doc in _predict_records(nlp, records, options.skip_invalid, options.batch_size, report):
        line = output_line(record, doc, keys, options)
        report.count_left_out(line)
        out.write(line)
        written += 1
        bar.update(1)
    if not is_stdin(shard):
        bar.update(count_lines(shard) - written)  # blank lines
    report.records += written


def _shard_stamp(shard: Path) -> List[Any]:
    """What says a shard changed since an earlier run. Standard input cannot say: a stamp no earlier
    run has, so output written from it is never taken for a finished shard of this run."""
    if is_stdin(shard):
        return [str(shard), uuid.uuid4().hex]
    stat = shard.stat()
    return [str(shard), stat.st_size, stat.st_mtime_ns]


def _claim_output(report_file: Path, run: Dict[str, Any], targets: List[Path], overwrite: bool) -> None:
    """Resume the same run, refuse to mix with another one's output, or with
    ``overwrite`` start afresh."""
    previous = json.loads(report_file.read_text(encoding="utf8")).get("run") if report_file.exists() else None
    done = [t for t in targets if t.exists()]
    if (done or previous is not None) and previous != run:
        if not overwrite:
            raise InputError(
                f"{report_file.parent}: holds output of another run (another model, input or options); "
                "pass --overwrite to replace it, or write to a new place"
            )
        for target in done:
            target.unlink()
    write_json(report_file, {"run": run, "status": "running"})


def _predict_records(
    nlp: Language, records: Iterable[InputRecord], skip_invalid: bool, batch_size: int, report: PredictReport
) -> Iterator[Tuple[InputRecord, Optional[Doc]]]:
    """(record, doc) in input order; invalid records pass with doc None."""

    def checked(records: Iterable[InputRecord]) -> Iterator[Tuple[str, InputRecord]]:
        for record in records:
            check_record(record, skip_invalid, report)
            yield (record.text or "", record)

    # Invalid records ride along as empty texts (an empty doc costs nothing),
    # so order is kept without a second queue.
    for doc, record in nlp.pipe(checked(records), as_tuples=True, batch_size=batch_size):
        yield record, (doc if record.error is None else None)
