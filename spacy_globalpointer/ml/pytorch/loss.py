"""Multilabel categorical cross-entropy (Su, "softmax + cross-entropy for multi-label")."""

from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from spacy_globalpointer.ml.pytorch.band import valid_cells
from spacy_globalpointer.ml.pytorch.pairs import pair_band_valid


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


def loss_and_gradient(
    scores: Tensor, gold: Tensor, valid: Tensor, log_weights: Optional[Tensor] = None
) -> Tuple[float, Tensor]:
    """Mean row loss of (B, C, ...) scores, one row per (doc, label), and its
    gradient with respect to ``scores`` (same shape and dtype). ``gold`` and
    ``valid`` broadcast to the scores' shape; so does ``log_weights``, if
    given: the log of each positive cell's weight in ``1 + sum_pos w e^-s``.

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
    pos = -s if log_weights is None else -s + log_weights.expand_as(scores).reshape(B * C, -1)
    pos_loss, pos_grad = _log1p_sum_exp(pos, valid & gold)
    loss = float((neg_loss + pos_loss).mean())
    grad = (neg_grad - pos_grad) / s.shape[0]
    return loss, grad.reshape(scores.shape).to(scores.dtype)


def band_loss(
    scores: Tensor,
    cells: Sequence[Tuple[int, int, int, int]],
    lengths: List[int],
    length_weight: float = 0.0,
) -> Tuple[float, Tensor]:
    """loss_and_gradient of (B, C, L, W) band scores whose gold spans are
    ``cells`` (doc, label, start, width - 1); cells outside a doc of
    ``lengths`` take no part. A gold span of n tokens weighs n**length_weight
    among its row's positives: above 0, missing a long span costs more than
    missing a short one."""
    B, C, L, W = scores.shape
    gold = torch.zeros(scores.shape, dtype=torch.bool, device=scores.device)
    if cells:
        gold[tuple(torch.tensor(cells, device=scores.device).T)] = True
    valid = valid_cells(torch.tensor(lengths, device=scores.device), L, W)[:, None]
    log_weights = None
    if length_weight:
        dtype = torch.promote_types(scores.dtype, torch.float32)
        n_tokens = torch.arange(1, W + 1, device=scores.device, dtype=dtype)
        log_weights = length_weight * torch.log(n_tokens)
    return loss_and_gradient(scores, gold, valid, log_weights)


def pair_band_loss(
    scores: Tensor, cells: Sequence[Tuple[int, int, int, int, int]], lengths: List[int]
) -> Tuple[float, Tensor]:
    """loss_and_gradient of (B, C, 2, L, 2D + 1) pair-band scores (pairs.py)
    whose gold relations are ``cells`` (doc, label, pointer, token, offset +
    D), one row per (doc, label, pointer); cells outside a doc of ``lengths``
    take no part."""
    B, C, _, L, W = scores.shape
    gold = torch.zeros(scores.shape, dtype=torch.bool, device=scores.device)
    if cells:
        gold[tuple(torch.tensor(cells, device=scores.device).T)] = True
    valid = pair_band_valid(torch.tensor(lengths, device=scores.device), L, (W - 1) // 2)[:, None, None]
    return loss_and_gradient(scores, gold, valid)


def pair_loss(scores: Tensor, doc: Tensor, gold: Tensor, n_docs: int) -> Tuple[float, Tensor]:
    """The mean row loss of (P, C, K) scores of candidate pairs and its gradient, as loss_and_gradient
    gives them, one row per (doc, label) over the doc's pairs (and the K scores of each): ``doc`` (P,)
    each pair's doc in 0..n_docs - 1, in any order; ``gold`` (P, C) whether the pair holds the relation.
    A doc with no pair is a row of no cells (no loss).

    Each row is reduced where its pairs lie (scatter and index_add over the pairs), so a batch costs
    its pairs, whatever the spread of pairs per doc (random negative spans, long sentences)."""
    P, C, K = scores.shape
    if P == 0 or n_docs == 0:
        return 0.0, torch.zeros_like(scores)
    s = scores.detach().to(torch.promote_types(scores.dtype, torch.float32))
    gold = gold[:, :, None].expand(-1, -1, K)
    neg_loss, neg_grad = _segment_log1p_sum_exp(s, ~gold, doc, n_docs)
    pos_loss, pos_grad = _segment_log1p_sum_exp(-s, gold, doc, n_docs)
    rows = n_docs * C
    loss = float((neg_loss + pos_loss).sum()) / rows
    return loss, ((neg_grad - pos_grad) / rows).to(scores.dtype)


def _segment_log1p_sum_exp(x: Tensor, mask: Tensor, doc: Tensor, n_docs: int) -> Tuple[Tensor, Tensor]:
    """_log1p_sum_exp of (P, C, K) ``x`` with a row per (doc, label): the (n_docs, C) row values, and
    the (P, C, K) gradient. A row's max starts at 0, the extra 1's zero logit."""
    P, C, _ = x.shape
    x = torch.where(mask, x, torch.finfo(x.dtype).min)
    top = x.new_zeros((n_docs, C)).scatter_reduce_(
        0, doc[:, None].expand(P, C), x.amax(-1), reduce="amax", include_self=True
    )
    e = torch.exp(x - top[doc][:, :, None])
    total = x.new_zeros((n_docs, C)).index_add_(0, doc, e.sum(-1)) + torch.exp(-top)
    return top + torch.log(total), e.div_(total[doc][:, :, None])
