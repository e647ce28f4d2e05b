"""GlobalPointer and Efficient GlobalPointer span-scoring NER for spaCy.

Plain names are the current versions of the registered functions (``_v1``
the earlier ones). The names below are imported on first use: a process that only needs a light
submodule (a Ray read task, the command line's --help) does not pay for
torch and spaCy. spaCy finds the component through entry points either way.
"""

import importlib

__version__ = "0.1.0"
_EXPORTS = {
    "GlobalPointerNER": "pipe",
    "make_globalpointer_ner": "pipe",
    "build_globalpointer_model": "model",
    "build_globalpointer_model_v1": "model",
    "build_globalpointer_model_v2": "model",
    "NgramHashEmbed": "embed",
    "NgramHashEmbed_v1": "embed",
    "make_globalpointer_scorer": "scorer",
    "score_globalpointer": "scorer",
    "TorchGemmOps": "ops",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'spacy_globalpointer' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
