"""What corpus prediction writes, for both engines: the output line of each
record, the JSON line it is written as, the check of invalid records, and
the run's report; and the package's one writer of JSON files.

Light on purpose (no spaCy, no torch at import): Ray's read and write tasks
import the engine that imports it.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Union

from .inputs import InputError, InputRecord, iter_json_lines

if TYPE_CHECKING:
    from spacy.tokens import Doc

OUTPUT_FORMATS = ("jsonl", "cluener")
REPORT_NAME = "predict_report.json"


def doc_predictions(doc: "Doc", spans_key: str, *, with_text: bool = False) -> Dict[str, Any]:
    """Every predicted span (exclusive character ends, score, text) and the
    flat ents, as plain JSON. With the text, this is also displaCy's manual
    format (``displacy.render(predictions, style="ent", manual=True)``)."""
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
    return out


def output_line(
    record: InputRecord,
    doc: Optional["Doc"],
    spans_key: str,
    output_format: str,
    with_text: bool = False,
    source: str = "ents",
) -> Dict[str, Any]:
    """What is written for one record: its id (or source and line), then the
    predictions (or the error, for an invalid record). The cluener format is
    CLUENER's submission line, from doc.ents or (``source="spans"``) every
    predicted span, with inclusive ends."""
    if output_format == "cluener":
        key = {"id": record.id if record.id is not None else record.line - 1}
        if doc is None:
            return {**key, "error": record.error}
        # Imported here: cluener imports spaCy, and this module stays light.
        from .cluener import cluener_labels

        return {**key, "label": cluener_labels(doc, source=source, spans_key=spans_key)}
    key = {"id": record.id} if record.id is not None else {"source": record.source, "line": record.line}
    if doc is None:
        return {**key, "error": record.error}
    return {**key, **doc_predictions(doc, spans_key, with_text=with_text)}


# Python's json, not srsly's: srsly writes every non-ASCII character as a
# \uXXXX escape (Chinese would be unreadable) and rounds a float to at most 15
# significant digits, where Python writes the shortest that reads back the same.


def json_line(line: Dict[str, Any]) -> str:
    """An output line as both engines write it: one line of JSON."""
    return json.dumps(line, ensure_ascii=False) + "\n"


def json_text(data: Any) -> str:
    """A JSON document (a report, scores, thresholds) as it is written and printed: indented."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def write_json(path: Union[str, Path], data: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json_text(data), encoding="utf8")


@dataclass
class PredictReport:
    """What a run did: returned by both engines, and written as JSON next to the output."""

    engine: str  # "local" or "ray"
    shards_done: List[str] = field(default_factory=list)
    shards_skipped: List[str] = field(default_factory=list)
    records: int = 0
    invalid: int = 0
    errors: List[str] = field(default_factory=list)
    max_errors_listed: int = 1000

    def add_invalid(self, error: str) -> None:
        self.invalid += 1
        if len(self.errors) < self.max_errors_listed:
            self.errors.append(error)

    def count_written(self, path: Path) -> None:
        """Count the output lines of a file already written, the error lines
        among them as invalid records."""
        for _, line in iter_json_lines(path):
            self.records += 1
            if isinstance(line, dict) and line.get("error"):
                self.add_invalid(line["error"])

    def to_dict(self) -> Dict[str, Any]:
        return {
            "engine": self.engine,
            "shards_done": self.shards_done,
            "shards_skipped": self.shards_skipped,
            "records": self.records,
            "invalid": self.invalid,
            "errors": self.errors,
            "errors_not_listed": self.invalid - len(self.errors),
        }


def write_report(path: Path, report: PredictReport, **header: Any) -> None:
    """The report file of a run: ``header`` (the local engine's run and status), then the report."""
    write_json(path, {**header, **report.to_dict()})


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
