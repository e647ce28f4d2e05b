"""Multilabel categorical cross-entropy (Su, "softmax + cross-entropy for multi-label")."""

from typing import List, Sequence, Tuple

import torch
from torch import Tensor

from .heads import valid_cells


def _log1p_sum_exp(x: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor]:
    """Per row, ``log(1 + sum(e^x over mask))``, and ``e^(x - that)`` (the
    gradient, zero off the mask). The extra 1 is a zero logit: the max is
    clamped at 0 for stability."""
    x = torch.where(mask, x, torch.finfo(x.dtype).min)
    top = x.amax(-1, keepdim=True).clamp(min=0)
    e = torch.exp(x - top)
    total = e.sum(-1, keepdim=True) + torch.exp(-top)
    # e^(x - lse) = e / total: one exp over the cells, not two.
    return (top + torch.log(total)).squeeze(-1), e.div_(total)


def loss_and_gradient(scores: Tensor, gold: Tensor, valid: Tensor) -> Tuple[float, Tensor]:
    """Mean row loss of (B, C, ...) scores, one row per (doc, label), and its
    gradient with respect to ``scores`` (same shape and dtype). ``gold`` and
    ``valid`` broadcast to the scores' shape.

    The gradient is written out rather than left to autograd (one pass per
    term instead of a recorded graph): for a negative cell it is the cell's
    share of ``1 + sum_neg e^s``, for a positive one minus its share of
    ``1 + sum_pos e^-s``; tests check it against finite differences."""
    B, C = scores.shape[:2]
    s = scores.detach().to(torch.promote_types(scores.dtype, torch.float32)).reshape(B * C, -1)
    gold, valid = gold.expand_as(scores).reshape(B * C, -1), valid.expand_as(scores).reshape(B * C, -1)
    if s.shape[0] == 0:
        return 0.0, torch.zeros_like(scores)
    neg_loss, neg_grad = _log1p_sum_exp(s, valid & ~gold)
    pos_loss, pos_grad = _log1p_sum_exp(-s, valid & gold)
    loss = float((neg_loss + pos_loss).mean())
    grad = (neg_grad - pos_grad) / s.shape[0]
    return loss, grad.reshape(scores.shape).to(scores.dtype)


def band_loss(
    scores: Tensor, cells: Sequence[Tuple[int, int, int, int]], lengths: List[int]
) -> Tuple[float, Tensor]:
    """loss_and_gradient of (B, C, L, W) band scores whose gold spans are
    ``cells`` (doc, label, start, width - 1); cells outside a doc of
    ``lengths`` take no part."""
    B, C, L, W = scores.shape
    gold = torch.zeros(scores.shape, dtype=torch.bool, device=scores.device)
    if cells:
        gold[tuple(torch.tensor(cells, device=scores.device).T)] = True
    valid = valid_cells(torch.tensor(lengths, device=scores.device), L, W)[:, None]
    return loss_and_gradient(scores, gold, valid)
