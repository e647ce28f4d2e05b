"""Adds ``spacy globalpointer ...`` to spaCy's command line. Loaded only by
spaCy's CLI, through the ``spacy_cli`` entry point."""

import warnings

from spacy.cli._util import app as spacy_app

try:
    from spacy_globalpointer.cli import app
except Exception as err:  # noqa: BLE001
    # spaCy loads every spacy_cli plugin before running any command: a plugin
    # that fails to import must not take `spacy train` down with it.
    warnings.warn(f"spacy-globalpointer: its commands are unavailable ({type(err).__name__}: {err})")
else:
    spacy_app.add_typer(app, name="globalpointer")
