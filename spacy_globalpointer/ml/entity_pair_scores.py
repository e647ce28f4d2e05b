"""RelationPointer.v2's forward: a batch's candidate entities (Entities: the
component gives gold ones in training, doc.spans' at prediction) -> their
candidate pairs within max_distance (candidate_pairs.py) -> the pairs'
scores (entity_pair_layer.py). Training scores the batch's pairs in one call
(EntityPairScores, which the loss reads); prediction gives each doc's pairs
and scores (DocPairScores, as v1 does), docs of like length in padded
groups of at most BATCH_ROWS positions, a longer doc alone: memory grows with
the entities within reach and the doc's length, not with the doc's length
times the labels."""

from dataclasses import dataclass
from typing import Callable, List, Tuple, cast

import numpy
from spacy.tokens import Doc
from thinc.api import Model
from thinc.types import Floats2d, Floats3d, Ints2d

from spacy_globalpointer.ml.candidate_pairs import Pairs, candidate_pairs
from spacy_globalpointer.ml.entity_pair_layer import EntityPairsInput
from spacy_globalpointer.ml.padding import pad
from spacy_globalpointer.ml.pair_scores import DocPairScores

# Padded positions scored in one call at prediction (docs sorted by length, so little is padding); a
# longer doc goes alone.
BATCH_ROWS = 4096


@dataclass
class Entities:
    """The candidate entities of a batch of docs: how many each doc has (``counts``), and all docs'
    (start, end) token offsets (``bounds``, N x 2) and label indices (``labels``; 0: a label the
    component does not know), end to end, in the docs' order."""

    docs: List[Doc]
    counts: numpy.ndarray
    bounds: numpy.ndarray
    labels: numpy.ndarray


@dataclass
class EntityPairScores:
    """The training output: the batch's candidate entities and pairs, and the pairs' (P, C, 1) scores."""

    entities: Entities
    pairs: Pairs
    scores: Floats3d


def find_pairs(entities: Entities, max_distance: int) -> Pairs:
    offsets = numpy.cumsum(entities.counts) - entities.counts
    found = candidate_pairs(entities.counts, entities.bounds, max_distance)
    return Pairs(offsets, entities.bounds, *found)


def pairs_input(
    vectors: Floats3d,
    lengths: List[int],
    ks: List[int],
    entities: Entities,
    pairs: Pairs,
    chosen: numpy.ndarray,
) -> EntityPairsInput:
    """The scorer's input for the docs ``ks`` (rows of ``vectors``, in that order) and their pairs,
    ``chosen`` (indices into the batch's pairs)."""
    first = pairs.span_offsets
    rows = numpy.concatenate([numpy.arange(first[k], first[k] + entities.counts[k]) for k in ks])
    doc_row = numpy.repeat(numpy.arange(len(ks)), entities.counts[ks])
    table = numpy.stack(
        [doc_row, entities.bounds[rows, 0], entities.bounds[rows, 1], entities.labels[rows]], 1
    )
    # A pair's entities as rows of ``table``: where its doc's entities start there, plus i or j.
    local_first = numpy.zeros(len(first), dtype="int64")
    local_first[ks] = numpy.cumsum(entities.counts[ks]) - entities.counts[ks]
    doc, i, j = pairs.doc[chosen], pairs.i[chosen], pairs.j[chosen]
    ab = numpy.stack([local_first[doc] + i, local_first[doc] + j], 1)
    # cast: thinc's array types do not take numpy's; these are int64 arrays.
    return EntityPairsInput(
        vectors, lengths, cast(Ints2d, table.astype("int64")), cast(Ints2d, ab.astype("int64"))
    )


def train_forward(model: Model, X: Entities) -> Tuple[EntityPairScores, Callable]:
    tok2vec, scorer = model.layers
    pairs = find_pairs(X, model.attrs["max_distance"])
    # Every doc of the batch through tok2vec (a listener expects the batch it was given), only the docs
    # with pairs through the scorer.
    tokvecs, backprop_tok2vec = tok2vec(X.docs, True)
    ks = numpy.unique(pairs.doc).tolist()
    C = scorer.get_dim("nO")
    if not ks:
        none = EntityPairScores(X, pairs, scorer.ops.alloc3f(0, C, 1))
        return none, lambda d_scores: backprop_tok2vec([scorer.ops.alloc2f(*t.shape) for t in tokvecs])
    chosen = [tokvecs[k] for k in ks]
    padded = pad(scorer.ops, chosen, scorer.get_dim("nI"))
    inputs = pairs_input(padded, [len(t) for t in chosen], ks, X, pairs, numpy.arange(len(pairs.doc)))
    scores, backprop_scorer = scorer(inputs, True)

    def backprop(d_scores: Floats3d) -> List[Doc]:
        dX = backprop_scorer(d_scores)
        d_tokvecs: List[Floats2d] = [scorer.ops.alloc2f(*t.shape) for t in tokvecs]
        for n, k in enumerate(ks):
            d_tokvecs[k] = dX[n, : len(tokvecs[k])]
        return backprop_tok2vec(d_tokvecs)

    return EntityPairScores(X, pairs, scores), backprop


def predict_entity_pairs(model: Model, X: Entities) -> List[DocPairScores]:
    """Per doc, its candidate pairs (P, 2) as indices into its entities, and their (P, C, 1) scores."""
    tok2vec, scorer = model.layers
    C = scorer.get_dim("nO")
    out: List[DocPairScores] = [
        (numpy.zeros((0, 2), dtype="int64"), numpy.zeros((0, C, 1), dtype="float32")) for _ in X.docs
    ]
    pairs = find_pairs(X, model.attrs["max_distance"])
    with_pairs = numpy.unique(pairs.doc).tolist()
    if not with_pairs:
        return out
    vectors = dict(zip(with_pairs, tok2vec.predict([X.docs[k] for k in with_pairs])))
    # Docs of like length together: the context layer pads each group to its longest doc.
    by_length = sorted(with_pairs, key=lambda k: len(X.docs[k]))
    groups: List[List[int]] = [[]]
    for k in by_length:
        if groups[-1] and len(X.docs[k]) * (len(groups[-1]) + 1) > BATCH_ROWS:
            groups.append([])
        groups[-1].append(k)
    ij = numpy.stack([pairs.i, pairs.j], axis=1)
    # Where each doc's pairs are: they come sorted by doc.
    starts = numpy.searchsorted(pairs.doc, numpy.arange(len(X.docs)), side="left")
    ends = numpy.searchsorted(pairs.doc, numpy.arange(len(X.docs)), side="right")
    for ks in groups:
        chosen = numpy.concatenate([numpy.arange(starts[k], ends[k]) for k in ks])
        docs_vectors = [vectors[k] for k in ks]
        padded = pad(scorer.ops, docs_vectors, scorer.get_dim("nI"))
        inputs = pairs_input(padded, [len(v) for v in docs_vectors], ks, X, pairs, chosen)
        scores = scorer.ops.to_numpy(scorer.predict(inputs))
        at = 0
        for k in ks:
            n = ends[k] - starts[k]
            out[k] = (ij[starts[k] : ends[k]], scores[at : at + n])
            at += n
    return out
