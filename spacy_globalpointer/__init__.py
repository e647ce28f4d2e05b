"""GlobalPointer and Efficient GlobalPointer span-scoring NER for spaCy, and
GPLinker's relations between the entities.

Plain names are the current versions of the registered functions (``_v1``
the earlier ones). The names below are imported on first use: a process that only needs a light
submodule (a Ray read task, the command line's --help) does not pay for
torch and spaCy. spaCy finds the component through entry points either way.
"""

import importlib
from typing import TYPE_CHECKING

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
    "GlobalPointerRel": "pipeline.globalpointer_rel",
    "build_relation_pointer": "ml.models.relation_pointer",
    "Relation": "pipeline.relations",
    "relations": "pipeline.relations",
    "set_relations": "pipeline.relations",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    # The same names for type checkers, which do not run __getattr__ (keep in step with _EXPORTS;
    # ``X as X``: an explicit re-export).
    from spacy_globalpointer.ml.models.globalpointer import (
        build_globalpointer_model as build_globalpointer_model,
    )
    from spacy_globalpointer.ml.models.globalpointer import (
        build_globalpointer_model_v1 as build_globalpointer_model_v1,
    )
    from spacy_globalpointer.ml.models.globalpointer import (
        build_globalpointer_model_v2 as build_globalpointer_model_v2,
    )
    from spacy_globalpointer.ml.models.ngram_hash_embed import NgramHashEmbed as NgramHashEmbed
    from spacy_globalpointer.ml.models.ngram_hash_embed import NgramHashEmbed_v1 as NgramHashEmbed_v1
    from spacy_globalpointer.ml.models.relation_pointer import (
        build_relation_pointer as build_relation_pointer,
    )
    from spacy_globalpointer.ml.torch_gemm import TorchGemmOps as TorchGemmOps
    from spacy_globalpointer.pipeline.globalpointer_ner import GlobalPointerNER as GlobalPointerNER
    from spacy_globalpointer.pipeline.globalpointer_ner import (
        make_globalpointer_ner as make_globalpointer_ner,
    )
    from spacy_globalpointer.pipeline.globalpointer_rel import GlobalPointerRel as GlobalPointerRel
    from spacy_globalpointer.pipeline.relations import Relation as Relation
    from spacy_globalpointer.pipeline.relations import relations as relations
    from spacy_globalpointer.pipeline.relations import set_relations as set_relations
    from spacy_globalpointer.pipeline.scorer import make_globalpointer_scorer as make_globalpointer_scorer
    from spacy_globalpointer.pipeline.scorer import score_globalpointer as score_globalpointer


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'spacy_globalpointer' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
