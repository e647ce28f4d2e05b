"""The registered architecture: a token-vector layer and a torch span head.

Training runs both on the whole batch and returns (B, C, L, W) scores. At
prediction the model returns :class:`ScoreChunks`: the same scores, computed
when read, in chunks of start positions, so a long doc is never held whole -
neither its scores nor (for a token-vector layer of finite context) its
encoder activations.
"""

import functools
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import numpy
import srsly
import torch
from spacy.attrs import (
    IS_ALPHA,
    IS_DIGIT,
    IS_PUNCT,
    IS_SPACE,
    IS_UPPER,
    LENGTH,
    LOWER,
    NORM,
    ORTH,
    PREFIX,
    SHAPE,
    SUFFIX,
    intify_attr,
)
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import (
    Model,
    NumpyOps,
    PyTorchGradScaler,
    PyTorchShim,
    get_torch_default_device,
    torch2xp,
    xp2torch,
)
from thinc.layers.pytorchwrapper import forward as pytorch_forward
from thinc.types import ArgsKwargs, Floats2d, Floats3d, Floats4d

from .decode import ScoreChunk
from .embed import WORD_PLACES_KEY, doc_word_places
from .heads import SpanHead, band_width, build_head, check_head_args
from .speedups import TorchGemmOps

# Leaf layers that compute each token's vector from a fixed window of tokens
# around it (expand_window and ngram_features say how wide; word_features get
# the whole doc's segmentation from WindowedVectors): a doc can then be encoded
# in overlapping windows. Anything else (an LSTM, a listener, a
# transformer) is encoded whole.
_WINDOWED_LEAVES = {
    "dropout",
    "expand_window",
    "extract_features",
    "hashembed",
    "ints-getitem",
    "layernorm",
    "linear",
    "list2ragged",
    "maxout",
    "mish",
    "ngram_features",
    "ragged2list",
    "relu",
    "remap_ids",
    "static_vectors",
    "word_features",
}


# What a window rebuilt from the doc's words (and token norms) carries.
_WINDOW_ATTRS = {
    ORTH,
    LOWER,
    NORM,
    SHAPE,
    PREFIX,
    SUFFIX,
    LENGTH,
    IS_ALPHA,
    IS_DIGIT,
    IS_PUNCT,
    IS_SPACE,
    IS_UPPER,
}


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
    """The first version: v2 with its defaults (the same scores), thinc's own
    CPU matrix products. Kept so that saved pipelines load unchanged."""
    return build_globalpointer_model_v2(
        tok2vec, head, rope, head_size, nO, mixed_precision, grad_scaler_config, torch_gemm=False
    )


@registry.architectures("spacy_globalpointer.GlobalPointer.v2")
def build_globalpointer_model_v2(
    tok2vec: Model[List[Doc], List[Floats2d]],
    head: str = "GlobalPointer",
    rope: bool = True,
    head_size: int = 64,
    nO: Optional[int] = None,
    mixed_precision: bool = False,
    grad_scaler_config: dict = {},
    chunk_size: int = 1024,
    encoder_window: int = 4096,
    torch_gemm: bool = True,
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
    mixed_precision (bool): run the head under torch autocast, where it runs
        on a CUDA device (elsewhere it is off: there is nothing to gain).
    grad_scaler_config (dict): settings for thinc's PyTorchGradScaler, used
        with mixed precision on a CUDA device.
    chunk_size (int): at prediction, start positions scored per step. Bounds
        the head's memory whatever the doc length; the scores do not depend on it.
    encoder_window (int): at prediction, a doc longer than this many tokens
        is encoded in windows of this size (plus the layer's context on each
        side) when tok2vec computes each vector from a fixed window of tokens
        (a CNN such as spacy.Tok2Vec.v2 with MaxoutWindowEncoder); the vectors
        are the same as from one pass.
    torch_gemm (bool): on the CPU, let this model's own thinc layers multiply
        matrices with torch (TorchGemmOps): tok2vec and head then share one
        thread pool. Affects only the layers this model is built with (not an
        upstream tok2vec it listens to), never thinc's current ops.

    Training output: (n_docs, n_labels, L, W) scores in band layout (see
    heads.py), L the batch's longest doc, W its max_span_length (or L).
    Prediction output: ScoreChunks, the same scores in chunks of starts.
    The component sets ``attrs["max_span_length"]`` (0 = unbounded).
    """
    check_head_args(head, head_size, rope)
    for name, value in (("chunk_size", chunk_size), ("encoder_window", encoder_window)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"GlobalPointer model: {name} must be a positive integer, got {value!r}.")
    scorer = span_scorer(head, rope, head_size, mixed_precision, grad_scaler_config)
    if torch_gemm:
        _use_torch_gemm(tok2vec)
    # Settings live in the forward's closure, not in attrs: thinc saves attrs
    # with the weights and would restore them over a value given at load.
    model = Model(
        "globalpointer",
        functools.partial(forward, chunk_size=chunk_size, encoder_window=encoder_window),
        init=init,
        layers=[tok2vec, scorer],
        dims={"nO": nO},
        attrs={"max_span_length": 0},
    )
    # For spaCy's tooling (init_tok2vec, pretraining); the component itself
    # only calls the model.
    model.set_ref("tok2vec", tok2vec)
    model.set_ref("scorer", scorer)
    return model


def _use_torch_gemm(tok2vec: Model) -> None:
    # Only thinc's plain CPU ops are replaced: GPU ops, and ops a user chose,
    # stay as they are.
    ops = TorchGemmOps(use_blis=False)
    for node in tok2vec.walk():
        if type(node.ops) is NumpyOps:
            node.ops = ops


def init(model: Model, X: Optional[List[Doc]] = None, Y: Any = None) -> None:
    tok2vec, scorer = model.layers
    tok2vec.initialize(X=X)
    if model.has_dim("nO"):
        scorer.set_dim("nO", model.get_dim("nO"))
    scorer.initialize(X=(tok2vec.predict(X), 0) if X else None)


def forward(model: Model, docs: List[Doc], is_train: bool, chunk_size: int, encoder_window: int):
    tok2vec, scorer = model.layers
    if not is_train:
        return ScoreChunks(model, docs, chunk_size, encoder_window), lambda d_scores: []
    tokvecs, backprop_tok2vec = tok2vec(docs, is_train)
    scores, backprop_scorer = scorer((tokvecs, model.attrs["max_span_length"]), is_train)
    return scores, lambda d_scores: backprop_tok2vec(backprop_scorer(d_scores))


class ScoreChunks:
    """A batch's scores at prediction, computed when iterated: ``(offset,
    scores)`` pairs, ``scores`` of shape (B, C, t, W) for the spans starting at
    tokens ``offset..offset + t - 1``. Docs of up to ``chunk_size`` tokens
    come in one chunk. Only one chunk, and for a long doc only the encoder
    window it needs, is held at a time."""

    def __init__(self, model: Model, docs: List[Doc], chunk_size: int, encoder_window: int):
        self.model = model
        self.docs = docs
        self.lengths = [len(doc) for doc in docs]
        self.chunk_size = chunk_size
        self.encoder_window = encoder_window
        L = max(self.lengths, default=0)
        self.width = band_width(L, model.attrs["max_span_length"])

    def __iter__(self) -> Iterator[ScoreChunk]:
        tok2vec, scorer = self.model.layers
        L, W, T = max(self.lengths, default=0), self.width, self.chunk_size
        if L == 0:
            return
        context = encoder_context(tok2vec)
        if len(self.docs) == 1 and L > self.encoder_window and context is not None:
            vectors: Callable[[int, int], Floats3d] = WindowedVectors(
                tok2vec, self.docs[0], self.encoder_window, context
            ).rows
        else:
            padded = pad(scorer.ops, tok2vec.predict(self.docs), scorer.get_dim("nI"))
            vectors = lambda lo, hi: padded[:, lo:hi]  # noqa: E731
        shim = scorer.shims[0]
        for s in range(0, L, T):
            t = min(T, L - s)
            args = head_args(scorer, vectors(s, min(L, s + t + W - 1)), self.lengths, W, offset=s, n_starts=t)
            yield s, to_array(shim.predict(args))

    def to_array(self) -> Floats4d:
        """All chunks as one (B, C, L, W) array, as training computes it."""
        chunks = [chunk for _, chunk in self]
        if not chunks:
            return self.model.ops.alloc4f(len(self.docs), self.model.get_dim("nO"), 0, 0)
        return self.model.ops.xp.concatenate(chunks, axis=2)


def encoder_context(tok2vec: Model) -> Optional[int]:
    """Tokens on each side that can change a token's vector: an upper bound
    (the sum over every windowed layer), or None when a layer's context is
    unknown or unbounded, or when it reads a token attribute that a window
    rebuilt from words and norms would not have (a tag, a lemma, ...)."""
    context = 0
    for node in tok2vec.walk():
        if node.layers:
            continue  # combinators route; their leaves compute
        if node.name not in _WINDOWED_LEAVES:
            return None
        read = list(node.attrs.get("columns", [])) + list(node.attrs.get("attr_ids", []))
        read += [node.attrs["ngram_id"]] if "ngram_id" in node.attrs else []
        if any(intify_attr(attr) not in _WINDOW_ATTRS for attr in read):
            return None
        context += int(node.attrs.get("window_size", 0)) + int(node.attrs.get("context", 0))
    return context


class WindowedVectors:
    """One long doc's vectors, encoded window by window on demand. Each window
    is encoded with ``context`` tokens of the doc on each side, so its vectors
    equal those of one pass over the whole doc."""

    def __init__(self, tok2vec: Model, doc: Doc, window: int, context: int):
        self.tok2vec, self.doc, self.window, self.context = tok2vec, doc, window, context
        # Token-level norms (a component may have set them); the rest of what
        # an encoder reads is lexical, and comes with the words.
        self.norms = doc.to_array([NORM])
        # Word features: the whole doc segmented once (a segmenter's path can
        # depend on text far away), each window given its slice.
        segmenters = {node.attrs["segmenter"] for node in tok2vec.walk() if node.name == "word_features"}
        self.word_places = {seg: doc_word_places(doc, seg) for seg in sorted(segmenters)}
        self.start = 0  # first token held
        self.held: List[Floats2d] = []

    def rows(self, lo: int, hi: int) -> Floats3d:
        """(1, hi - lo, width) vectors of tokens lo..hi - 1; lo never decreases."""
        while self.start + self.window <= lo and self.held:
            self.held.pop(0)
            self.start += self.window
        while self.start + len(self.held) * self.window < hi:
            self.held.append(self._encode(self.start + len(self.held) * self.window))
        xp = self.tok2vec.ops.xp
        joined = self.held[0] if len(self.held) == 1 else xp.concatenate(self.held)
        return joined[None, lo - self.start : hi - self.start]

    def _encode(self, a: int) -> Floats2d:
        b = min(len(self.doc), a + self.window)
        lo, hi = max(0, a - self.context), min(len(self.doc), b + self.context)
        span = self.doc[lo:hi]
        sub = Doc(self.doc.vocab, words=[t.text for t in span], spaces=[bool(t.whitespace_) for t in span])
        sub.from_array([NORM], self.norms[lo:hi])
        for segmenter, places in self.word_places.items():
            sub.user_data[(WORD_PLACES_KEY, segmenter)] = places[lo:hi]
        return self.tok2vec.predict([sub])[0][a - lo : b - lo]


def pad(ops, X: List[Floats2d], width: int) -> Floats3d:
    """Batch-first, padded to the longest doc (thinc's Padded is time-major
    and length-sorted, the head wants neither). By hand rather than ops.pad:
    an empty doc may come as a (0, 0) array."""
    padded = ops.alloc3f(len(X), max((len(x) for x in X), default=0), width)
    for i, x in enumerate(X):
        if len(x):
            padded[i, : len(x)] = x
    return padded


def to_array(scores: torch.Tensor) -> Floats4d:
    # numpy has no bfloat16; float16 (the autocast default) passes as is.
    return torch2xp(scores.float() if scores.dtype == torch.bfloat16 else scores)


class HeadShim(PyTorchShim):
    """PyTorchShim whose autocast and grad scaling follow the device the head
    is on: both are CUDA features, and thinc's scaler fails on CPU tensors
    (training on the CPU of a machine that has a GPU, say)."""

    def __init__(self, mixed_precision: bool, grad_scaler_config: dict):
        self._wanted = (mixed_precision, dict(grad_scaler_config))
        self._on: Optional[str] = None
        super().__init__(
            torch.nn.Module(),
            mixed_precision=False,
            grad_scaler=PyTorchGradScaler(enabled=False),
            serialize_model=serialize_head,
            deserialize_model=deserialize_head,
        )

    def _follow_device(self) -> None:
        device = self.device
        if self._on == str(device):
            return
        mixed_precision, scaler_config = self._wanted
        cuda = device.type == "cuda"
        self._mixed_precision = mixed_precision and cuda
        enabled = bool(scaler_config.get("enabled", mixed_precision)) and cuda
        self._grad_scaler = PyTorchGradScaler(**{**scaler_config, "enabled": enabled})
        self._grad_scaler.to_(device)
        self._on = str(device)

    def predict(self, inputs: ArgsKwargs) -> Any:
        self._follow_device()
        return super().predict(inputs)

    def begin_update(self, inputs: ArgsKwargs):
        self._follow_device()
        return super().begin_update(inputs)


def span_scorer(
    head: str, rope: bool, head_size: int, mixed_precision: bool, grad_scaler_config: dict
) -> Model[Tuple[List[Floats2d], int], Floats4d]:
    """The torch head behind a PyTorchShim. Input: the docs' vectors and
    max_span_length. The torch module needs the input width and the label
    count, known only at initialize: until then the shim holds an empty
    placeholder module."""
    return Model(
        "globalpointer_scorer",
        pytorch_forward,
        init=init_scorer,
        shims=[HeadShim(mixed_precision, grad_scaler_config)],
        dims={"nI": None, "nO": None},
        attrs={
            "convert_inputs": convert_inputs,
            "convert_outputs": convert_outputs,
            "head": head,
            "rope": rope,
            "head_size": head_size,
        },
    )


def init_scorer(model: Model, X: Optional[Tuple[List[Floats2d], int]] = None, Y: Any = None) -> None:
    if X and X[0]:
        model.set_dim("nI", int(X[0][0].shape[1]))
    if not model.has_dim("nI") or not model.has_dim("nO"):
        raise ValueError(
            "GlobalPointer: cannot build the head before the token-vector width "
            "(nI) and the number of labels (nO) are known. Initialize the "
            "component with examples or labels."
        )
    head = build_head(
        model.attrs["head"],
        model.get_dim("nI"),
        model.get_dim("nO"),
        model.attrs["head_size"],
        model.attrs["rope"],
    )
    shim = model.shims[0]
    shim._model = head.to(get_torch_default_device())


def head_args(
    scorer: Model, X: Floats3d, lengths: List[int], width: int, is_train: bool = False, **kwargs
) -> ArgsKwargs:
    """The head's call for (B, R, nI) vectors: tensors on the head's device."""
    shim = scorer.shims[0]
    if not isinstance(shim._model, SpanHead):
        raise ValueError(
            "GlobalPointer model is not initialized: call nlp.initialize() or load a trained pipeline."
        )
    Xt = xp2torch(X, requires_grad=is_train, device=shim.device)
    lengths_t = torch.tensor(lengths, dtype=torch.long, device=shim.device)
    return ArgsKwargs(args=(Xt, lengths_t), kwargs={"width": width, **kwargs})


def convert_inputs(model: Model, X: Tuple[List[Floats2d], int], is_train: bool):
    vectors, max_span_length = X
    lengths = [int(x.shape[0]) for x in vectors]
    padded = pad(model.ops, vectors, model.get_dim("nI"))
    args = head_args(model, padded, lengths, band_width(padded.shape[1], max_span_length), is_train)

    def backprop(d_args: ArgsKwargs) -> List[Floats2d]:
        dX = torch2xp(d_args.args[0])
        return [
            dX[i, :n] if n else model.ops.alloc2f(*x.shape) for i, (n, x) in enumerate(zip(lengths, vectors))
        ]

    return args, backprop


def convert_outputs(model: Model, X_Ytorch, is_train: bool):
    shim = model.shims[0]
    _, Ytorch = X_Ytorch
    Y = to_array(Ytorch)

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
    head.load_state_dict({name: torch.from_numpy(numpy.array(arr)) for name, arr in msg["state"].items()})
    return head.to(device)
