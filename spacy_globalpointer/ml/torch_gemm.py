"""thinc CPU ops whose matrix products run in torch, given by the architecture
to its own layers (``torch_gemm``); thinc's current ops are never changed."""

import warnings
from typing import Callable

import torch
from spacy.util import registry
from thinc.api import NumpyOps


class TorchGemmOps(NumpyOps):
    """thinc's CPU ops, with matrix products done by torch (zero-copy on numpy arrays).

    thinc multiplies with blis on one thread by default. Switching it to
    numpy's BLAS uses both cores but puts two thread pools (OpenBLAS's and
    torch's OpenMP) on the same cores, each spinning while the other works:
    the torch head then runs much slower than alone. With torch doing
    every product, one pool serves tok2vec and head alike.
    """

    name = "torch_gemm"

    def gemm(self, x, y, out=None, trans1=False, trans2=False):
        if x.dtype != y.dtype or x.dtype.kind != "f" or (out is not None and out.dtype != x.dtype):
            return super().gemm(x, y, out=out, trans1=trans1, trans2=trans2)
        a, b = torch.from_numpy(x), torch.from_numpy(y)
        a, b = (a.T if trans1 else a), (b.T if trans2 else b)
        if out is None:
            return torch.matmul(a, b).numpy()
        torch.matmul(a, b, out=torch.from_numpy(out))
        return out


@registry.callbacks("spacy_globalpointer.torch_cpu_ops.v1")
def make_torch_cpu_ops() -> Callable:
    """Deprecated, and now does nothing. It used to set TorchGemmOps as
    thinc's current ops for the whole process, so that loading a pipeline
    saved with it changed every pipeline created after. The
    spacy_globalpointer.GlobalPointer.v2 architecture gives the same ops to
    its own layers (``torch_gemm = true``). Kept so that pipelines saved with
    it still load (their results do not change; their speed may)."""

    def before_creation(lang_cls):
        warnings.warn(
            "spacy_globalpointer.torch_cpu_ops.v1 is deprecated and does nothing: it no longer changes "
            "thinc's ops for the whole process. Remove it from [nlp.before_creation]; "
            "spacy_globalpointer.GlobalPointer.v2 (torch_gemm = true) gives its own layers the speed-up.",
            FutureWarning,
        )
        return lang_cls

    return before_creation
