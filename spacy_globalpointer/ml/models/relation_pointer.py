"""The registered relation architectures: a token-vector layer and GPLinker's
pointers.

RelationPointer.v1 (ml/pair_layer.py): training scores every token pair
within ``max_distance`` of each other and returns (B, C, 2, L, 2D + 1)
pair-band scores. At prediction the model reads each doc's candidate entities
from ``doc.spans[spans_key]`` (whatever made them) and scores only their
ordered pairs within the distance (ml/pair_scores.py).

RelationPointer.v2 (ml/entity_pair_layer.py): its input is the candidate
entities (Entities: gold ones in training, doc.spans' at prediction, given by
the component), and training scores the pairs prediction would score, with
context: a BiLSTM over the doc, what stands between the entities, their
distance and their labels (ml/pytorch/entity_pairs.py).
"""

import math
from typing import Any, List, Optional, Union

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats2d, FloatsXd

from spacy_globalpointer.ml.entity_pair_layer import EntityPairsInput, entity_pair_layer
from spacy_globalpointer.ml.entity_pair_scores import (
    Entities,
    EntityPairScores,
    predict_entity_pairs,
    train_forward,
)
from spacy_globalpointer.ml.models.globalpointer import DEFAULT_TOK2VEC_CONFIG
from spacy_globalpointer.ml.padding import pad, unpad
from spacy_globalpointer.ml.pair_layer import PairBand, pair_pointer_layer
from spacy_globalpointer.ml.pair_scores import DocPairScores, predict_pairs
from spacy_globalpointer.ml.pytorch.context import CONTEXTS
from spacy_globalpointer.ml.pytorch.heads import check_head_args

# The globalpointer_rel factory's default model: a CPU tok2vec (width 128) and RelationPointer.v2 with its
# defaults (the ideas that paid on CoNLL04: docs/relations.md).
DEFAULT_REL_MODEL_CONFIG = (
    """
[model]
@architectures = "spacy_globalpointer.RelationPointer.v2"
head = "GlobalPointer"
head_size = 32
context = "lstm"
context_width = 128
context_depth = 1
between = true
distance = true
entity_types = false
hidden_width = 0
"""
    + DEFAULT_TOK2VEC_CONFIG
)
# The models' output: in training, v1's (B, C, 2, L, 2D + 1) pair-band scores or v2's scores of the
# candidate pairs; at prediction, per doc its candidate pairs and their scores.
PairModelOutput = Union[FloatsXd, List[DocPairScores]]
EntityPairOutput = Union[EntityPairScores, List[DocPairScores]]


@registry.architectures("spacy_globalpointer.RelationPointer.v1")
def build_relation_pointer(
    tok2vec: Model[List[Doc], List[Floats2d]],
    head: str = "GlobalPointer",
    rope: bool = False,
    head_size: int = 64,
    nO: Optional[int] = None,
    mixed_precision: bool = False,
    grad_scaler_config: dict = {},
) -> Model[List[Doc], PairModelOutput]:
    """Score relations between entities, GPLinker's way.

    tok2vec (Model[List[Doc], List[Floats2d]]): any token-vector layer (a
        spacy.Tok2VecListener shares the entity component's).
    head (str): "GlobalPointer" (per-label projections) or
        "EfficientGlobalPointer" (shared projections, per-label biases), for
        both the head-to-head and the tail-to-tail pointer.
    rope (bool): rotary position embedding on the pointers' queries and keys
        (off in GPLinker: either entity may come first).
    head_size (int): query/key size per label; even when rope is true.
    nO (Optional[int]): number of relation labels; set by the component.
    mixed_precision (bool): torch autocast for the pointers on a CUDA device.
    grad_scaler_config (dict): thinc's PyTorchGradScaler settings, with mixed
        precision on a CUDA device.

    The component sets ``attrs["max_distance"]`` and ``attrs["spans_key"]``.
    """
    check_head_args(head, head_size, rope)
    pointers = pair_pointer_layer(
        head,
        rope=rope,
        head_size=head_size,
        mixed_precision=mixed_precision,
        grad_scaler_config=grad_scaler_config,
    )
    model: Model[List[Doc], PairModelOutput] = Model(
        "relation_pointer",
        forward,
        init=init,
        layers=[tok2vec, pointers],
        dims={"nO": nO},
        attrs={"max_distance": 64, "spans_key": "sc"},
    )
    model.set_ref("tok2vec", tok2vec)
    model.set_ref("pointers", pointers)
    return model


def init(model: Model, X: Optional[List[Doc]] = None, Y: Any = None) -> None:
    tok2vec, pointers = model.layers
    tok2vec.initialize(X=X)
    if model.has_dim("nO"):
        pointers.set_dim("nO", model.get_dim("nO"))
    if not X:
        pointers.initialize()
        return
    vectors = tok2vec.predict(X)
    pointers.initialize(X=PairBand(pad(pointers.ops, vectors, int(vectors[0].shape[1])), [1] * len(X), 1))


def forward(model: Model, docs: List[Doc], is_train: bool):
    tok2vec, pointers = model.layers
    if not is_train:
        return predict_pairs(model, docs), lambda d_scores: []
    tokvecs, backprop_tok2vec = tok2vec(docs, is_train)
    padded = pad(pointers.ops, tokvecs, pointers.get_dim("nI"))
    lengths = [len(x) for x in tokvecs]
    # No pair of a batch of short docs is farther apart than its longest doc: a band wider than that holds
    # only masked cells (CoNLL04's sentences against max_distance 82), so it is cut to the batch.
    D = max(0, min(model.attrs["max_distance"], max(lengths, default=1) - 1))
    band = PairBand(padded, lengths, D)
    scores, backprop_pointers = pointers(band, is_train)

    def backprop(d_scores: Any) -> List[Doc]:
        return backprop_tok2vec(unpad(pointers.ops, backprop_pointers(d_scores), tokvecs))

    return scores, backprop


@registry.architectures("spacy_globalpointer.RelationPointer.v2")
def build_relation_pointer_v2(
    tok2vec: Model[List[Doc], List[Floats2d]],
    head: str = "GlobalPointer",
    head_size: int = 32,
    context: str = "lstm",
    context_width: int = 128,
    context_depth: int = 1,
    between: bool = True,
    distance: bool = True,
    entity_types: bool = False,
    hidden_width: int = 0,
    initial_bias: float = 0.0,
    nO: Optional[int] = None,
    nE: Optional[int] = None,
    mixed_precision: bool = False,
    grad_scaler_config: dict = {},
) -> Model[Entities, EntityPairOutput]:
    """Score relations between candidate entities: GPLinker's pointers with
    context, trained on the pairs it predicts.

    tok2vec (Model[List[Doc], List[Floats2d]]): any token-vector layer (a
        spacy.Tok2VecListener shares the entity component's).
    head (str): "GlobalPointer" or "EfficientGlobalPointer", for both the
        head-to-head and the tail-to-tail pointer (RoPE off, as in GPLinker).
    head_size (int): query/key size per label.
    context (str): the context layer over each doc's vectors: "lstm" (a
        BiLSTM over the doc) or "attention" (self-attention within 64 tokens,
        2 heads, RoPE).
    context_width (int): its output width, concatenated to tok2vec's vectors.
    context_depth (int): its layers; 0: no context layer.
    between (bool): a score of the mean vector of the tokens between the two
        entities (SpERT's context).
    distance (bool): a score per relation label for the bucket of the signed
        distance between the entities' starts.
    entity_types (bool): an embedding of each entity's label in the pointers'
        rows, and a score per (subject label, object label, relation label).
    hidden_width (int): a hidden layer (ReLU) of this width over the pair
        (both entities' boundary rows, the mean between them, their
        distance), SpERT's way, scored per label; 0: none.
    initial_bias (float): where each label's score starts, a learned bias:
        below 0 (about minus the log of a doc's candidate pairs), an
        untrained model finds no relation and the first steps learn the
        relations instead of pushing most pairs' scores below 0; 0: none
        (the pointers' scores alone).
    nO (Optional[int]): number of relation labels; set by the component.
    nE (Optional[int]): number of entity labels + 1 (for a label the
        component does not know); set by the component.
    mixed_precision (bool): torch autocast for the scorer on a CUDA device.
    grad_scaler_config (dict): thinc's PyTorchGradScaler settings, with mixed
        precision on a CUDA device.

    The component sets ``attrs["max_distance"]``.
    """
    check_head_args(head, head_size, False)
    if context not in CONTEXTS:
        raise ValueError(
            f"[spacy_globalpointer.RelationPointer.v2] context must be one of {CONTEXTS}, got {context!r}."
        )
    for name, value, least in (("context_width", context_width, 1), ("context_depth", context_depth, 0)):
        if not isinstance(value, int) or value < least:
            raise ValueError(
                f"[spacy_globalpointer.RelationPointer.v2] {name} must be an integer of at least {least}, "
                f"got {value!r}."
            )
    if not isinstance(hidden_width, int) or hidden_width < 0:
        raise ValueError(
            f"[spacy_globalpointer.RelationPointer.v2] hidden_width must be 0 (none) or a positive "
            f"integer, got {hidden_width!r}."
        )
    if (
        isinstance(initial_bias, bool)
        or not isinstance(initial_bias, (int, float))
        or not math.isfinite(initial_bias)
    ):
        raise ValueError(
            f"[spacy_globalpointer.RelationPointer.v2] initial_bias must be a finite number (0: none), "
            f"got {initial_bias!r}."
        )
    scorer = entity_pair_layer(
        head,
        head_size=head_size,
        context=context,
        context_width=context_width,
        context_depth=context_depth,
        between=between,
        distance=distance,
        entity_types=entity_types,
        hidden_width=hidden_width,
        initial_bias=initial_bias,
        mixed_precision=mixed_precision,
        grad_scaler_config=grad_scaler_config,
    )
    model: Model[Entities, EntityPairOutput] = Model(
        "relation_pointer_v2",
        forward_v2,
        init=init_v2,
        layers=[tok2vec, scorer],
        dims={"nO": nO, "nE": nE},
        attrs={"max_distance": 64},
    )
    model.set_ref("tok2vec", tok2vec)
    model.set_ref("scorer", scorer)
    return model


def init_v2(model: Model, X: Optional[Entities] = None, Y: Any = None) -> None:
    tok2vec, scorer = model.layers
    tok2vec.initialize(X=X.docs if X else None)
    for dim in ("nO", "nE"):
        if model.has_dim(dim):
            scorer.set_dim(dim, model.get_dim(dim))
    if not X or not X.docs:
        if tok2vec.has_dim("nO") is True:
            scorer.set_dim("nI", tok2vec.get_dim("nO"))
        scorer.initialize()
        return
    vectors = tok2vec.predict(X.docs)
    width = int(vectors[0].shape[1])
    none = scorer.ops.alloc2i(0, 4)
    scorer.initialize(
        X=EntityPairsInput(pad(scorer.ops, vectors, width), [len(v) for v in vectors], none, none)
    )


def forward_v2(model: Model, X: Entities, is_train: bool):
    if not is_train:
        return predict_entity_pairs(model, X), lambda d_scores: []
    return train_forward(model, X)
