"""Decoding band scores into spans, and the flat selection for doc.ents."""

import numpy
import pytest

from spacy_globalpointer.pipeline.decode import decode_spans, max_spans, select_flat


def band(scores_by_span, B, C, L, W, fill=-1e4):
    s = numpy.full((B, C, L, W), fill, dtype="float32")
    for (b, c, start, end), v in scores_by_span.items():
        s[b, c, start, end - start - 1] = v
    return s


def as_set(cand):
    return {(int(s), int(e), int(c)) for s, e, c in zip(cand.starts, cand.ends, cand.labels)}


def test_nested_spans_kept_and_threshold_respected():
    spans = {(0, 0, 0, 4): 3.0, (0, 1, 0, 2): 2.0, (0, 1, 2, 4): 1.0, (0, 0, 1, 2): 0.5, (0, 0, 3, 4): 0.0}
    scores = band(spans, 1, 2, 5, 5)
    (cand,) = decode_spans(scores, [5], threshold=0.0, spans_per_token=10)
    assert as_set(cand) == {(0, 4, 0), (0, 2, 1), (2, 4, 1), (1, 2, 0)}  # 0.0 is not above 0.0
    assert list(cand.scores) == sorted(cand.scores, reverse=True)
    (cand,) = decode_spans(scores, [5], threshold=0.9, spans_per_token=10)
    assert as_set(cand) == {(0, 4, 0), (0, 2, 1), (2, 4, 1)}


def test_cells_past_doc_end_never_decoded():
    scores = numpy.full((2, 1, 4, 4), 5.0, dtype="float32")  # everything "positive"
    a, b = decode_spans(scores, [4, 2], threshold=0.0, spans_per_token=100)
    assert as_set(a) == {(i, j, 0) for i in range(4) for j in range(i + 1, 5)}
    assert as_set(b) == {(0, 1, 0), (0, 2, 0), (1, 2, 0)}


@pytest.mark.parametrize("density", [0.02, 0.6])
def test_batch_matches_brute_force(density):
    # Sparse scores take the fast path (few cells above the threshold), dense
    # ones the per-doc top-K path; both must match a loop over every cell.
    rng = numpy.random.default_rng(1)
    B, C, L, W, lengths = 4, 3, 9, 5, [9, 0, 4, 7]
    scores = numpy.where(
        rng.random((B, C, L, W)) < density, rng.random((B, C, L, W)) + 0.1, -rng.random((B, C, L, W))
    ).astype("float32")
    got = decode_spans(scores, lengths, threshold=0.0, spans_per_token=3.0)
    for b, cand in enumerate(got):
        cells = [
            (scores[b, c, i, w], i, i + w + 1, c)
            for c in range(C)
            for i in range(L)
            for w in range(W)
            if i + w < lengths[b] and scores[b, c, i, w] > 0
        ]
        best = sorted(cells, key=lambda x: -x[0])[: max_spans(lengths[b], 3.0) if lengths[b] else 0]
        assert as_set(cand) == {(s, e, c) for _, s, e, c in best}
        assert cand.scores.tolist() == sorted((float(v) for v, *_ in best), reverse=True)


def test_cap_keeps_the_best():
    rng = numpy.random.default_rng(0)
    scores = rng.normal(size=(1, 3, 6, 6)).astype("float32") + 2
    (cand,) = decode_spans(scores, [6], threshold=0.0, spans_per_token=1.0)
    assert len(cand) == max_spans(6, 1.0) == 6
    valid = [(scores[0, c, i, w], c, i, w) for c in range(3) for i in range(6) for w in range(6) if i + w < 6]
    best = sorted(valid, reverse=True)[:6]
    assert sorted(cand.scores.tolist(), reverse=True) == pytest.approx([v[0] for v in best])


def test_empty_and_single_token_docs():
    scores = numpy.full((3, 2, 1, 1), 1.0, dtype="float32")
    empty, one, also_empty = decode_spans(scores, [0, 1, 0], 0.0, 1.0)
    assert len(empty) == 0 and len(also_empty) == 0
    assert len(one) == 1 and as_set(one) <= {(0, 1, 0), (0, 1, 1)}  # cap: 1 span per token
    none = decode_spans(numpy.zeros((0, 2, 0, 0), dtype="float32"), [], 0.0, 1.0)
    assert none == []


def test_select_flat_greedy_by_score():
    starts = numpy.array([0, 0, 2, 5, 4])
    ends = numpy.array([4, 2, 4, 7, 6])
    scores = numpy.array([1.0, 3.0, 2.0, 0.5, 0.7])
    chosen = set(select_flat(starts, ends, scores).tolist())
    # (0,2) beats (0,4); (2,4) fits beside it; (4,6) beats the overlapping (5,7)
    assert chosen == {1, 2, 4}


def test_select_flat_ties_prefer_earlier_then_shorter():
    starts = numpy.array([1, 0, 0])
    ends = numpy.array([3, 3, 2])
    scores = numpy.array([1.0, 1.0, 1.0])
    assert select_flat(starts, ends, scores).tolist() == [2]
    assert select_flat(numpy.zeros(0, int), numpy.zeros(0, int), numpy.zeros(0)).tolist() == []
