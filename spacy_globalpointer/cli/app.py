"""The command group, and what its commands share."""

from contextlib import contextmanager
from enum import Enum
from typing import Iterator, NoReturn, Optional, Sequence, Type, cast

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


def fail(message: str, hint: Optional[str] = None) -> NoReturn:
    """End a command: the message (and what to do about it) on standard error, exit status 1."""
    # Unwrapped (wasabi would wrap at 80 columns): a path or a field stays on one line.
    typer.echo(f"✘ {message}" + (f"\n{hint}" if hint else ""), err=True)
    raise typer.Exit(1)


@contextmanager
def failing_on(*errors: Type[Exception], hint: Optional[str] = None) -> Iterator[None]:
    """The commands' one failure path: an error of these types (bad input, a
    bad setting: its message names the file, line and field, or the setting)
    ends the command through :func:`fail`, without a traceback."""
    try:
        yield
    except errors as err:
        fail(str(err), hint)
