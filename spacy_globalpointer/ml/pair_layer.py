"""GPLinker's pair pointers (ml/pytorch/pairs.py) as a thinc layer, on the
torch-layer machinery of torch_layer.py, as the span head is. Its input is a PairBand (training:
a padded batch, every pair within a distance) or CandidatePairs (prediction:
the pairs of the candidate entities of one long doc or of several short ones)."""

from dataclasses import dataclass
from typing import Any, Callable, List, Tuple, Union

import torch
from thinc.api import Model, torch2xp, xp2torch
from thinc.types import ArgsKwargs, Floats3d, Ints2d

from spacy_globalpointer.ml.pytorch.pairs import PairPointer
from spacy_globalpointer.ml.torch_layer import torch_layer


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
    """Prediction: the docs' vectors (B, L, nI), the sorted (doc, token) rows
    the pairs need, and the pairs (P, 4) as indices into ``rows``: subject's
    first token, object's first token, subject's last token, object's last."""

    vectors: Floats3d
    rows: Ints2d
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
    """The torch pair pointers behind a TorchModuleShim, built at initialize."""
    attrs = {"head": head, "rope": rope, "head_size": head_size}
    return torch_layer("globalpointer_pairs", build_pair_pointer, attrs, mixed_precision, grad_scaler_config)


def build_pair_pointer(model: Model) -> torch.nn.Module:
    return PairPointer(
        model.attrs["head"],
        input_width=model.get_dim("nI"),
        n_labels=model.get_dim("nO"),
        head_size=model.attrs["head_size"],
        rope=model.attrs["rope"],
    )
