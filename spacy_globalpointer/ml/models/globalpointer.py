"""The registered GlobalPointer architectures: a token-vector layer and the span head.

Training runs both on the whole batch and returns (B, C, L, W) scores. At
prediction the model returns :class:`ChunkedScores` (chunked_scores.py): the same
scores, computed when read, in chunks of start positions."""

import functools
from typing import Any, List, Optional

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model, NumpyOps
from thinc.types import Floats2d, Floats4d

from spacy_globalpointer.ml.chunked_scores import ChunkedScores, SpanScores
from spacy_globalpointer.ml.head_layer import HeadInput, span_head_layer
from spacy_globalpointer.ml.padding import pad, unpad
from spacy_globalpointer.ml.pytorch.band import band_width
from spacy_globalpointer.ml.pytorch.heads import check_head_args
from spacy_globalpointer.ml.torch_gemm import TorchGemmOps

# The components' default token vectors: spaCy's CPU features, width 128.
DEFAULT_TOK2VEC_CONFIG = """
[model.tok2vec]
@architectures = "spacy.Tok2Vec.v2"

[model.tok2vec.embed]
@architectures = "spacy.MultiHashEmbed.v2"
width = 128
attrs = ["NORM", "PREFIX", "SUFFIX", "SHAPE"]
rows = [5000, 1000, 2500, 2500]
include_static_vectors = false

[model.tok2vec.encode]
@architectures = "spacy.MaxoutWindowEncoder.v2"
width = 128
depth = 4
window_size = 1
maxout_pieces = 3
"""
# The globalpointer_ner factory's default model: the default tok2vec and the v3 head.
DEFAULT_MODEL_CONFIG = (
    """
[model]
@architectures = "spacy_globalpointer.GlobalPointer.v3"
head = "GlobalPointer"
rope = true
head_size = 64
"""
    + DEFAULT_TOK2VEC_CONFIG
)


@registry.architectures("spacy_globalpointer.GlobalPointer.v3")
def build_globalpointer_model(
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
    span_content: bool = True,
) -> Model[List[Doc], SpanScores]:
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
    span_content (bool): add to each span's score a per-label linear score of
        the mean of its token vectors, summed along the band (the band's
        O(doc length x max span length) cost). Lets a long span's inside, not
        only its two ends, count.

    Training output: (n_docs, n_labels, L, W) scores in band layout (see
    heads.py), L the batch's longest doc, W its max_span_length (or L).
    Prediction output: ChunkedScores, the same scores in chunks of starts.
    The component sets ``attrs["max_span_length"]`` (None: every span).
    """
    check_head_args(head, head_size, rope)
    for name, value in (("chunk_size", chunk_size), ("encoder_window", encoder_window)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(
                f"[spacy_globalpointer.GlobalPointer] {name} must be a positive integer, got {value!r}."
            )
    scorer = span_head_layer(
        head,
        rope=rope,
        head_size=head_size,
        mixed_precision=mixed_precision,
        grad_scaler_config=grad_scaler_config,
        span_content=span_content,
    )
    if torch_gemm:
        _use_torch_gemm(tok2vec)
    # Settings live in the forward's closure, not in attrs: thinc saves attrs
    # with the weights and would restore them over a value given at load.
    model: Model[List[Doc], SpanScores] = Model(
        "globalpointer",
        functools.partial(forward, chunk_size=chunk_size, encoder_window=encoder_window),
        init=init,
        layers=[tok2vec, scorer],
        dims={"nO": nO},
        attrs={"max_span_length": None},
    )
    # For spaCy's tooling (init_tok2vec, pretraining); the component itself
    # only calls the model.
    model.set_ref("tok2vec", tok2vec)
    model.set_ref("scorer", scorer)
    return model


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
) -> Model[List[Doc], SpanScores]:
    """v3 without the span content term: a span's score from its two ends only.
    Kept so that saved pipelines load and score unchanged."""
    return build_globalpointer_model(
        tok2vec,
        head=head,
        rope=rope,
        head_size=head_size,
        nO=nO,
        mixed_precision=mixed_precision,
        grad_scaler_config=grad_scaler_config,
        chunk_size=chunk_size,
        encoder_window=encoder_window,
        torch_gemm=torch_gemm,
        span_content=False,
    )


@registry.architectures("spacy_globalpointer.GlobalPointer.v1")
def build_globalpointer_model_v1(
    tok2vec: Model[List[Doc], List[Floats2d]],
    head: str = "GlobalPointer",
    rope: bool = True,
    head_size: int = 64,
    nO: Optional[int] = None,
    mixed_precision: bool = False,
    grad_scaler_config: dict = {},
) -> Model[List[Doc], SpanScores]:
    """The first version: v2 with its defaults (the same scores), thinc's own
    CPU matrix products. Kept so that saved pipelines load unchanged."""
    return build_globalpointer_model_v2(
        tok2vec,
        head=head,
        rope=rope,
        head_size=head_size,
        nO=nO,
        mixed_precision=mixed_precision,
        grad_scaler_config=grad_scaler_config,
        torch_gemm=False,
    )


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
    if not X:
        scorer.initialize()
        return
    vectors = tok2vec.predict(X)
    padded = pad(scorer.ops, vectors, int(vectors[0].shape[1]))
    scorer.initialize(X=HeadInput(padded, [len(v) for v in vectors], width=1))


def forward(model: Model, docs: List[Doc], is_train: bool, chunk_size: int, encoder_window: int):
    tok2vec, scorer = model.layers
    if not is_train:
        return ChunkedScores(model, docs, chunk_size, encoder_window), lambda d_scores: []
    tokvecs, backprop_tok2vec = tok2vec(docs, is_train)
    padded = pad(scorer.ops, tokvecs, scorer.get_dim("nI"))
    width = band_width(padded.shape[1], model.attrs["max_span_length"])
    scores, backprop_scorer = scorer(HeadInput(padded, [len(x) for x in tokvecs], width), is_train)

    def backprop(d_scores: Floats4d) -> List[Doc]:
        return backprop_tok2vec(unpad(scorer.ops, backprop_scorer(d_scores), tokvecs))

    return scores, backprop
