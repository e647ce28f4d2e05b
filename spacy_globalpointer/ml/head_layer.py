"""The torch span head as a thinc layer: a PyTorchShim whose mixed precision
follows the head's device, its forward, the conversions between thinc arrays and the
head's call, and the head's (de)serialization.

The layer's one input is a :class:`HeadInput`, in training (the whole padded
batch) and at prediction (a chunk of start positions) alike.
"""

import functools
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple, cast

import numpy
import srsly
import torch
from thinc.api import Model, PyTorchGradScaler, PyTorchShim, get_torch_default_device, torch2xp, xp2torch
from thinc.types import ArgsKwargs, Floats2d, Floats3d, Floats4d

from spacy_globalpointer.ml.pytorch.heads import SpanHead, build_head
from spacy_globalpointer.ml.pytorch.pairs import PairPointer


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
    """The torch head behind a PyTorchShim. The torch module needs the input
    width and the label count, known only at initialize: until then (and
    until a saved head is loaded into it) the shim holds an empty module."""
    attrs = {"head": head, "rope": rope, "head_size": head_size, "span_content": span_content}
    # The name is part of saved pipelines: thinc checks it when loading.
    return torch_layer("globalpointer_scorer", build_span_head, attrs, mixed_precision, grad_scaler_config)


def torch_layer(
    name: str,
    build: Callable[[Model], torch.nn.Module],
    attrs: Dict[str, Any],
    mixed_precision: bool,
    grad_scaler_config: dict,
) -> Model:
    """A layer whose torch module ``build(model)`` is made at initialize
    (it needs the input width, nI, and the label count, nO): until then, and
    until a saved module is loaded into it, its shim holds an empty module.
    The precision settings stay out of attrs, which thinc saves with the
    weights and would restore over a value given at load."""
    precision = functools.partial(
        head_shim, mixed_precision=mixed_precision, grad_scaler_config=dict(grad_scaler_config)
    )
    return Model(
        name,
        forward,
        init=functools.partial(init_torch_layer, make_shim=precision, build=build),
        shims=[precision(torch.nn.Module())],
        dims={"nI": None, "nO": None},
        attrs=attrs,
    )


def head_shim(module: torch.nn.Module, *, mixed_precision: bool, grad_scaler_config: dict) -> PyTorchShim:
    """A PyTorchShim for the head on the current torch device, with autocast
    and grad scaling where that device is a GPU: both are CUDA features, and
    thinc's scaler fails on CPU tensors (training on the CPU of a machine that
    has a GPU, say). The device is the one in use when the shim is made (at
    build, load and initialize): make or load a pipeline where it runs, as
    spaCy's ``require_gpu`` before ``spacy.load`` does."""
    device = get_torch_default_device()
    cuda = device.type == "cuda"
    enabled = bool(grad_scaler_config.get("enabled", mixed_precision)) and cuda
    return PyTorchShim(
        module,
        mixed_precision=mixed_precision and cuda,
        grad_scaler=PyTorchGradScaler(**{**grad_scaler_config, "enabled": enabled}),
        device=device,
        serialize_model=serialize_head,
        deserialize_model=deserialize_head,
    )


def init_torch_layer(
    model: Model,
    X: Optional[Any] = None,
    Y: Any = None,
    *,
    make_shim: Callable[[torch.nn.Module], PyTorchShim],
    build: Callable[[Model], torch.nn.Module],
) -> None:
    """Initialize a head layer: the input width from ``X`` (anything with
    ``vectors``), then the torch module ``build(model)`` in a shim of its own.
    The module needs the input width (nI) and the label count (nO)."""
    if X is not None:
        model.set_dim("nI", int(X.vectors.shape[2]))
    if not model.has_dim("nI") or not model.has_dim("nO"):
        raise ValueError(
            f"[{model.name}] cannot build the torch module before the token-vector width (nI) and the "
            "number of labels (nO) are known. Initialize the component with examples or labels."
        )
    model.shims[0] = make_shim(build(model))


def build_span_head(model: Model) -> torch.nn.Module:
    return build_head(
        model.attrs["head"],
        input_width=model.get_dim("nI"),
        n_labels=model.get_dim("nO"),
        head_size=model.attrs["head_size"],
        rope=model.attrs["rope"],
        span_content=model.attrs.get("span_content", False),
    )


def forward(model: Model, X: Any, is_train: bool) -> Tuple[Any, Callable]:
    """thinc's PyTorchWrapper forward, for an input that knows its torch call
    (HeadInput; pair_layer's inputs)."""
    Xtorch, get_dX = convert_inputs(model, X, is_train)
    Ytorch, torch_backprop = model.shims[0](Xtorch, is_train)
    Y, get_dYtorch = convert_outputs(model, (X, Ytorch), is_train)

    def backprop(dY: Floats4d) -> Floats3d:
        return get_dX(torch_backprop(get_dYtorch(dY)))

    return Y, backprop


def convert_inputs(model: Model, X: Any, is_train: bool):
    shim = model.shims[0]
    assert isinstance(shim, PyTorchShim)  # made by head_shim
    if not isinstance(shim._model, (SpanHead, PairPointer)):
        raise ValueError(
            f"[{model.name}] the model is not initialized: call nlp.initialize() or load a trained pipeline."
        )
    return X.call(shim.device, is_train)


def convert_outputs(model: Model, X_Ytorch, is_train: bool):
    shim = model.shims[0]
    assert isinstance(shim, PyTorchShim)  # span_head_layer's HeadShim
    _, Ytorch = X_Ytorch
    Y = to_array(Ytorch)

    def backprop(dY: Floats4d) -> ArgsKwargs:
        dYt = xp2torch(dY, device=shim.device).to(Ytorch.dtype)
        return ArgsKwargs(args=((Ytorch,),), kwargs={"grad_tensors": dYt})

    return Y, backprop


def to_array(scores: torch.Tensor) -> Floats4d:
    # numpy has no bfloat16; float16 (the autocast default) passes as is.
    # cast: torch2xp is typed to return any thinc array; span scores are 4d.
    return cast(Floats4d, torch2xp(scores.float() if scores.dtype == torch.bfloat16 else scores))


def pad(ops, X: List[Floats2d], width: int) -> Floats3d:
    """Batch-first, padded to the longest doc (thinc's Padded is time-major
    and length-sorted, the head wants neither). By hand rather than ops.pad:
    an empty doc may come as a (0, 0) array."""
    padded = ops.alloc3f(len(X), max((len(x) for x in X), default=0), width)
    for i, x in enumerate(X):
        if len(x):
            padded[i, : len(x)] = x
    return padded


def unpad(ops, dX: Floats3d, X: List[Floats2d]) -> List[Floats2d]:
    """The gradient of :func:`pad`: each doc's rows of dX."""
    return [dX[i, : len(x)] if len(x) else ops.alloc2f(*x.shape) for i, x in enumerate(X)]


def serialize_head(head: torch.nn.Module) -> bytes:
    """msgpack of the constructor arguments and the weights as arrays: loading
    a model never unpickles anything."""
    if not isinstance(head, (SpanHead, PairPointer)):
        return srsly.msgpack_dumps({"config": None, "state": {}})
    state = {name: t.detach().float().cpu().numpy() for name, t in head.state_dict().items()}
    return srsly.msgpack_dumps({"config": head.config, "state": state})


def deserialize_head(placeholder: torch.nn.Module, data: bytes, device: "torch.device") -> torch.nn.Module:
    msg: Dict[str, Any] = srsly.msgpack_loads(data)
    if msg["config"] is None:
        return placeholder
    # Pipelines saved before the input width had its own name call it "width".
    config = {("input_width" if key == "width" else key): value for key, value in msg["config"].items()}
    module = config.pop("module", None)
    head: torch.nn.Module = PairPointer(**config) if module == "PairPointer" else build_head(**config)
    head.load_state_dict({name: torch.from_numpy(numpy.array(arr)) for name, arr in msg["state"].items()})
    return head.to(device)
