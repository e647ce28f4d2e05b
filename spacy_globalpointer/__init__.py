"""GlobalPointer and Efficient GlobalPointer span-scoring NER for spaCy.

Plain names are the current versions of the registered functions (``_v1``
the earlier ones). The names below are imported on first use: a process that only needs a light
submodule (a Ray read task, the command line's --help) does not pay for
torch and spaCy. spaCy finds the component through entry points either way.
"""

import importlib

__version__ = "0.1.0"
_EXPORTS = {
    "GlobalPointerNER": "pipeline.globalpointer_ner",
    "make_globalpointer_ner": "pipeline.globalpointer_ner",
    "build_globalpointer_model": "ml.models.globalpointer",
    "build_globalpointer_model_v1": "ml.models.globalpointer",
    "build_globalpointer_model_v2": "ml.models.globalpointer",
    "NgramHashEmbed": "ml.models.ngram_hash_embed",
    "NgramHashEmbed_v1": "ml.models.ngram_hash_embed",
    "make_globalpointer_scorer": "pipeline.scorer",
    "score_globalpointer": "pipeline.scorer",
    "TorchGemmOps": "ml.torch_gemm",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'spacy_globalpointer' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
