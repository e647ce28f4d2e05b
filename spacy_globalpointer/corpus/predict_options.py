"""The options of a corpus prediction run that both engines take: what is read,
what is written, and how a run treats bad input and earlier output.

Built once (by the command, or by a caller of the Python API) and passed
whole, so an option is named, typed and checked in one place. Frozen: an
engine, or a Ray actor it is pickled to, cannot change a run's options.

Light on purpose (no spaCy, no torch): Ray's tasks import the engine that imports it.
"""

from dataclasses import dataclass
from typing import List, Optional

from spacy_globalpointer.corpus.input_records import INPUT_FORMATS
from spacy_globalpointer.corpus.output import OUTPUT_FORMATS


@dataclass(frozen=True)
class PredictOptions:
    """input_format: "jsonl" or "text" (one text per line); None: by each file's suffix (.txt: text).
    text_field, id_field: the JSON fields holding the text and the id carried to the output
        (no id_field: the output carries the source file and line).
    output_format: "jsonl" (spans, ents and relations, character offsets), "cluener" (submission
        lines), "spans" or "doccano" (the tools' pre-annotations, corpus/annotation_output.py).
    source: for "cluener", "ents" (flat) or "spans" (every predicted span); checked where it is used
        (training/converters/cluener.py, which imports spaCy, as this module must not).
    with_text: also write each text.
    skip_invalid: write an invalid record as an error line and count it, instead of stopping.
    batch_size: docs per nlp.pipe batch (local) or per actor call (ray).
    overwrite: replace output left by another run.
    progress: show a progress bar (on standard error)."""

    input_format: Optional[str] = None
    text_field: str = "text"
    id_field: Optional[str] = None
    output_format: str = "jsonl"
    source: str = "ents"
    with_text: bool = False
    skip_invalid: bool = False
    batch_size: int = 256
    overwrite: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        # Checked when the run is described, before a model loads or a Ray cluster starts.
        if self.input_format is not None and self.input_format not in INPUT_FORMATS:
            raise ValueError(f"input format must be one of {INPUT_FORMATS}, got {self.input_format!r}")
        if self.output_format not in OUTPUT_FORMATS:
            raise ValueError(f"output format must be one of {OUTPUT_FORMATS}, got {self.output_format!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {self.batch_size}")

    def output_key(self) -> List[Optional[object]]:
        """The options that change what is written for a record: a rerun with other ones is another run
        (its output is not resumed). In this order: reports written before this class keep resuming."""
        return [
            self.input_format,
            self.text_field,
            self.id_field,
            self.output_format,
            self.source,
            self.with_text,
        ]
