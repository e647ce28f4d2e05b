"""The registered relation architecture: a token-vector layer and GPLinker's
pair pointers (ml/pair_layer.py).

Training scores every token pair within ``max_distance`` of each other and
returns (B, C, 2, L, 2D + 1) pair-band scores. At prediction the model reads
each doc's candidate entities from ``doc.spans[spans_key]`` (whatever made
them) and scores only their ordered pairs within the distance.
"""

from dataclasses import dataclass
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
# Up to this many candidate entities, a doc's pairs are found by testing every pair.
FEW_SPANS = 24
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
    lengths = [len(x) for x in tokvecs]
    # No pair of a batch of short docs is farther apart than its longest doc: a band wider than that holds
    # only masked cells (CoNLL04's sentences against max_distance 82), so it is cut to the batch.
    D = max(0, min(model.attrs["max_distance"], max(lengths, default=1) - 1))
    band = PairBand(padded, lengths, D)
    scores, backprop_pointers = pointers(band, is_train)

    def backprop(d_scores: Any) -> List[Doc]:
        return backprop_tok2vec(unpad(pointers.ops, backprop_pointers(d_scores), tokvecs))

    return scores, backprop


def entity_pairs(spans: Sequence[Span], max_distance: int) -> List[Tuple[int, int]]:
    """(i, j) indices of ordered pairs of distinct spans whose starts, and
    whose ends, are at most ``max_distance`` tokens apart: the pairs the
    relation component scores, in (i, j) order."""
    bounds = numpy.asarray([(s.start, s.end) for s in spans], dtype="int64").reshape(-1, 2)
    _, a, b = _candidate_pairs(numpy.asarray([len(spans)]), bounds, max_distance)
    return list(zip(a.tolist(), b.tolist()))


def _candidate_pairs(
    counts: numpy.ndarray, bounds: numpy.ndarray, max_distance: int
) -> Tuple[numpy.ndarray, ...]:
    """Every doc's candidate pairs, as (doc, i, j) arrays in (doc, i, j)
    order, i and j indexing the doc's spans: ``bounds`` (N, 2) holds the
    (start, end) of all docs' spans end to end, ``counts`` how many each doc
    has. A doc of few spans tests every pair (all such docs at once); one of
    many, a window over its spans sorted by start, O(spans x spans within
    reach), not O(spans**2)."""
    first = numpy.cumsum(counts) - counts
    few = counts <= FEW_SPANS
    squares = numpy.where(few, counts**2, 0)
    doc = numpy.repeat(numpy.arange(len(counts)), squares)
    place = numpy.arange(len(doc)) - numpy.repeat(numpy.cumsum(squares) - squares, squares)
    n = counts[doc]
    a, b = place // numpy.maximum(n, 1), place % numpy.maximum(n, 1)
    ga, gb = first[doc] + a, first[doc] + b
    near = numpy.abs(bounds[ga] - bounds[gb]).max(axis=1, initial=0) <= max_distance
    keep = (a != b) & near
    parts = [(doc[keep], a[keep], b[keep])]
    for k in numpy.flatnonzero(~few).tolist():
        found = _window_pairs(bounds[first[k] : first[k] + counts[k]], max_distance)
        parts.append((numpy.full(len(found), k), found[:, 0], found[:, 1]))
    docs, firsts, seconds = (numpy.concatenate([part[m] for part in parts]).astype("int64") for m in range(3))
    order = numpy.argsort(docs, kind="stable")
    return docs[order], firsts[order], seconds[order]


def _window_pairs(bounds: numpy.ndarray, max_distance: int) -> numpy.ndarray:
    starts, ends = bounds[:, 0].tolist(), bounds[:, 1].tolist()
    order = sorted(range(len(starts)), key=lambda k: starts[k])
    sorted_starts = [starts[k] for k in order]
    out = []
    lo = 0
    for a_pos, a in enumerate(order):
        while sorted_starts[lo] < sorted_starts[a_pos] - max_distance:
            lo += 1
        b_pos = lo
        while b_pos < len(order) and sorted_starts[b_pos] <= sorted_starts[a_pos] + max_distance:
            b = order[b_pos]
            if b != a and abs(ends[a] - ends[b]) <= max_distance:
                out.append((a, b))
            b_pos += 1
    return numpy.asarray(sorted(out), dtype="int64").reshape(-1, 2)


@dataclass
class Pairs:
    """A batch's candidates: where each doc's spans start in ``bounds``, all
    spans' (start, end) end to end, and the pairs as (doc, i, j) arrays in
    that order, i and j indexing the doc's spans."""

    span_offsets: numpy.ndarray
    bounds: numpy.ndarray
    doc: numpy.ndarray
    i: numpy.ndarray
    j: numpy.ndarray


def _predict(model: Model, docs: List[Doc]) -> List[DocPairScores]:
    """Per doc, its candidate pairs and their scores. Without RoPE a token's
    projection is its own: all docs' vectors as one sequence, one call, only
    the candidates' rows projected (a step at a time). With RoPE: groups of
    up to BATCH_ROWS padded positions, a doc longer than ROWS_PER_STEP tokens
    on its own, a step at a time."""
    tok2vec, pointers = model.layers
    C = pointers.get_dim("nO")
    out: List[DocPairScores] = [
        (numpy.zeros((0, 2), dtype="int64"), numpy.zeros((0, C, 2), dtype="float32")) for _ in docs
    ]
    key = model.attrs["spans_key"]
    groups = [doc.spans.get(key, []) for doc in docs]
    counts = numpy.asarray([len(group) for group in groups], dtype="int64")
    bounds = numpy.asarray([(s.start, s.end) for group in groups for s in group], dtype="int64").reshape(
        -1, 2
    )
    offsets = numpy.cumsum(counts) - counts
    pairs = Pairs(offsets, bounds, *_candidate_pairs(counts, bounds, model.attrs["max_distance"]))
    with_pairs = numpy.flatnonzero(numpy.bincount(pairs.doc, minlength=len(docs))).tolist()
    if not with_pairs:
        return out
    vectors = tok2vec.predict([docs[k] for k in with_pairs])
    if not pointers.attrs["rope"]:
        _score_group(pointers, pairs, with_pairs, vectors, out, one_sequence=True)
        return out
    group: List[int] = []
    for n, k in enumerate(with_pairs):
        longest = max([len(docs[k])] + [len(docs[with_pairs[m]]) for m in group])
        if group and (len(docs[k]) > ROWS_PER_STEP or longest * (len(group) + 1) > BATCH_ROWS):
            _score_group(pointers, pairs, [with_pairs[m] for m in group], [vectors[m] for m in group], out)
            group = []
        group.append(n)
        if len(docs[k]) > ROWS_PER_STEP:
            _score_group(pointers, pairs, [k], [vectors[n]], out)
            group = []
    if group:
        _score_group(pointers, pairs, [with_pairs[m] for m in group], [vectors[m] for m in group], out)
    return out


def _score_group(
    pointers: Model,
    pairs: Pairs,
    ks: List[int],
    vectors: List[Floats2d],
    out: List[DocPairScores],
    one_sequence: bool = False,
) -> None:
    """Score the pairs of the docs ``ks`` (in order, each with pairs) in one
    call: every candidate's first and last token as a (doc, token) row, the
    rows sorted and made unique once, the pairs as indices into them.
    ``one_sequence``: the docs' vectors end to end as one doc (for a head
    without RoPE)."""
    lengths = numpy.asarray([len(v) for v in vectors], dtype="int64")
    # A row's key: doc * width + token, or with one sequence the token's place in it.
    width = int(lengths.max()) + 1
    bases = numpy.cumsum(lengths) - lengths if one_sequence else numpy.arange(len(ks)) * width
    # The group's pairs are contiguous: the docs are in order and the pairs sorted by doc.
    lo = int(numpy.searchsorted(pairs.doc, ks[0], side="left"))
    hi = int(numpy.searchsorted(pairs.doc, ks[-1], side="right"))
    doc, a, b = pairs.doc[lo:hi], pairs.i[lo:hi], pairs.j[lo:hi]
    position = numpy.zeros(len(pairs.span_offsets), dtype="int64")
    position[ks] = numpy.arange(len(ks))
    base = bases[position[doc]]
    ga, gb = pairs.span_offsets[doc] + a, pairs.span_offsets[doc] + b
    keys = numpy.concatenate(
        [
            base + pairs.bounds[ga, 0],
            base + pairs.bounds[gb, 0],
            base + pairs.bounds[ga, 1] - 1,
            base + pairs.bounds[gb, 1] - 1,
        ]
    )
    unique, where = numpy.unique(keys, return_inverse=True)
    index = where.reshape(4, -1).T
    if one_sequence:
        rows = numpy.stack([numpy.zeros_like(unique), unique], axis=1)
        X = pointers.ops.xp.concatenate(vectors)[None]
    else:
        rows = numpy.stack([unique // width, unique % width], axis=1)
        X = pad(pointers.ops, vectors, pointers.get_dim("nI"))
    # cast: thinc's array types do not take numpy's; these are int64 arrays.
    all_rows = pointers.ops.asarray2i(cast(Ints2d, rows))
    all_pairs = pointers.ops.asarray2i(cast(Ints2d, numpy.ascontiguousarray(index)))
    scores = pointers.ops.to_numpy(pointers.predict(CandidatePairs(X, all_rows, all_pairs)))
    ij = numpy.stack([a, b], axis=1)
    ends = numpy.searchsorted(doc, ks, side="right")
    starts = numpy.searchsorted(doc, ks, side="left")
    for k, s, e in zip(ks, starts.tolist(), ends.tolist()):
        out[k] = (ij[s:e], scores[s:e])
