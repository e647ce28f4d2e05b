"""The torch span head (ml/pytorch/heads.py) as a thinc layer, on the
torch-layer machinery of torch_layer.py. Its one input is a
:class:`HeadInput`, in training (the whole padded batch) and at prediction (a
chunk of start positions) alike."""

from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

import torch
from thinc.api import Model, torch2xp, xp2torch
from thinc.types import ArgsKwargs, Floats3d, Floats4d

from spacy_globalpointer.ml.pytorch.heads import build_head
from spacy_globalpointer.ml.torch_layer import torch_layer


@dataclass
class HeadInput:
    """The head's call: vectors of tokens ``offset..offset + R - 1`` of each
    doc (B, R, nI), padded; the docs' whole lengths; the band's width; and
    how many starts to score (default: every row), from ``offset``."""

    vectors: Floats3d
    lengths: List[int]
    width: int
    offset: int = 0
    n_starts: Optional[int] = None

    def call(self, device: "torch.device", is_train: bool) -> Tuple[ArgsKwargs, Callable]:
        """The torch module's call for this input, and the gradient of the vectors from its own."""
        Xt = xp2torch(self.vectors, requires_grad=is_train, device=device)
        lengths = torch.tensor(self.lengths, dtype=torch.long, device=device)
        kwargs = {"width": self.width, "offset": self.offset, "n_starts": self.n_starts}
        return ArgsKwargs(args=(Xt, lengths), kwargs=kwargs), lambda d_args: torch2xp(d_args.args[0])


def span_head_layer(
    head: str,
    rope: bool,
    head_size: int,
    mixed_precision: bool,
    grad_scaler_config: dict,
    span_content: bool = False,
) -> Model[HeadInput, Floats4d]:
    """The torch span head behind a TorchModuleShim, built at initialize."""
    attrs = {"head": head, "rope": rope, "head_size": head_size, "span_content": span_content}
    return torch_layer("globalpointer_scorer", build_span_head, attrs, mixed_precision, grad_scaler_config)


def build_span_head(model: Model) -> torch.nn.Module:
    return build_head(
        model.attrs["head"],
        input_width=model.get_dim("nI"),
        n_labels=model.get_dim("nO"),
        head_size=model.attrs["head_size"],
        rope=model.attrs["rope"],
        span_content=model.attrs.get("span_content", False),
    )
