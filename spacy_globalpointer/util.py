"""Registered helpers for configs: torch-backed CPU ops, a fast corpus reader, checked transformer windows."""
from pathlib import Path
from typing import Callable, Optional

import torch
from spacy.util import registry
from thinc.api import NumpyOps, get_current_ops, set_current_ops


class TorchGemmOps(NumpyOps):
    """thinc's CPU ops, with matrix products done by torch (zero-copy on numpy arrays).

    thinc multiplies with blis on one thread by default. Switching it to
    numpy's BLAS uses both cores but puts two thread pools (OpenBLAS's and
    torch's OpenMP) on the same cores, each spinning while the other works:
    the torch head then runs about 2x slower than alone. With torch doing
    every product, one pool serves tok2vec and head alike.
    """

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
    """An ``[nlp] before_creation`` callback: on the CPU, use TorchGemmOps
    for every layer of the pipeline (results differ from thinc's defaults only
    by float rounding). On 2 cores this trains the CNN tok2vec + GlobalPointer
    about 2x faster than thinc's default ops. Leaves GPU ops alone."""

    def before_creation(lang_cls):
        if type(get_current_ops()) is NumpyOps:
            set_current_ops(TorchGemmOps(use_blis=False))
        return lang_cls

    return before_creation


# Registered through the spacy_span_getters entry point only: the registry
# exists once spacy-transformers (an optional extra) is imported.
def make_checked_strided_spans(window: int, stride: int, max_positions: int = 512) -> Callable:
    """spacy-transformers' strided_spans, with the window checked against the
    transformer's position limit. The window counts spaCy tokens, and each
    token takes at least one wordpiece, plus [CLS] and [SEP]: a window above
    ``max_positions - 2`` would overflow the position embeddings (or be cut
    by the tokenizer, silently dropping the last tokens' vectors). With
    stride < window, windows overlap, so every token - one at a window
    border too - is seen with context on both sides.

    window (int): tokens per window, at most max_positions - 2.
    stride (int): tokens between window starts, 1..window.
    max_positions (int): the model's max_position_embeddings (512 for BERT).
    """
    from spacy_transformers.span_getters import configure_strided_spans

    if window > max_positions - 2:
        raise ValueError(
            f"Transformer span window {window} is larger than the model allows: "
            f"max_positions {max_positions} - 2 special tokens = {max_positions - 2}. "
            f"Lower [components.transformer.model.get_spans] window (each spaCy token "
            f"takes at least one wordpiece)."
        )
    if not 0 < stride <= window:
        raise ValueError(f"Transformer span stride must be in 1..window ({window}), got {stride}.")
    return configure_strided_spans(window, stride)


def resolve_msgpack_entry_points() -> None:
    """Look up srsly's msgpack extensions once, not on every (de)serialization.

    srsly asks catalogue for its msgpack encoders/decoders on every call, and
    catalogue answers by re-scanning the installed packages' entry points and
    copying its whole registry. A DocBin stores each doc's span groups as
    separate msgpack blobs, so reading a corpus with doc.spans pays that
    once per doc: most of the load time. The cached answer is recomputed
    whenever anything new is registered (catalogue's registry changes size),
    so it is always the same set of extensions.
    """
    import catalogue
    from srsly import msgpack

    for reg in (msgpack.msgpack_encoders, msgpack.msgpack_decoders):
        if "get_all" in vars(reg):
            continue  # done already
        lookup = reg.get_all
        cache: dict = {"size": -1, "found": {}}

        def get_all(lookup=lookup, cache=cache):
            if len(catalogue.REGISTRY) != cache["size"]:
                cache["found"], cache["size"] = lookup(), len(catalogue.REGISTRY)
            return cache["found"]

        reg.get_all = get_all


@registry.readers("spacy_globalpointer.Corpus.v1")
def create_corpus_reader(
    path: Optional[Path],
    gold_preproc: bool = False,
    max_length: int = 0,
    limit: int = 0,
    augmenter: Optional[Callable] = None,
) -> Callable:
    """spacy.Corpus.v1 (same settings), for DocBins whose docs carry doc.spans:
    it reads them without the per-doc entry-point scan (see
    resolve_msgpack_entry_points). Use it for [corpora.train] and [corpora.dev]."""
    from spacy.training.corpus import create_docbin_reader

    resolve_msgpack_entry_points()
    return create_docbin_reader(path, gold_preproc, max_length, limit, augmenter)
