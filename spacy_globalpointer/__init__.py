"""GlobalPointer and Efficient GlobalPointer span-scoring NER for spaCy."""
from .model import build_globalpointer_model
from .pipe import GlobalPointerNER, make_globalpointer_ner
from .scorer import make_globalpointer_scorer, score_globalpointer
from .util import TorchGemmOps, make_torch_cpu_ops

__version__ = "0.1.0"
__all__ = ["GlobalPointerNER", "TorchGemmOps", "build_globalpointer_model", "make_globalpointer_ner", "make_globalpointer_scorer", "make_torch_cpu_ops", "score_globalpointer"]
