"""The registered architecture: a token-vector layer chained to a torch span head."""
import os
from typing import Any, Dict, List, Optional

import srsly
import torch
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model, PyTorchGradScaler, PyTorchShim, chain, get_torch_default_device, torch2xp, xp2torch
from thinc.layers.pytorchwrapper import forward as pytorch_forward
from thinc.types import ArgsKwargs, Floats2d, Floats4d

from .heads import SpanHead, build_head, check_head_args


def _one_torch_thread_after_fork() -> None:
    # nlp.pipe(n_process=N) forks workers: torch's OpenMP pool, already used
    # by the parent, hangs in a forked child. One thread per worker also
    # avoids N x threads oversubscribing the cores.
    torch.set_num_threads(1)


os.register_at_fork(after_in_child=_one_torch_thread_after_fork)


@registry.architectures("spacy_globalpointer.GlobalPointer.v1")
def build_globalpointer_model(
    tok2vec: Model[List[Doc], List[Floats2d]],
    head: str = "GlobalPointer",
    rope: bool = True,
    head_size: int = 64,
    nO: Optional[int] = None,
    mixed_precision: bool = False,
    grad_scaler_config: dict = {},
) -> Model[List[Doc], Floats4d]:
    """Score every span of every doc for every label.

    tok2vec (Model[List[Doc], List[Floats2d]]): any token-vector layer: a
        spacy.Tok2Vec, a spacy.Tok2VecListener or a
        spacy-transformers.TransformerListener.
    head (str): "GlobalPointer" (per-label query/key projections) or
        "EfficientGlobalPointer" (shared projections, per-label start/end biases).
    rope (bool): rotary position embedding on queries and keys.
    head_size (int): query/key size per label; even when rope is true.
    nO (Optional[int]): number of labels; set by the component at initialize.
    mixed_precision (bool): run the head under torch autocast (GPU only).
    grad_scaler_config (dict): settings for thinc's PyTorchGradScaler.

    Output: (n_docs, n_labels, L, W) scores in band layout (see heads.py),
    L the batch's longest doc, W the component's max_span_length (or L).
    """
    check_head_args(head, head_size, rope)
    scorer = span_scorer(head, rope, head_size, nO, mixed_precision, grad_scaler_config)
    model = chain(tok2vec, scorer)
    model.set_ref("tok2vec", tok2vec)
    model.set_ref("scorer", scorer)
    return model


def span_scorer(head: str, rope: bool, head_size: int, nO: Optional[int], mixed_precision: bool, grad_scaler_config: dict) -> Model[List[Floats2d], Floats4d]:
    """The torch head behind thinc's PyTorchShim. The torch module needs the
    input width and the label count, known only at initialize: until then the
    shim holds an empty placeholder module."""
    grad_scaler_config = dict(grad_scaler_config)
    # Autocast here is CUDA autocast: on a CPU-only machine mixed precision is
    # a no-op, and thinc's scaler would refuse to run.
    grad_scaler_config.setdefault("enabled", mixed_precision and torch.cuda.is_available())
    shim = PyTorchShim(
        torch.nn.Module(),
        mixed_precision=mixed_precision,
        grad_scaler=PyTorchGradScaler(**grad_scaler_config),
        serialize_model=serialize_head,
        deserialize_model=deserialize_head,
    )
    return Model(
        "globalpointer_scorer",
        pytorch_forward,
        init=init_scorer,
        shims=[shim],
        dims={"nI": None, "nO": nO},
        attrs={
            "convert_inputs": pad_inputs,
            "convert_outputs": scores_output,
            "head": head,
            "rope": rope,
            "head_size": head_size,
            # Set by the component from its max_span_length; 0 = unbounded.
            "max_span_length": 0,
        },
    )


def init_scorer(model: Model, X: Optional[List[Floats2d]] = None, Y: Any = None) -> None:
    if X:
        model.set_dim("nI", int(X[0].shape[1]))
    if not model.has_dim("nI") or not model.has_dim("nO"):
        raise ValueError(
            "GlobalPointer: cannot build the head before the token-vector width "
            "(nI) and the number of labels (nO) are known. Initialize the "
            "component with examples or labels."
        )
    head = build_head(model.attrs["head"], model.get_dim("nI"), model.get_dim("nO"), model.attrs["head_size"], model.attrs["rope"])
    shim = model.shims[0]
    shim._model = head.to(get_torch_default_device())


def pad_inputs(model: Model, X: List[Floats2d], is_train: bool):
    """Pad to the batch's own longest doc, batch-first (thinc's Padded is
    time-major and length-sorted, the head wants neither)."""
    shim = model.shims[0]
    if not isinstance(shim._model, SpanHead):
        raise ValueError("GlobalPointer model is not initialized: call nlp.initialize() or load a trained pipeline.")
    lengths = [int(x.shape[0]) for x in X]
    # By hand rather than ops.pad: an empty doc may come as a (0, 0) array.
    padded = model.ops.alloc3f(len(X), max(lengths, default=0), model.get_dim("nI"))
    for i, x in enumerate(X):
        if lengths[i]:
            padded[i, : lengths[i]] = x
    Xt = xp2torch(padded, requires_grad=is_train, device=shim.device)
    lengths_t = torch.tensor(lengths, dtype=torch.long, device=shim.device)
    args = ArgsKwargs(args=(Xt, lengths_t), kwargs={"max_span_length": model.attrs["max_span_length"]})

    def backprop(d_args: ArgsKwargs) -> List[Floats2d]:
        dX = torch2xp(d_args.args[0])
        return [dX[i, :n] if n else model.ops.alloc2f(*x.shape) for i, (n, x) in enumerate(zip(lengths, X))]

    return args, backprop


def scores_output(model: Model, X_Ytorch, is_train: bool):
    shim = model.shims[0]
    _, Ytorch = X_Ytorch
    # numpy has no bfloat16; float16 (the autocast default) passes as is.
    Y = torch2xp(Ytorch.float() if Ytorch.dtype == torch.bfloat16 else Ytorch)

    def backprop(dY: Floats4d) -> ArgsKwargs:
        dYt = xp2torch(dY, device=shim.device).to(Ytorch.dtype)
        return ArgsKwargs(args=((Ytorch,),), kwargs={"grad_tensors": dYt})

    return Y, backprop


def serialize_head(head: torch.nn.Module) -> bytes:
    """msgpack of the constructor arguments and the weights as arrays: loading
    a model never unpickles anything."""
    if not isinstance(head, SpanHead):
        return srsly.msgpack_dumps({"config": None, "state": {}})
    state = {name: t.detach().float().cpu().numpy() for name, t in head.state_dict().items()}
    return srsly.msgpack_dumps({"config": head.config, "state": state})


def deserialize_head(placeholder: torch.nn.Module, data: bytes, device: "torch.device") -> torch.nn.Module:
    msg: Dict[str, Any] = srsly.msgpack_loads(data)
    if msg["config"] is None:
        return placeholder
    head = build_head(**msg["config"])
    head.load_state_dict({name: torch.from_numpy(arr.copy()) for name, arr in msg["state"].items()})
    return head.to(device)
