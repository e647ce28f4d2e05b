"""The registered relation architecture: a token-vector layer and GPLinker's
pair pointers (ml/pair_layer.py).

Training scores every token pair within ``max_distance`` of each other and
returns (B, C, 2, L, 2D + 1) pair-band scores. At prediction the model reads
each doc's candidate entities from ``doc.spans[spans_key]`` (whatever made
them) and scores only their ordered pairs within the distance
(ml/pair_scores.py).
"""

from typing import Any, List, Optional, Union

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats2d, FloatsXd

from spacy_globalpointer.ml.models.globalpointer import DEFAULT_TOK2VEC_CONFIG
from spacy_globalpointer.ml.padding import pad, unpad
from spacy_globalpointer.ml.pair_layer import PairBand, pair_pointer_layer
from spacy_globalpointer.ml.pair_scores import DocPairScores, predict_pairs
from spacy_globalpointer.ml.pytorch.heads import check_head_args

# The globalpointer_rel factory's default model: a CPU tok2vec (width 128) and the pointers.
DEFAULT_REL_MODEL_CONFIG = (
    """
[model]
@architectures = "spacy_globalpointer.RelationPointer.v1"
head = "GlobalPointer"
rope = false
head_size = 64
"""
    + DEFAULT_TOK2VEC_CONFIG
)
# The model's output: in training, (B, C, 2, L, 2D + 1) pair-band scores; at prediction, per doc its
# candidate pairs and their scores.
PairModelOutput = Union[FloatsXd, List[DocPairScores]]


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
