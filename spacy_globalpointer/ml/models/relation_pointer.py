"""The registered relation architecture: a token-vector layer and GPLinker's
pair pointers (ml/pair_layer.py).

Training scores every token pair within ``max_distance`` of each other and
returns (B, C, 2, L, 2D + 1) pair-band scores. At prediction the model reads
each doc's candidate entities from ``doc.spans[spans_key]`` (whatever made
them) and scores only their ordered pairs within the distance.
"""

from typing import Any, List, Optional, Sequence, Tuple, cast

import numpy
from spacy.tokens import Doc, Span
from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats2d, Ints2d

from spacy_globalpointer.ml.head_layer import pad, unpad
from spacy_globalpointer.ml.models.globalpointer import DEFAULT_TOK2VEC_CONFIG
from spacy_globalpointer.ml.pair_layer import CandidatePairs, PairBand, pair_pointer_layer
from spacy_globalpointer.ml.pytorch.heads import check_head_args
from spacy_globalpointer.ml.pytorch.pairs import BATCH_ROWS, ROWS_PER_STEP

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
# Per doc at prediction: (P, 2) indices into doc.spans[spans_key] (subject, object),
# and their (P, C, 2) head-to-head and tail-to-tail scores.
DocPairScores = Tuple[numpy.ndarray, numpy.ndarray]


@registry.architectures("spacy_globalpointer.RelationPointer.v1")
def build_relation_pointer(
    tok2vec: Model[List[Doc], List[Floats2d]],
    head: str = "GlobalPointer",
    rope: bool = False,
    head_size: int = 64,
    nO: Optional[int] = None,
    mixed_precision: bool = False,
    grad_scaler_config: dict = {},
) -> Model[List[Doc], Any]:
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
    model: Model[List[Doc], Any] = Model(
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
        return _predict(model, docs), lambda d_scores: []
    tokvecs, backprop_tok2vec = tok2vec(docs, is_train)
    padded = pad(pointers.ops, tokvecs, pointers.get_dim("nI"))
    band = PairBand(padded, [len(x) for x in tokvecs], model.attrs["max_distance"])
    scores, backprop_pointers = pointers(band, is_train)

    def backprop(d_scores: Any) -> List[Doc]:
        return backprop_tok2vec(unpad(pointers.ops, backprop_pointers(d_scores), tokvecs))

    return scores, backprop


def entity_pairs(spans: Sequence[Span], max_distance: int) -> List[Tuple[int, int]]:
    """(i, j) indices of ordered pairs of distinct spans whose starts, and
    whose ends, are at most ``max_distance`` tokens apart: the pairs the
    relation component scores. Sorted by start, a window over the spans
    finds them in O(spans x spans within reach), not O(spans**2)."""
    order = sorted(range(len(spans)), key=lambda k: spans[k].start)
    starts = [spans[k].start for k in order]
    out = []
    lo = 0
    for a_pos, a in enumerate(order):
        while starts[lo] < starts[a_pos] - max_distance:
            lo += 1
        b_pos = lo
        while b_pos < len(order) and starts[b_pos] <= starts[a_pos] + max_distance:
            b = order[b_pos]
            if b != a and abs(spans[a].end - spans[b].end) <= max_distance:
                out.append((a, b))
            b_pos += 1
    return sorted(out)


def _predict(model: Model, docs: List[Doc]) -> List[DocPairScores]:
    """Per doc, its candidate pairs and their scores: the docs with pairs
    scored together in groups of up to BATCH_ROWS padded positions, a doc
    longer than ROWS_PER_STEP tokens on its own, a step at a time."""
    tok2vec, pointers = model.layers
    C = pointers.get_dim("nO")
    out: List[DocPairScores] = [
        (numpy.zeros((0, 2), dtype="int64"), numpy.zeros((0, C, 2), dtype="float32")) for _ in docs
    ]
    work = []
    for k, doc in enumerate(docs):
        spans = list(doc.spans.get(model.attrs["spans_key"], []))
        found = entity_pairs(spans, model.attrs["max_distance"])
        if found:
            work.append((k, spans, numpy.asarray(found, dtype="int64")))
    if not work:
        return out
    vectors = tok2vec.predict([docs[k] for k, _, _ in work])
    group: List[int] = []
    for n, (k, _, _) in enumerate(work):
        longest = max([len(docs[k])] + [len(docs[work[m][0]]) for m in group])
        if group and (len(docs[k]) > ROWS_PER_STEP or longest * (len(group) + 1) > BATCH_ROWS):
            _score_group(pointers, [work[m] for m in group], [vectors[m] for m in group], out)
            group = []
        group.append(n)
        if len(docs[k]) > ROWS_PER_STEP:
            _score_group(pointers, [work[n]], [vectors[n]], out)
            group = []
    if group:
        _score_group(pointers, [work[m] for m in group], [vectors[m] for m in group], out)
    return out


def _score_group(pointers: Model, work: list, vectors: List[Floats2d], out: List[DocPairScores]) -> None:
    rows, index, offset = [], [], 0
    for b, (_, spans, pairs) in enumerate(work):
        starts = numpy.asarray([s.start for s in spans], dtype="int64")
        lasts = numpy.asarray([s.end - 1 for s in spans], dtype="int64")
        tokens, where = numpy.unique(numpy.concatenate([starts, lasts]), return_inverse=True)
        start_row, last_row = where[: len(spans)] + offset, where[len(spans) :] + offset
        a, c = pairs[:, 0], pairs[:, 1]
        index.append(numpy.stack([start_row[a], start_row[c], last_row[a], last_row[c]], axis=1))
        rows.append(numpy.stack([numpy.full(len(tokens), b), tokens], axis=1))
        offset += len(tokens)
    X = pad(pointers.ops, vectors, pointers.get_dim("nI"))
    # cast: thinc's array types do not take numpy's; these are int64 arrays.
    all_rows = pointers.ops.asarray2i(cast(Ints2d, numpy.concatenate(rows)))
    all_pairs = pointers.ops.asarray2i(cast(Ints2d, numpy.concatenate(index)))
    scores = pointers.ops.to_numpy(pointers.predict(CandidatePairs(X, all_rows, all_pairs)))
    first = 0
    for k, _, pairs in work:
        out[k] = (pairs, scores[first : first + len(pairs)])
        first += len(pairs)
