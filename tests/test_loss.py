"""Multilabel categorical cross-entropy: a hand-computed value and finite differences."""

import math

import pytest
import torch

from helpers.reference_loss import multilabel_categorical_crossentropy
from spacy_globalpointer.ml.pytorch.loss import band_loss, loss_and_gradient


def test_hand_computed_value():
    scores = torch.tensor([[2.0, -1.0, 0.5, 9.0], [0.0, 3.0, -2.0, 1.0]])
    gold = torch.tensor([[True, False, False, False], [False, True, True, False]])
    valid = torch.tensor([[True, True, True, False], [True, True, True, True]])
    rows = multilabel_categorical_crossentropy(scores, gold, valid)
    # row 0: negatives -1, 0.5 (9.0 is not valid); positive 2
    row0 = math.log(1 + math.exp(-1) + math.exp(0.5)) + math.log(1 + math.exp(-2))
    # row 1: negatives 0, 1; positives 3, -2
    row1 = math.log(1 + math.exp(0) + math.exp(1)) + math.log(1 + math.exp(-3) + math.exp(2))
    assert torch.allclose(rows, torch.tensor([row0, row1]), atol=1e-6)


def test_no_positives_and_no_valid_cells():
    scores = torch.tensor([[1.0, -1.0], [5.0, 5.0]])
    gold = torch.zeros(2, 2, dtype=torch.bool)
    valid = torch.tensor([[True, True], [False, False]])
    rows = multilabel_categorical_crossentropy(scores, gold, valid)
    assert torch.allclose(rows, torch.tensor([math.log(1 + math.e + 1 / math.e), 0.0]))


@pytest.mark.parametrize("weighted", [False, True])
def test_gradient_matches_finite_differences(weighted):
    torch.manual_seed(0)
    scores = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    gold = torch.rand(2, 3, 4, 4) > 0.8
    valid = (torch.rand(2, 1, 4, 4) > 0.2).expand(2, 3, 4, 4)
    log_w = torch.randn(4, dtype=torch.float64) if weighted else None
    loss, grad = loss_and_gradient(scores, gold, valid, log_w)
    eps = 1e-6
    numeric = torch.zeros_like(scores)
    for idx in torch.cartesian_prod(*(torch.arange(n) for n in scores.shape)):
        idx = tuple(idx.tolist())
        plus, minus = scores.clone(), scores.clone()
        plus[idx] += eps
        minus[idx] -= eps
        numeric[idx] = (
            loss_and_gradient(plus, gold, valid, log_w)[0] - loss_and_gradient(minus, gold, valid, log_w)[0]
        ) / (2 * eps)
    assert torch.allclose(grad, numeric, atol=1e-4)
    assert (grad[~valid] == 0).all()
    if weighted:
        return
    # loss is the mean over (doc, label) rows
    rows = multilabel_categorical_crossentropy(
        scores.reshape(6, -1), gold.reshape(6, -1), valid.reshape(6, -1)
    )
    assert math.isclose(loss, float(rows.mean()), rel_tol=1e-6)


def test_half_precision_scores_give_finite_loss_and_gradient():
    for dtype in (torch.float16, torch.bfloat16):
        scores = torch.full((1, 2, 3, 3), torch.finfo(dtype).min, dtype=dtype)
        scores[..., 0, 0] = 60000 if dtype == torch.float16 else 1e30
        gold = torch.zeros(1, 2, 3, 3, dtype=torch.bool)
        gold[0, 0, 1, 1] = True
        valid = torch.ones(1, 1, 3, 3, dtype=torch.bool)
        loss, grad = loss_and_gradient(scores, gold, valid)
        assert math.isfinite(loss) and grad.dtype == dtype and torch.isfinite(grad).all()


def test_length_weight_by_hand():
    """One doc of 3 tokens, one label, band width 3: gold spans 0..2 (3 tokens)
    and 1..1 (1 token). With length_weight a, the positives' term is
    log(1 + 3**a e^-s(0..2) + 1**a e^-s(1..1)); the negatives' term is unchanged."""
    scores = torch.tensor([[[[0.3, -0.2, 1.5], [0.7, 2.0, -9.0], [-1.0, -9.0, -9.0]]]], dtype=torch.float64)
    cells = [(0, 0, 0, 2), (0, 0, 1, 0)]
    neg = math.log(1 + math.exp(0.3) + math.exp(-0.2) + math.exp(2.0) + math.exp(-1.0))
    for a in (0.0, 0.5, 1.0):
        pos = math.log(1 + 3**a * math.exp(-1.5) + math.exp(-0.7))
        loss, grad = band_loss(scores, cells, [3], length_weight=a)
        assert loss == pytest.approx(neg + pos, abs=1e-12)
        # the long span's share of the positives' gradient grows with a
        share = 3**a * math.exp(-1.5) / (1 + 3**a * math.exp(-1.5) + math.exp(-0.7))
        assert float(grad[0, 0, 0, 2]) == pytest.approx(-share, abs=1e-12)
