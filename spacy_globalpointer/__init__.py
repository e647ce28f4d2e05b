"""GlobalPointer and Efficient GlobalPointer span-scoring NER for spaCy."""
from .model import build_globalpointer_model, build_globalpointer_model_v2
from .pipe import GlobalPointerNER, make_globalpointer_ner
from .scorer import make_globalpointer_scorer, score_globalpointer
from .speedups import TorchGemmOps

__version__ = "0.1.0"
__all__ = [
    "GlobalPointerNER",
    "TorchGemmOps",
    "build_globalpointer_model",
    "build_globalpointer_model_v2",
    "make_globalpointer_ner",
    "make_globalpointer_scorer",
    "score_globalpointer",
]
