"""The command group, and what its commands share."""

from enum import Enum
from typing import Sequence, Type, cast

import typer
from wasabi import msg

app = typer.Typer(
    name="globalpointer",
    help="GlobalPointer NER: CLUENER conversion, corpus prediction, scoring, threshold calibration.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


def table(rows, header) -> None:
    msg.table(rows, header=header, divider=True, aligns=("l",) + ("r",) * (len(header) - 1))


def choices(name: str, values: Sequence[str]) -> Type[Enum]:
    """A closed option's values as typer takes them, an Enum: any other value
    is a usage error that lists these."""
    # cast: mypy types Enum's functional API only where its result is assigned to a name.
    return cast(Type[Enum], Enum(name, [(value, value) for value in values], type=str))


def run() -> None:
    """The console script ``spacy-globalpointer`` (and ``python -m spacy_globalpointer``)."""
    app(prog_name="spacy-globalpointer")
