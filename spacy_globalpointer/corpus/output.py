"""What corpus prediction writes for each record, for both engines: the
predictions of a Doc as JSON, the output line in each output format, and the
check of invalid records.

Light on purpose (no spaCy, no torch at import): Ray's read and write tasks
import the engine that imports it.
"""

from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple

from spacy_globalpointer.corpus.annotation_output import TOOL_FORMATS, tool_record
from spacy_globalpointer.corpus.input_records import InputRecord
from spacy_globalpointer.files.json_lines import InputError

if TYPE_CHECKING:
    from spacy.tokens import Doc

    from spacy_globalpointer.corpus.predict_options import PredictOptions

from spacy_globalpointer.corpus.report import PredictReport

OUTPUT_FORMATS = ("jsonl", "cluener", "spans", "doccano", "label-studio")


def json_array_output(output_format: str, name: str) -> bool:
    """Whether an output is one JSON array: label-studio's (what Label Studio's import takes, where
    it refuses JSON lines), unless its name ends in .jsonl (for Label Studio's storage imports)."""
    return output_format == "label-studio" and not name.endswith(".jsonl")


def doc_predictions(
    doc: "Doc", spans_key: str, *, with_text: bool = False, relations_key: Optional[str] = None
) -> Dict[str, Any]:
    """Every predicted span (exclusive character ends, score, text), the
    flat ents and, with a ``relations_key``, the relations (head and tail by
    character offsets and label, the relation label, the score), as plain
    JSON. With the text, this is also displaCy's manual format
    (``displacy.render(predictions, style="ent", manual=True)``)."""
    group = doc.spans.get(spans_key, [])
    scores = group.attrs.get("scores", []) if len(group) else []
    out: Dict[str, Any] = {}
    if with_text:
        out["text"] = doc.text
    out["spans"] = [
        {"start": s.start_char, "end": s.end_char, "label": s.label_, "score": float(v), "text": s.text}
        for s, v in zip(group, scores)
    ]
    out["ents"] = [
        {"start": e.start_char, "end": e.end_char, "label": e.label_, "text": e.text} for e in doc.ents
    ]
    if relations_key is not None:
        # Imported here: relations imports spaCy, and this module stays light.
        from spacy_globalpointer.pipeline.relations import relations

        out["relations"] = [
            {
                "head": {"start": r.head.start_char, "end": r.head.end_char, "label": r.head.label_},
                "tail": {"start": r.tail.start_char, "end": r.tail.end_char, "label": r.tail.label_},
                "label": r.label,
                "score": r.score,
                "text": [r.head.text, r.tail.text],
            }
            for r in relations(doc, relations_key)
        ]
    return out


def output_line(
    record: InputRecord,
    doc: Optional["Doc"],
    keys: Tuple[str, Optional[str]],
    options: "PredictOptions",
) -> Dict[str, Any]:
    """What is written for one record: its id (or source and line), then the
    predictions (or the error, for an invalid record), relations included
    where the pipeline predicts them (``keys``: the spans key, and the
    relations key or None). The spans, doccano and label-studio formats are
    what those tools import (annotation_output.py). The cluener format is
    CLUENER's submission line, from doc.ents or (``source="spans"``) every
    predicted span, with inclusive ends."""
    spans_key, relations_key = keys
    output_format = options.output_format
    if output_format == "cluener":
        key = {"id": record.id if record.id is not None else record.line - 1}
        if doc is None:
            return {**key, "error": record.error}
        # Imported here: cluener imports spaCy, and this module stays light.
        from spacy_globalpointer.training.converters.cluener import cluener_labels

        return {**key, "label": cluener_labels(doc, source=options.span_source(), spans_key=spans_key)}
    key = {"id": record.id} if record.id is not None else {"source": record.source, "line": record.line}
    if output_format in TOOL_FORMATS:
        # The tools keep "meta" (Prodigy and Label Studio show it) and an "id"; the record's place goes there.
        # Label Studio drops a task's "id" at import (it numbers tasks itself): the id goes to meta too.
        in_meta = record.id is None or output_format == "label-studio"
        place = ({"id": record.id} if record.id is not None else key) if in_meta else {}
        key = {"id": record.id} if not in_meta else {"meta": place}
        if doc is None:
            return {**key, "error": record.error}
        out = tool_record(
            doc, spans_key, relations_key, output_format, options.span_source(), options.ls_names()
        )
        # The record's place and what was left out of it (annotation_output.py) share "meta".
        meta = {**place, **out.pop("meta", {})}
        ident = {"id": record.id} if not in_meta else {}
        return {**ident, **out, **({"meta": meta} if meta else {})}
    if doc is None:
        return {**key, "error": record.error}
    return {
        **key,
        **doc_predictions(doc, spans_key, with_text=options.with_text, relations_key=relations_key),
    }


def check_record(record: InputRecord, skip_invalid: bool, report: Optional[PredictReport] = None) -> None:
    """Stop at an invalid record with its file, line and field, or with
    ``skip_invalid`` let it through (to be written as an error line), counted
    in ``report`` when the caller keeps one."""
    if record.error is None:
        return
    if not skip_invalid:
        raise InputError(record.error + " (pass --skip-invalid to write it as an error record and go on)")
    if report is not None:
        report.add_invalid(record.error)
