"""`spacy globalpointer score`."""

from pathlib import Path
from typing import Any, List, Optional, Tuple

from spacy.cli._util import Arg, Opt
from wasabi import msg

from spacy_globalpointer.cli.app import app, failing_on, table
from spacy_globalpointer.files.json_lines import json_text, write_json


@app.command("score")
def score_cli(
    gold: Path = Arg(..., help="Gold CLUENER .json", exists=True, dir_okay=False),
    pred: Path = Arg(
        ..., help="Predicted CLUENER .json (same lines, or the same ids)", exists=True, dir_okay=False
    ),
    as_json: bool = Opt(False, "--json", help="Print JSON instead of tables"),
    output: Optional[Path] = Opt(None, "--output", help="Also write the scores as JSON to this file"),
):
    """Exact (start, end, label) micro P/R/F per label, and the official
    CLUENER metric (entity strings per line, macro F over labels).

    \b
    Example:
      spacy globalpointer score dev.json dev_pred.json --output metrics/dev.json
    """
    from spacy_globalpointer.corpus.score import score_files

    with failing_on(ValueError):  # CluenerError is one
        scores = score_files(gold, pred)
    if output:
        write_json(output, scores)
    if as_json:
        print(json_text(scores), end="")
        return
    exact, official = scores["exact"], scores["official"]

    def pct(v):
        return f"{100 * v:.2f}"

    msg.divider("Exact (start, end, label) match, micro")
    rows: List[Tuple[Any, ...]] = [
        (label, pct(v["p"]), pct(v["r"]), pct(v["f"]), v["tp"] + v["fn"])
        for label, v in exact["per_type"].items()
    ]
    rows.append(("ALL (micro)", pct(exact["p"]), pct(exact["r"]), pct(exact["f"]), exact["tp"] + exact["fn"]))
    table(rows, ("label", "P", "R", "F", "gold"))
    msg.divider("CLUENER official: entity strings per line, macro over labels")
    rows = [(label, pct(v["p"]), pct(v["r"]), pct(v["f"])) for label, v in official["per_type"].items()]
    rows.append(("MACRO F", "", "", pct(official["macro_f"])))
    table(rows, ("label", "P", "R", "F"))
