"""The context encoder (ml/pytorch/context.py's ContextEncoder) as a thinc
layer over a list of docs' vectors, on the torch-layer machinery of
torch_layer.py: the docs padded into one (B, L, width) batch, the encoder's
output cut back to each doc's rows. Each doc's output depends on its own
tokens only (the context layers read a doc within its length), never on the
docs it is batched with."""

from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

import torch
from thinc.api import Model, torch2xp, xp2torch
from thinc.types import ArgsKwargs, Floats2d, Floats3d

from spacy_globalpointer.ml.padding import pad, unpad
from spacy_globalpointer.ml.pytorch.context import ContextEncoder
from spacy_globalpointer.ml.torch_layer import torch_layer


@dataclass
class EncoderInput:
    """Padded vectors (B, L, width) and each doc's length."""

    vectors: Floats3d
    lengths: List[int]

    def call(self, device: "torch.device", is_train: bool) -> Tuple[ArgsKwargs, Callable]:
        Xt = xp2torch(self.vectors, requires_grad=is_train, device=device)
        lengths = torch.tensor(self.lengths, dtype=torch.long, device=device)
        return ArgsKwargs(args=(Xt, lengths), kwargs={}), lambda d_args: torch2xp(d_args.args[0])


def context_encoder_layer(
    input_width: int,
    context: str,
    context_width: int,
    depth: int,
    mixed_precision: bool,
    grad_scaler_config: dict,
) -> Model[List[Floats2d], List[Floats2d]]:
    """The torch ContextEncoder over vectors of ``input_width`` behind a TorchModuleShim (built at
    initialize), between padding a batch's vectors and cutting its output (``input_width`` +
    ``context_width`` wide) back to the docs."""
    attrs = {"context": context, "context_width": context_width, "depth": depth}
    encoder = torch_layer(
        "globalpointer_context_encoder", build_context_encoder, attrs, mixed_precision, grad_scaler_config
    )
    width = input_width + context_width
    encoder.set_dim("nI", input_width)
    encoder.set_dim("nO", width)
    return Model(
        "context_encoder", forward, init=init, layers=[encoder], dims={"nI": input_width, "nO": width}
    )


def build_context_encoder(model: Model) -> torch.nn.Module:
    return ContextEncoder(
        model.get_dim("nI"),
        context=model.attrs["context"],
        context_width=model.attrs["context_width"],
        depth=model.attrs["depth"],
    )


def init(model: Model, X: Optional[List[Floats2d]] = None, Y: Optional[List[Floats2d]] = None) -> None:
    model.layers[0].initialize()


def forward(model: Model, X: List[Floats2d], is_train: bool) -> Tuple[List[Floats2d], Callable]:
    encoder = model.layers[0]
    width = model.get_dim("nI")
    padded = pad(model.ops, X, width)
    Y, backprop_encoder = encoder(EncoderInput(padded, [len(x) for x in X]), is_train)
    out = [Y[i, : len(x)] for i, x in enumerate(X)]

    def backprop(dY: List[Floats2d]) -> List[Floats2d]:
        return unpad(model.ops, backprop_encoder(pad(model.ops, dY, model.get_dim("nO"))), X)

    return out, backprop
