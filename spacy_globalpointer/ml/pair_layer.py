"""GPLinker's pair pointers (ml/pytorch/pairs.py) as a thinc layer, on the
span head's machinery (head_layer.py): the same shim, precision, forward,
conversions and msgpack (de)serialization. Its input is a PairBand (training:
a padded batch, every pair within a distance) or CandidatePairs (prediction:
the pairs of one doc's candidate entities)."""

import functools
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Tuple, Union

import torch
from thinc.api import Model, PyTorchShim, torch2xp, xp2torch
from thinc.types import ArgsKwargs, Floats3d, Ints1d, Ints2d

from spacy_globalpointer.ml.head_layer import forward, head_shim
from spacy_globalpointer.ml.pytorch.pairs import PairPointer


@dataclass
class PairBand:
    """Training: vectors (B, L, nI) of a padded batch, the docs' lengths and
    the longest distance between related entities that is scored."""

    vectors: Floats3d
    lengths: List[int]
    max_distance: int

    def call(self, device: "torch.device", is_train: bool) -> Tuple[ArgsKwargs, Callable]:
        Xt = xp2torch(self.vectors, requires_grad=is_train, device=device)
        lengths = torch.tensor(self.lengths, dtype=torch.long, device=device)
        args = ArgsKwargs(args=(Xt, lengths), kwargs={"max_distance": self.max_distance})
        return args, lambda d_args: torch2xp(d_args.args[0])


@dataclass
class CandidatePairs:
    """Prediction: one doc's vectors (1, L, nI), the sorted token rows the
    pairs need, and the pairs (P, 4) as indices into ``rows``: subject's
    first token, object's first token, subject's last token, object's last."""

    vectors: Floats3d
    rows: Ints1d
    pairs: Ints2d

    def call(self, device: "torch.device", is_train: bool) -> Tuple[ArgsKwargs, Callable]:
        Xt = xp2torch(self.vectors, device=device)
        rows = xp2torch(self.rows, device=device).long()
        pairs = xp2torch(self.pairs, device=device).long()
        args = ArgsKwargs(args=(Xt, None), kwargs={"rows": rows, "pairs": pairs})
        return args, lambda d_args: None


def pair_pointer_layer(
    head: str, rope: bool, head_size: int, mixed_precision: bool, grad_scaler_config: dict
) -> Model[Union[PairBand, CandidatePairs], Any]:
    """The torch pair pointers behind a PyTorchShim; like the span head, the
    module is built at initialize, when the input width and the label count
    are known."""
    precision = functools.partial(
        head_shim, mixed_precision=mixed_precision, grad_scaler_config=dict(grad_scaler_config)
    )
    return Model(
        "globalpointer_pairs",
        forward,
        init=functools.partial(init_pair_layer, make_shim=precision),
        shims=[precision(torch.nn.Module())],
        dims={"nI": None, "nO": None},
        attrs={"head": head, "rope": rope, "head_size": head_size},
    )


def init_pair_layer(
    model: Model,
    X: Optional[PairBand] = None,
    Y: Any = None,
    *,
    make_shim: Callable[[torch.nn.Module], PyTorchShim],
) -> None:
    if X is not None:
        model.set_dim("nI", int(X.vectors.shape[2]))
    if not model.has_dim("nI") or not model.has_dim("nO"):
        raise ValueError(
            "[spacy_globalpointer.RelationPointer] cannot build the pointers before the token-vector "
            "width (nI) and the number of relation labels (nO) are known. Initialize the component "
            "with examples or labels."
        )
    pointers = PairPointer(
        model.attrs["head"],
        input_width=model.get_dim("nI"),
        n_labels=model.get_dim("nO"),
        head_size=model.attrs["head_size"],
        rope=model.attrs["rope"],
    )
    model.shims[0] = make_shim(pointers)
