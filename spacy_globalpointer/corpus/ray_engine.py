"""Corpus-scale prediction on Ray Data: read -> predict on an actor pool -> write.

Needs the ``ray`` extra (``pip install spacy-globalpointer[ray]``); the
component never imports this module.

- Read: a Ray ``FileBasedDatasource`` over the shards, one read task per group
  of whole files, so every record keeps its file and line number.
- Predict: ``map_batches`` with :class:`Predictor`, a callable class: each
  actor of the pool loads the pipeline once, then predicts batch after batch.
  Only plain columns cross process boundaries, never Doc objects.
- Write: Ray's file datasink (``write_datasink``), one JSON-lines file per
  block, named by the block's position (``part-000000.jsonl``, ...), so a
  retried block rewrites its own file. The actors serialize each output line
  as the local engine does (``outputs.json_line``), so the lines are the same
  and no line gets keys it does not have (as a table writer would add).

On failure: an actor that dies (a crash, an out-of-memory kill, a lost node)
is restarted by Ray and the batch it held is run again on it, so every input
record is still written exactly once (Ray's defaults for actor pools:
max_restarts and max_task_retries unlimited). A Python exception from a
record (invalid input without ``skip_invalid``) is not retried: it stops the
run with the record's file and line.
"""

import io
import itertools
import json
import re
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Union

# Only the light input and output layers at import: read and write tasks load this module.
from spacy_globalpointer.corpus.input_records import (
    STDIN,
    InputRecord,
    expand_inputs,
    guess_input_format,
    records_from_lines,
)
from spacy_globalpointer.corpus.label_studio_config import CONFIG_NAME
from spacy_globalpointer.corpus.output import check_record, output_line
from spacy_globalpointer.corpus.predict_options import PredictOptions
from spacy_globalpointer.corpus.report import REPORT_NAME, PredictReport, write_report
from spacy_globalpointer.files.json_lines import InputError, json_line, numbered_lines

ROWS_PER_BLOCK = 2048


def _record_source_class():
    import pyarrow  # type: ignore[import-untyped]  # no stubs, no py.typed
    from ray.data.datasource import FileBasedDatasource

    class RecordSource(FileBasedDatasource):
        """Records of JSON-lines or text files, with source and line, read
        as a stream (one block per ROWS_PER_BLOCK lines). Invalid records
        come with ``error`` set. ``id`` is JSON text, so that ids of any
        JSON type share one column."""

        def __init__(
            self, paths: List[str], input_format: Optional[str], text_field: str, id_field: Optional[str]
        ):
            super().__init__(paths)
            self.input_format, self.text_field, self.id_field = input_format, text_field, id_field

        def _read_stream(self, f: "pyarrow.NativeFile", path: str) -> Iterator["pyarrow.Table"]:
            fmt = self.input_format or guess_input_format(Path(path))
            lines = numbered_lines(io.BufferedReader(_RawStream(f)), path)
            records = records_from_lines(lines, path, fmt, self.text_field, self.id_field)
            while True:
                block = list(itertools.islice(records, ROWS_PER_BLOCK))
                if not block:
                    return
                yield pyarrow.table(
                    {
                        "source": [r.source for r in block],
                        "line": [r.line for r in block],
                        "text": [r.text for r in block],
                        "id": [None if r.id is None else json.dumps(r.id, ensure_ascii=False) for r in block],
                        "error": [r.error for r in block],
                    },
                    schema=pyarrow.schema(
                        [(name, pyarrow.int64() if name == "line" else pyarrow.string()) for name in COLUMNS]
                    ),
                )

    return RecordSource


COLUMNS = ("source", "line", "text", "id", "error")


def _json_lines_sink_class():
    from ray.data.datasource.file_datasink import BlockBasedFileDatasink

    class JSONLinesSink(BlockBasedFileDatasink):
        """Writes a block's ``json`` column, lines the actors serialized."""

        def write_block_to_file(self, block, file) -> None:
            lines = block.to_arrow().column("json").to_pylist()
            file.write("".join(lines).encode("utf8"))

    return JSONLinesSink


class _RawStream(io.RawIOBase):
    """A pyarrow NativeFile as a Python raw stream (read line by line as bytes)."""

    def __init__(self, f):
        self.f = f

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.f.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class Predictor:
    """The map_batches callable: loads the pipeline once per actor."""

    def __init__(self, model: str, options: PredictOptions, gpu: bool = False, threads: int = 1):
        import spacy
        import torch

        from spacy_globalpointer.corpus.predict import component_relations_key, component_spans_key

        if gpu:
            spacy.require_gpu()
        # The actor's CPUs, not the machine's: several actors share a node.
        torch.set_num_threads(max(1, threads))
        self.nlp = spacy.load(model)
        self.spans_key = component_spans_key(self.nlp)
        self.relations_key = component_relations_key(self.nlp)
        self.options = options

    def __call__(self, batch):
        import pyarrow

        columns = [batch.column(name).to_pylist() for name in COLUMNS]
        records = [
            InputRecord(source, line, text, None if id_ is None else json.loads(id_), error)
            for source, line, text, id_, error in zip(*columns)
        ]
        opts = self.options
        for record in records:
            check_record(record, opts.skip_invalid)  # counted from the written lines (see _report)
        valid = [r for r in records if r.error is None]
        docs = iter(self.nlp.pipe((r.text or "" for r in valid), batch_size=opts.batch_size))
        lines = [
            json_line(
                output_line(
                    r, next(docs) if r.error is None else None, (self.spans_key, self.relations_key), opts
                )
            )
            for r in records
        ]
        return pyarrow.table({"json": pyarrow.array(lines, pyarrow.large_string())})


def predict_with_ray(
    model: Union[str, Path],
    inputs: Sequence[Union[str, Path]],
    output: Union[str, Path],
    options: PredictOptions = PredictOptions(),
    *,
    workers: int = 1,
    cpus_per_worker: float = 1,
    gpus_per_worker: float = 0,
    ray_address: Optional[str] = None,
) -> PredictReport:
    """Predict a corpus on Ray Data; returns the report (also in ``output``).

    model: a pipeline path (or installed package) every Ray node can load.
    inputs: files, folders or globs, on a file system every node can read
        (local paths for a local Ray; a shared file system on a cluster).
    output: a folder; one JSON-lines file per block, in input order. It must
        be empty or new; ``options.overwrite`` replaces an earlier run's output
        (its part files and report, nothing else).
    options: what is read and written, as for the local engine.
    workers, cpus_per_worker, gpus_per_worker: the actor pool; each actor
        loads the pipeline once, runs torch on its CPUs and, with GPUs,
        spaCy on the GPU.
    ray_address: a running cluster to attach to ("auto", "host:6379");
        None starts a local Ray (or uses the one this process started).
    """
    import ray
    from ray.data import ActorPoolStrategy, DataContext
    from ray.data.datasource import FilenameProvider

    if STDIN in map(str, inputs) or str(output) == STDIN:
        # Read and write tasks run on any node, in other processes: none of them has our standard streams.
        raise InputError("standard input and output (-) are for the local engine: Ray reads and writes files")
    output = Path(output)
    shards = [str(p.resolve()) for p, _ in expand_inputs(inputs)]
    if any(Path(shard).is_relative_to(output.resolve()) for shard in shards):
        raise InputError(f"{output}: the output folder holds input files; write to another folder")
    # The labelling config the command writes beside a label-studio run's parts is the run's too.
    ours = (
        [*output.glob("part-*.jsonl"), output / REPORT_NAME, output / CONFIG_NAME] if output.is_dir() else []
    )
    others = [p for p in output.iterdir() if p not in ours] if output.is_dir() else []
    if others or (any(p.exists() for p in ours) and not options.overwrite):
        what = "files this command did not write" if others else "the output of an earlier run"
        raise InputError(
            f"{output}: the output folder holds {what}; give an empty or new folder (or --overwrite)"
        )
    for path in ours:
        path.unlink(missing_ok=True)
    started = not ray.is_initialized()
    if started:
        ray.init(address=ray_address, include_dashboard=False)
    ctx = DataContext.get_current()
    saved = (ctx.execution_options.preserve_order, ctx.enable_progress_bars)
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = options.progress

    class PartFiles(FilenameProvider):
        def get_filename_for_task(self, write_uuid: str, task_index: int) -> str:
            return f"part-{task_index:06d}.jsonl"

    try:
        records = _record_source_class()(shards, options.input_format, options.text_field, options.id_field)
        # Reading and writing are light and take no CPU reservation: workers may
        # then hold every CPU of a machine (2 workers on 2 cores) without starving them.
        ds = ray.data.read_datasource(records, num_cpus=0)
        ds = ds.map_batches(
            Predictor,
            compute=ActorPoolStrategy(size=workers),
            num_cpus=cpus_per_worker,
            num_gpus=gpus_per_worker or None,
            batch_size=options.batch_size,
            batch_format="pyarrow",
            fn_constructor_kwargs={
                "model": str(model),
                "options": options,
                "gpu": gpus_per_worker > 0,
                "threads": int(cpus_per_worker),
            },
        )
        ds.write_datasink(
            _json_lines_sink_class()(str(output), file_format="jsonl", filename_provider=PartFiles()),
            ray_remote_args={"num_cpus": 0},
        )
    except Exception as err:
        cause = _input_error(err)
        if cause is None:
            raise
        raise cause from None  # the record's file and line, not Ray's traceback
    finally:
        ctx.execution_options.preserve_order, ctx.enable_progress_bars = saved
        if started:
            ray.shutdown()
    report = _report(output, shards)
    write_report(output / REPORT_NAME, report)
    return report


def _input_error(err: BaseException) -> Optional[InputError]:
    """The InputError a record raised in an actor, from the exceptions Ray wraps
    it in. Ray pickles the actor's exception, and a pickled exception loses its
    __cause__: where the InputError object did not survive, its message (one
    line, in the traceback text Ray keeps) is read back."""
    seen = set()
    node: Optional[BaseException] = err
    while node is not None and id(node) not in seen:
        if isinstance(node, InputError):
            return node
        seen.add(id(node))
        node = getattr(node, "cause", None) or node.__cause__ or node.__context__
    found = re.search(r"\bInputError: (.+)", str(err))
    return InputError(found.group(1).strip()) if found else None


def _report(output: Path, shards: List[str]) -> PredictReport:
    """Counts read back from the written files: records, and the invalid
    ones (written in place as error lines)."""
    report = PredictReport(engine="ray", shards_done=shards)
    for part in sorted(output.glob("part-*.jsonl")):
        report.count_written(part)
    return report
