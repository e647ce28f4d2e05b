"""Commands: ``spacy globalpointer convert|init-config|predict|score|calibrate|interactive``,
one module each.

Registered under spaCy's own command line through the ``spacy_cli`` entry
point (see spacy_cli.py); ``spacy-globalpointer ...`` and ``python -m
spacy_globalpointer ...`` run the same commands.
"""

from . import calibrate, convert, init_config, interactive, predict, score  # noqa: F401 (they register the commands)
from .app import app, run

__all__ = ["app", "run"]
