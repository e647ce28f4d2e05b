"""Adds ``spacy globalpointer ...`` to spaCy's command line. Loaded only by
spaCy's CLI, through the ``spacy_cli`` entry point."""

from spacy.cli._util import app as spacy_app

from .cli import app

spacy_app.add_typer(app, name="globalpointer")
