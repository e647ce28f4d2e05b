"""Multilabel categorical cross-entropy: a hand-computed value and finite differences."""

import math

import torch

from spacy_globalpointer.loss import loss_and_gradient

from .reference_loss import multilabel_categorical_crossentropy


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


def test_gradient_matches_finite_differences():
    torch.manual_seed(0)
    scores = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    gold = torch.rand(2, 3, 4, 4) > 0.8
    valid = (torch.rand(2, 1, 4, 4) > 0.2).expand(2, 3, 4, 4)
    loss, grad = loss_and_gradient(scores, gold, valid)
    eps = 1e-6
    numeric = torch.zeros_like(scores)
    for idx in torch.cartesian_prod(*(torch.arange(n) for n in scores.shape)):
        idx = tuple(idx.tolist())
        plus, minus = scores.clone(), scores.clone()
        plus[idx] += eps
        minus[idx] -= eps
        numeric[idx] = (
            loss_and_gradient(plus, gold, valid)[0] - loss_and_gradient(minus, gold, valid)[0]
        ) / (2 * eps)
    assert torch.allclose(grad, numeric, atol=1e-4)
    assert (grad[~valid] == 0).all()
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
