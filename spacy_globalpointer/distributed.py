"""Corpus-scale prediction on Ray Data: read -> predict on an actor pool -> write.

Needs the ``ray`` extra (``pip install spacy-globalpointer[ray]``); the
component never imports this module.

- Read: a Ray ``FileBasedDatasource`` over the shards, one read task per group
  of whole files, so every record keeps its file and line number.
- Predict: ``map_batches`` with :class:`Predictor`, a callable class: each
  actor of the pool loads the pipeline once, then predicts batch after batch.
  Only plain columns cross process boundaries, never Doc objects.
- Write: Ray's own ``write_json``, one JSON-lines file per block, named by
  the block's position (``part-000000.jsonl``, ...), so a retried block
  rewrites its own file.

On failure: an actor that dies (a crash, an out-of-memory kill, a lost node)
is restarted by Ray and the batch it held is run again on it, so every input
record is still written exactly once (Ray's defaults for actor pools:
max_restarts and max_task_retries unlimited). A Python exception from a
record (invalid input without ``skip_invalid``) is not retried: it stops the
run with the record's file and line.
"""

import io
import json
import os
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

# Only the light input layer at import: read and write tasks load this module.
from .inputs import (
    InputError,
    InputRecord,
    expand_inputs,
    guess_input_format,
    iter_json_lines,
    parse_json_line,
    parse_record,
)

# A test hook: the first worker that finds this file (by renaming it) kills
# its own process in its first batch; Ray must then redo that batch.
KILL_FLAG_ENV = "SPACY_GLOBALPOINTER_KILL_ONE_WORKER"
ROWS_PER_BLOCK = 2048


def _record_source_class():
    import pyarrow
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
            rows: Dict[str, list] = {k: [] for k in ("source", "line", "text", "id", "error")}
            for line_no, line in _lines(f):
                if fmt == "text":
                    record = InputRecord(path, line_no, line)
                elif not line.strip():
                    continue
                else:
                    obj = parse_json_line(line, path, line_no)
                    record = parse_record(obj, path, line_no, self.text_field, self.id_field)
                rows["source"].append(record.source)
                rows["line"].append(record.line)
                rows["text"].append(record.text)
                rows["id"].append(None if record.id is None else json.dumps(record.id, ensure_ascii=False))
                rows["error"].append(record.error)
                if len(rows["line"]) == ROWS_PER_BLOCK:
                    yield pyarrow.table(rows, schema=_SCHEMA())
                    rows = {k: [] for k in rows}
            if rows["line"]:
                yield pyarrow.table(rows, schema=_SCHEMA())

    return RecordSource


def _SCHEMA():
    import pyarrow

    return pyarrow.schema(
        [
            ("source", pyarrow.string()),
            ("line", pyarrow.int64()),
            ("text", pyarrow.string()),
            ("id", pyarrow.string()),
            ("error", pyarrow.string()),
        ]
    )


def _lines(f) -> Iterator[tuple]:
    """(line number, line without its "\\n") of a binary stream, read in 1 MiB blocks."""
    reader = io.TextIOWrapper(io.BufferedReader(_RawStream(f), 1 << 20), encoding="utf8", newline="")
    for line_no, line in enumerate(reader, start=1):
        yield line_no, line[:-1] if line.endswith("\n") else line


class _RawStream(io.RawIOBase):
    """A pyarrow NativeFile as a Python raw stream (for TextIOWrapper)."""

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

    def __init__(
        self,
        model: str,
        output_format: str = "jsonl",
        source: str = "ents",
        with_text: bool = False,
        skip_invalid: bool = False,
        gpu: bool = False,
        threads: int = 1,
        batch_size: int = 256,
        kill_flag: Optional[str] = None,
    ):
        import spacy
        import torch

        from .corpus import component_spans_key

        if gpu:
            spacy.require_gpu()
        # The actor's CPUs, not the machine's: several actors share a node.
        torch.set_num_threads(max(1, threads))
        self.nlp = spacy.load(model)
        self.spans_key = component_spans_key(self.nlp)
        self.output_format, self.source = output_format, source
        self.with_text, self.skip_invalid = with_text, skip_invalid
        self.batch_size = batch_size
        self.kill_flag = kill_flag

    def __call__(self, batch):
        import pandas

        from .corpus import output_record

        if self.kill_flag:
            _maybe_die(self.kill_flag)
        columns = [batch.column(name).to_pylist() for name in ("source", "line", "text", "id", "error")]
        records = [
            InputRecord(source, line, text, None if id_ is None else json.loads(id_), error)
            for source, line, text, id_, error in zip(*columns)
        ]
        for record in records:
            if record.error is not None and not self.skip_invalid:
                raise InputError(
                    record.error + " (pass --skip-invalid to write it as an error record and go on)"
                )
        valid = [r for r in records if r.error is None]
        docs = iter(self.nlp.pipe((r.text for r in valid), batch_size=self.batch_size))
        rows = [
            output_record(
                r, next(docs) if r.error is None else None, self.spans_key, self.output_format, self.with_text
            )
            for r in records
        ]
        return pandas.DataFrame(rows)


def _maybe_die(flag: str) -> None:
    try:
        os.rename(flag, f"{flag}.claimed-{os.getpid()}")
    except OSError:
        return  # another worker took it, or it was never set
    os._exit(1)


def predict_with_ray(
    model: Union[str, Path],
    inputs: Sequence[Union[str, Path]],
    output: Union[str, Path],
    *,
    input_format: Optional[str] = None,
    text_field: str = "text",
    id_field: Optional[str] = None,
    output_format: str = "jsonl",
    source: str = "ents",
    with_text: bool = False,
    skip_invalid: bool = False,
    batch_size: int = 256,
    workers: int = 1,
    cpus_per_worker: float = 1,
    gpus_per_worker: float = 0,
    ray_address: Optional[str] = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Dict[str, Any]:
    """Predict a corpus on Ray Data; returns the report (also written as
    ``predict_report.json`` in ``output``).

    model: a pipeline path (or installed package) every Ray node can load.
    inputs: files, folders or globs, on a file system every node can read
        (local paths for a local Ray; a shared file system on a cluster).
    output: a folder; one JSON-lines file per block, in input order. It must
        be empty or new, unless ``overwrite``.
    workers, cpus_per_worker, gpus_per_worker: the actor pool; each actor
        loads the pipeline once, runs torch on its CPUs and, with GPUs,
        spaCy on the GPU.
    ray_address: a running cluster to attach to ("auto", "host:6379");
        None starts a local Ray (or uses the one this process started).
    """
    import ray
    from ray.data import ActorPoolStrategy, DataContext
    from ray.data.datasource import FilenameProvider, SaveMode

    output = Path(output)
    if output.exists() and any(output.iterdir()) and not overwrite:
        raise InputError(
            f"{output}: the output folder is not empty; pass --overwrite to replace what is there"
        )
    shards = [str(Path(p).resolve()) for p, _ in expand_inputs(inputs)]
    if not ray.is_initialized():
        ray.init(address=ray_address, include_dashboard=False, log_to_driver=True)
    ctx = DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = progress

    class PartFiles(FilenameProvider):
        def get_filename_for_task(self, write_uuid: str, task_index: int) -> str:
            return f"part-{task_index:06d}.jsonl"

    source = _record_source_class()(shards, input_format, text_field, id_field)
    # Reading and writing are light and take no CPU reservation: workers may
    # then hold every CPU of a machine (2 workers on 2 cores) without starving them.
    light = {"num_cpus": 0}
    ds = ray.data.read_datasource(source, ray_remote_args=light)
    ds = ds.map_batches(
        Predictor,
        compute=ActorPoolStrategy(size=workers),
        num_cpus=cpus_per_worker,
        num_gpus=gpus_per_worker or None,
        batch_size=batch_size,
        batch_format="pyarrow",
        fn_constructor_kwargs={
            "model": str(model),
            "output_format": output_format,
            "source": source,
            "with_text": with_text,
            "skip_invalid": skip_invalid,
            "gpu": gpus_per_worker > 0,
            "threads": int(cpus_per_worker),
            "batch_size": batch_size,
            "kill_flag": os.environ.get(KILL_FLAG_ENV),
        },
    )
    ds.write_json(
        str(output),
        filename_provider=PartFiles(),
        mode=SaveMode.OVERWRITE if overwrite else SaveMode.APPEND,
        force_ascii=False,
        double_precision=15,
        ray_remote_args=light,
    )
    from .corpus import report_path, write_report

    report = _report(output, shards)
    write_report(report, report_path(output))
    return report


def _report(output: Path, shards: List[str]) -> Dict[str, Any]:
    """Counts read back from the written files: records, and the invalid
    ones (written in place as error records)."""
    records, errors = 0, []
    for part in sorted(output.glob("part-*.jsonl")):
        for _, obj in iter_json_lines(part):
            records += 1
            if isinstance(obj, dict) and obj.get("error"):
                errors.append(obj["error"])
    return {
        "engine": "ray",
        "shards": shards,
        "records": records,
        "invalid": len(errors),
        "errors": errors[:1000],
        "errors_not_listed": max(0, len(errors) - 1000),
    }
