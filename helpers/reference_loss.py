"""The loss as its paper writes it, with autograd: the independent computation
the analytic gradient of spacy_globalpointer.ml.pytorch.loss is checked against (and the
speed benchmark's baseline)."""

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
