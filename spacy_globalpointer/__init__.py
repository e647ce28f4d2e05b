"""GlobalPointer and Efficient GlobalPointer span-scoring NER for spaCy.

The names below are imported on first use: a process that only needs a light
submodule (a Ray read task, the command line's --help) does not pay for
torch and spaCy. spaCy finds the component through entry points either way.
"""

import importlib

__version__ = "0.1.0"
_EXPORTS = {
    "GlobalPointerNER": "pipe",
    "make_globalpointer_ner": "pipe",
    "build_globalpointer_model": "model",
    "build_globalpointer_model_v2": "model",
    "NgramHashEmbed": "embed",
    "make_globalpointer_scorer": "scorer",
    "score_globalpointer": "scorer",
    "TorchGemmOps": "speedups",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'spacy_globalpointer' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
