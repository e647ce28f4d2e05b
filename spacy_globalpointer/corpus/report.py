"""The report of a corpus prediction run, for both engines: what was read,
written and skipped, written as JSON next to the output.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List

from spacy_globalpointer.files.json_lines import iter_json_lines, write_json

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
