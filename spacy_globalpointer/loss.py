"""Multilabel categorical cross-entropy (Su, "softmax + cross-entropy for multi-label")."""
from typing import Tuple

import torch
from torch import Tensor


def multilabel_categorical_crossentropy(scores: Tensor, gold: Tensor, valid: Tensor) -> Tensor:
    """Loss per row: ``log(1 + sum_neg e^s) + log(1 + sum_pos e^-s)``.

    scores: (N, M) logits; gold, valid: (N, M) bool. Cells that are not
    ``valid`` take no part. Unlike a per-cell sigmoid, the loss pushes every
    positive above 0 and every negative below 0 *relative to each other*, so
    the heavy imbalance (a handful of entities among L**2 cells) needs no
    re-weighting. Computed in at least float32 whatever the input dtype.
    """
    s = scores.to(torch.promote_types(scores.dtype, torch.float32))
    # Negatives enter as e^s, positives as e^-s; the extra 0 logit is the "1 +".
    signed = torch.where(gold, -s, s)
    # Boolean masks with a finite fill: no 1e12 constants that overflow.
    fill = torch.finfo(signed.dtype).min
    zero = signed.new_zeros(signed.shape[:-1] + (1,))
    neg = torch.where(valid & ~gold, signed, fill)
    pos = torch.where(valid & gold, signed, fill)
    return torch.logsumexp(torch.cat([zero, neg], -1), -1) + torch.logsumexp(torch.cat([zero, pos], -1), -1)


def loss_and_gradient(scores: Tensor, gold: Tensor, valid: Tensor) -> Tuple[float, Tensor]:
    """Mean row loss of (B, C, ...) scores, one row per (doc, label), and its
    gradient with respect to ``scores`` (same shape and dtype). ``gold`` and
    ``valid`` broadcast to the scores' shape."""
    B, C = scores.shape[:2]
    gold, valid = gold.expand_as(scores), valid.expand_as(scores)
    s = scores.detach().to(torch.promote_types(scores.dtype, torch.float32)).requires_grad_(True)
    rows = multilabel_categorical_crossentropy(s.reshape(B * C, -1), gold.reshape(B * C, -1), valid.reshape(B * C, -1))
    loss = rows.mean() if rows.numel() else s.sum() * 0
    loss.backward()
    return float(loss.detach()), s.grad.to(scores.dtype)
