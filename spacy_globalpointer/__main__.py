from spacy_globalpointer.cli import run

run()
