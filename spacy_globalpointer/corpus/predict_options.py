"""The options of a corpus prediction run that both engines take: what is read,
what is written, and how a run treats bad input and earlier output.

Built once (by the command, or by a caller of the Python API) and passed
whole, so an option is named, typed and checked in one place. Frozen: an
engine, or a Ray actor it is pickled to, cannot change a run's options.

Light on purpose (no spaCy, no torch): Ray's tasks import the engine that imports it.
"""

from dataclasses import dataclass
from typing import List, Optional, Tuple

from spacy_globalpointer.corpus.annotation_output import LS_DATA_KEY, LS_FROM_NAME, LS_TO_NAME
from spacy_globalpointer.corpus.input_records import INPUT_FORMATS
from spacy_globalpointer.corpus.output import OUTPUT_FORMATS
from spacy_globalpointer.pipeline.keys import check_source


@dataclass(frozen=True)
class PredictOptions:
    """input_format: "jsonl" or "text" (one text per line); None: by each file's suffix (.txt: text).
    text_field, id_field: the JSON fields holding the text and the id carried to the output
        (no id_field: the output carries the source file and line).
    output_format: "jsonl" (spans, ents and relations, character offsets), "cluener" (submission
        lines), "spans", "doccano" or "label-studio" (the tools' pre-annotations,
        corpus/annotation_output.py).
    source: which spans a format that writes one kind writes: "ents" (flat) or "spans" (every
        predicted span, nested ones too); None: the format's default (cluener: ents, the tools'
        formats: spans). jsonl writes both: a source for it is refused, never ignored.
    ls_from_name, ls_to_name, ls_data_key: label-studio: the names of the labelling config's Labels
        and Text tags and of the task's data field holding the text.
    with_text: also write each text.
    skip_invalid: write an invalid record as an error line and count it, instead of stopping.
    batch_size: docs per nlp.pipe batch (local) or per actor call (ray).
    overwrite: replace output left by another run.
    progress: show a progress bar (on standard error)."""

    input_format: Optional[str] = None
    text_field: str = "text"
    id_field: Optional[str] = None
    output_format: str = "jsonl"
    source: Optional[str] = None
    with_text: bool = False
    skip_invalid: bool = False
    batch_size: int = 256
    overwrite: bool = False
    progress: bool = True
    ls_from_name: str = LS_FROM_NAME
    ls_to_name: str = LS_TO_NAME
    ls_data_key: str = LS_DATA_KEY

    def __post_init__(self) -> None:
        # Checked when the run is described, before a model loads or a Ray cluster starts.
        if self.input_format is not None and self.input_format not in INPUT_FORMATS:
            raise ValueError(f"input format must be one of {INPUT_FORMATS}, got {self.input_format!r}")
        if self.output_format not in OUTPUT_FORMATS:
            raise ValueError(f"output format must be one of {OUTPUT_FORMATS}, got {self.output_format!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {self.batch_size}")
        if self.source is not None:
            check_source(self.source)
        if self.source is not None and self.output_format == "jsonl":
            raise ValueError(
                "--source chooses the spans of the cluener, spans, doccano and label-studio formats: "
                "jsonl writes both (spans: every predicted span; ents: the flat selection)"
            )

    def span_source(self) -> str:
        """The spans written: the source given, else the format's default (cluener: CLUENER's gold is
        flat; the tools' formats: every predicted span, nested ones too). jsonl writes both: "ents",
        the value its runs were resumed by before --source applied to the tools' formats."""
        if self.source is not None:
            return self.source
        return "ents" if self.output_format in ("cluener", "jsonl") else "spans"

    def ls_names(self) -> Tuple[str, str, str]:
        return self.ls_from_name, self.ls_to_name, self.ls_data_key

    def output_key(self) -> List[Optional[object]]:
        """The options that change what is written for a record: a rerun with other ones is another run
        (its output is not resumed). In this order: reports written before this class keep resuming
        (label-studio's tag names come last, and only for that format, whose output changed with them)."""
        key: List[Optional[object]] = [
            self.input_format,
            self.text_field,
            self.id_field,
            self.output_format,
            self.span_source(),
            self.with_text,
        ]
        return key + list(self.ls_names()) if self.output_format == "label-studio" else key
