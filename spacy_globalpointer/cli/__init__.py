"""Commands: ``spacy globalpointer convert|init-config|predict|score|calibrate|interactive|
fill-curated-config|label-studio-config``,
one module each.

Registered under spaCy's own command line through the ``spacy_cli`` entry
point (see spacy_cli.py); ``spacy-globalpointer ...`` and ``python -m
spacy_globalpointer ...`` run the same commands.
"""

# Imported for their side effect: each registers its command on the app.
from spacy_globalpointer.cli import (  # noqa: F401
    calibrate,
    convert,
    fill_curated_config,
    init_config,
    interactive,
    label_studio_config,
    predict,
    score,
)
from spacy_globalpointer.cli.app import app, run

__all__ = ["app", "run"]
