"""One of the package's torch modules as a thinc layer: the shim (a PyTorchShim
whose mixed precision follows the module's device), the forward and the
conversions between thinc arrays and the module's call, and the module's
(de)serialization as msgpack. Both components' heads are such layers
(head_layer.py, pair_layer.py), and the context encoder (encoder_layer.py).

The module needs the input width and the label count, known only at
initialize: until then (and until a saved module is loaded into it) the shim
holds an empty ``torch.nn.Module``. A layer's input knows its own torch call
(``call(device, is_train)``: the module's arguments, and how to turn the
gradient of those arguments into the input's).
"""

import functools
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Type, cast

import numpy
import srsly
import torch
from thinc.api import Model, PyTorchGradScaler, PyTorchShim, get_torch_default_device, torch2xp, xp2torch
from thinc.types import ArgsKwargs, FloatsXd

from spacy_globalpointer.ml.pytorch.context import ContextEncoder
from spacy_globalpointer.ml.pytorch.entity_pairs import EntityPairScorer
from spacy_globalpointer.ml.pytorch.heads import SpanHead, build_head
from spacy_globalpointer.ml.pytorch.pairs import PairPointer

# A saved module's "module" entry -> its class and the constructor its saved config calls. A span head
# saved before the entry existed has none: it is a SpanHead.
MODULES: Dict[str, Tuple[Type[torch.nn.Module], Callable[..., torch.nn.Module]]] = {
    "SpanHead": (SpanHead, build_head),
    "PairPointer": (PairPointer, PairPointer),
    "EntityPairScorer": (EntityPairScorer, EntityPairScorer),
    "ContextEncoder": (ContextEncoder, ContextEncoder),
}
DEFAULT_MODULE = "SpanHead"


class TorchModuleShim(PyTorchShim):
    """A PyTorchShim for one of MODULES on the current torch device, with
    autocast and grad scaling where that device is a GPU: both are CUDA
    features, and thinc's scaler fails on CPU tensors (training on the CPU of
    a machine that has a GPU, say). The device is the one in use when the
    shim is made (at build, load and initialize): make or load a pipeline
    where it runs, as spaCy's ``require_gpu`` before ``spacy.load`` does."""

    def __init__(self, module: torch.nn.Module, *, mixed_precision: bool, grad_scaler_config: dict) -> None:
        device = get_torch_default_device()
        cuda = device.type == "cuda"
        enabled = bool(grad_scaler_config.get("enabled", mixed_precision)) and cuda
        super().__init__(
            module,
            mixed_precision=mixed_precision and cuda,
            grad_scaler=PyTorchGradScaler(**{**grad_scaler_config, "enabled": enabled}),
            device=device,
            serialize_model=serialize_module,
            deserialize_model=deserialize_module,
        )

    @property
    def module(self) -> torch.nn.Module:
        """The torch module: one of MODULES once built or loaded, an empty one before."""
        return self._model

    @property
    def built(self) -> bool:
        return isinstance(self._model, tuple(cls for cls, _ in MODULES.values()))


def torch_layer(
    name: str,
    build: Callable[[Model], torch.nn.Module],
    attrs: Dict[str, Any],
    mixed_precision: bool,
    grad_scaler_config: dict,
    dims: Sequence[str] = (),
) -> Model:
    """A layer whose torch module ``build(model)`` is made at initialize
    (from the input width, nI, the label count, nO, and any other ``dims``).
    The precision settings stay out of attrs, which thinc saves with the
    weights and would restore over a value given at load. ``name`` is part of
    saved pipelines: thinc checks it when loading."""
    make_shim = functools.partial(
        TorchModuleShim, mixed_precision=mixed_precision, grad_scaler_config=dict(grad_scaler_config)
    )
    return Model(
        name,
        forward,
        init=functools.partial(init_torch_layer, make_shim=make_shim, build=build),
        shims=[make_shim(torch.nn.Module())],
        dims={"nI": None, "nO": None, **{dim: None for dim in dims}},
        attrs=attrs,
    )


def init_torch_layer(
    model: Model,
    X: Optional[Any] = None,
    Y: Any = None,
    *,
    make_shim: Callable[[torch.nn.Module], TorchModuleShim],
    build: Callable[[Model], torch.nn.Module],
) -> None:
    """The input width from ``X`` (anything with ``vectors``), then the torch
    module ``build(model)`` in a shim of its own."""
    if X is not None:
        model.set_dim("nI", int(X.vectors.shape[-1]))
    if not all(model.has_dim(dim) for dim in model.dim_names):
        raise ValueError(
            f"[{model.name}] cannot build the torch module before the token-vector width (nI) and the "
            f"number of labels (nO) are known (its dims: {list(model.dim_names)}). Initialize the component "
            "with examples or labels."
        )
    model.shims[0] = make_shim(build(model))


def shim_of(model: Model) -> TorchModuleShim:
    shim = model.shims[0]
    assert isinstance(shim, TorchModuleShim)  # made by torch_layer
    return shim


def forward(model: Model, X: Any, is_train: bool) -> Tuple[Any, Callable]:
    """thinc's PyTorchWrapper forward, for an input that knows its torch call."""
    shim = shim_of(model)
    if not shim.built:
        raise ValueError(
            f"[{model.name}] the model is not initialized: call nlp.initialize() or load a trained pipeline."
        )
    Xtorch, get_dX = X.call(shim.device, is_train)
    Ytorch, torch_backprop = shim(Xtorch, is_train)
    Y = to_array(Ytorch)

    def backprop(dY: FloatsXd) -> Any:
        dYt = xp2torch(dY, device=shim.device).to(Ytorch.dtype)
        return get_dX(torch_backprop(ArgsKwargs(args=((Ytorch,),), kwargs={"grad_tensors": dYt})))

    return Y, backprop


def to_array(scores: torch.Tensor) -> FloatsXd:
    # numpy has no bfloat16; float16 (the autocast default) passes as is.
    # cast: torch2xp is typed to return any thinc array.
    return cast(FloatsXd, torch2xp(scores.float() if scores.dtype == torch.bfloat16 else scores))


def serialize_module(module: torch.nn.Module) -> bytes:
    """msgpack of the constructor arguments and the weights as arrays: loading
    a model never unpickles anything. A module not built yet saves none."""
    if not hasattr(module, "config"):
        return srsly.msgpack_dumps({"config": None, "state": {}})
    state = {name: t.detach().float().cpu().numpy() for name, t in module.state_dict().items()}
    return srsly.msgpack_dumps({"config": module.config, "state": state})


def deserialize_module(placeholder: torch.nn.Module, data: bytes, device: "torch.device") -> torch.nn.Module:
    msg: Dict[str, Any] = srsly.msgpack_loads(data)
    if msg["config"] is None:
        return placeholder
    # Pipelines saved before the input width had its own name call it "width".
    config = {("input_width" if key == "width" else key): value for key, value in msg["config"].items()}
    _, construct = MODULES[config.pop("module", DEFAULT_MODULE)]
    module = construct(**config)
    module.load_state_dict({name: torch.from_numpy(numpy.array(arr)) for name, arr in msg["state"].items()})
    return module.to(device)
