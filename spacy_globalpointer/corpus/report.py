"""The report of a corpus prediction run, for both engines: what was read,
written and skipped, written as JSON next to the output.
"""

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List

from spacy_globalpointer.files.json_lines import iter_json_items, write_json

REPORT_NAME = "predict_report.json"


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
    # Predictions not written (--source ents: spans outside doc.ents, relations on them), by kind.
    left_out: Counter = field(default_factory=Counter)

    def add_invalid(self, error: str) -> None:
        self.invalid += 1
        if len(self.errors) < self.max_errors_listed:
            self.errors.append(error)

    def count_written(self, path: Path) -> None:
        """Count the output records of a file already written (JSON lines, or
        a JSON array), the error records among them as invalid records."""
        for _, line in iter_json_items(path):
            self.records += 1
            if isinstance(line, dict) and line.get("error"):
                self.add_invalid(line["error"])
            if isinstance(line, dict):
                self.count_left_out(line)

    def count_left_out(self, line: Dict[str, Any]) -> None:
        """Add what an output record says it left out (annotation_output.py's ``meta.left_out``)."""
        meta = line.get("meta")
        left_out = meta.get("left_out") if isinstance(meta, dict) else None
        if isinstance(left_out, dict):
            self.left_out.update({kind: n for kind, n in left_out.items() if isinstance(n, int)})

    def to_dict(self) -> Dict[str, Any]:
        return {
            "engine": self.engine,
            "shards_done": self.shards_done,
            "shards_skipped": self.shards_skipped,
            "records": self.records,
            "invalid": self.invalid,
            "errors": self.errors,
            "errors_not_listed": self.invalid - len(self.errors),
            "left_out": dict(self.left_out),
        }


def write_report(path: Path, report: PredictReport, **header: Any) -> None:
    """The report file of a run: ``header`` (the local engine's run and status), then the report."""
    write_json(path, {**header, **report.to_dict()})
