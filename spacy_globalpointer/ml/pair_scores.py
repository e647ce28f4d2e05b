"""A batch's relation scores at prediction: the candidate pairs of each doc
(candidate_pairs.py) scored by the pair pointers from the projections of the
candidates' boundary tokens only, in bounded steps. The prediction output of
spacy_globalpointer.RelationPointer.v1, as chunked_scores.py is the span
model's."""

from typing import List, Tuple, cast

import numpy
from spacy.tokens import Doc
from thinc.api import Model
from thinc.types import Floats2d, Ints2d

from spacy_globalpointer.ml.candidate_pairs import Pairs, candidate_pairs
from spacy_globalpointer.ml.padding import pad
from spacy_globalpointer.ml.pair_layer import CandidatePairs
from spacy_globalpointer.ml.pytorch.pairs import BATCH_ROWS, ROWS_PER_STEP

# Per doc: (P, 2) indices into doc.spans[spans_key] (subject, object), and
# their (P, C, 2) head-to-head and tail-to-tail scores.
DocPairScores = Tuple[numpy.ndarray, numpy.ndarray]


def predict_pairs(model: Model, docs: List[Doc]) -> List[DocPairScores]:
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
    pairs = Pairs(offsets, bounds, *candidate_pairs(counts, bounds, model.attrs["max_distance"]))
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
