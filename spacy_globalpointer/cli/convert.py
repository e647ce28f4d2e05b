"""`spacy globalpointer convert`."""

from pathlib import Path

import typer
from spacy.cli._util import Arg, Opt
from wasabi import msg

from .. import cluener
from .app import app, table


@app.command("convert")
def convert_cli(
    input_path: Path = Arg(..., help="CLUENER .json (JSON lines)", exists=True, dir_okay=False),
    output_path: Path = Arg(..., help="Output .spacy file"),
    spans_key: str = Opt("sc", "--spans-key", help="doc.spans key for all entities"),
    skip_invalid: bool = Opt(
        False,
        "--skip-invalid",
        help="Leave invalid lines out and list them, instead of stopping at the first",
    ),
    no_progress: bool = Opt(False, "--no-progress", help="No progress bar"),
):
    """Convert CLUENER JSON lines to a DocBin: every entity in
    doc.spans[SPANS_KEY], a non-overlapping subset in doc.ents, the line's id
    in doc.user_data. A bad line is an error naming file, line and field.

    \b
    Example:
      spacy globalpointer convert train.json corpus/train.spacy
    """
    try:
        report = cluener.convert(
            input_path, output_path, spans_key=spans_key, skip_invalid=skip_invalid, progress=not no_progress
        )
    except cluener.CluenerError as err:
        msg.fail(str(err), "Fix the line, or pass --skip-invalid to leave bad lines out (they are listed).")
        raise typer.Exit(1) from None
    msg.good(f"Wrote {report.docs} docs with {sum(report.entities.values())} entities to {output_path}")
    table([(label, n) for label, n in sorted(report.entities.items())], ("label", "entities"))
    if report.not_in_ents:
        msg.info(
            f"{report.not_in_ents} entities overlap a longer one: kept in doc.spans['{spans_key}'],"
            " left out of doc.ents"
        )
    if report.skipped:
        msg.warn(f"Skipped {len(report.skipped)} invalid line(s):")
        for line in report.skipped:
            print(f"  {line}")
