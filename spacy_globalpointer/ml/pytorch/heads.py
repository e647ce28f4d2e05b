"""Torch modules that score every (start, end) token pair per label, in band
layout (band.py): GlobalPointer, Efficient GlobalPointer and their shared
body. Pure torch, no spaCy."""

from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor, nn

from spacy_globalpointer.ml.pytorch.band import band_of, band_scores, mean_band, valid_cells
from spacy_globalpointer.ml.pytorch.rope import rotary

HEADS = ("GlobalPointer", "EfficientGlobalPointer")


def check_head_args(head: str, head_size: int, rope: bool) -> None:
    """Raise a ValueError that says what to change for a bad head setting."""
    if head not in HEADS:
        raise ValueError(
            f"[spacy_globalpointer.GlobalPointer] unknown head {head!r}. Set the model's `head` to "
            f"one of {', '.join(repr(h) for h in HEADS)}."
        )
    if not isinstance(head_size, int) or head_size < 1:
        raise ValueError(
            f"[spacy_globalpointer.GlobalPointer] head_size must be a positive integer, got {head_size!r}."
        )
    if rope and head_size % 2:
        raise ValueError(
            "[spacy_globalpointer.GlobalPointer] RoPE rotates pairs of dimensions, so head_size must "
            "be even "
            f"when rope = true (got {head_size}). Use an even head_size, "
            f"or set rope = false."
        )


class SpanHead(nn.Module):
    """Shared body of both heads: RoPE, scaling, band layout, masking, and
    the optional span content term.

    Subclasses only say how token vectors become per-label queries and keys
    (and optional per-start / per-end biases), in :meth:`project`.

    span_content adds, per label, a linear score of the mean of the span's
    token vectors: the two ends alone say little about a long span's
    inside. Its weights start at zero, so an untrained head with it scores
    as one without.
    """

    name = ""
    # Whether project returns start and end biases (else None: zeros).
    biased = False

    def __init__(
        self,
        input_width: int,
        n_labels: int,
        head_size: int = 64,
        rope: bool = True,
        span_content: bool = False,
    ):
        super().__init__()
        self.input_width = input_width
        self.n_labels = n_labels
        self.head_size = head_size
        self.rope = rope
        self.span_content = span_content
        if span_content:
            # mean(x) . w == mean(x . w): each token's score is summed along
            # the band, never the span's pooled vector.
            self.content = nn.Linear(input_width, n_labels)
            nn.init.zeros_(self.content.weight)
            nn.init.zeros_(self.content.bias)

    @property
    def config(self) -> Dict[str, Any]:
        """Constructor arguments: enough to rebuild the module before loading weights."""
        config = {
            "head": self.name,
            "input_width": self.input_width,
            "n_labels": self.n_labels,
            "head_size": self.head_size,
            "rope": self.rope,
        }
        # Heads saved before the content term existed have no such key.
        if self.span_content:
            config["span_content"] = True
        return config

    def project(
        self, X: Tensor, offset: int = 0
    ) -> Tuple[Tensor, Tensor, Optional[Tensor], Optional[Tensor]]:
        """(B, L, H) vectors of tokens ``offset..offset + L - 1`` -> q, k
        (B, C or 1, L, d) with ``q . k`` the span score (see :meth:`rotate`);
        start and end biases (B, C, L) or None."""
        raise NotImplementedError

    def rotate(self, x: Tensor, dim: int, offset: int = 0) -> Tensor:
        """RoPE (if on) over positions ``offset, ...`` along ``dim``, and
        d**-1/4 on both q and k, which puts the 1/sqrt(d) of the dot product in
        this one pass (and keeps float16 products small). Returns a contiguous
        tensor, so the matrix products read it without another copy."""
        scale = self.head_size**-0.25
        return rotary(x, dim, scale, offset) if self.rope else x.contiguous() * scale

    def forward(
        self,
        X: Tensor,
        lengths: Tensor,
        width: Optional[int] = None,
        offset: int = 0,
        n_starts: Optional[int] = None,
    ) -> Tensor:
        """Scores in band layout, (B, C, n_starts, width).

        X: (B, R, H) vectors of tokens ``offset..offset + R - 1``; lengths: (B,)
        whole-doc lengths. Scores the spans starting at ``offset..offset +
        n_starts - 1`` (default: every row of X), each ending at most
        ``width - 1`` tokens later (default: every span), so X must hold ``n_starts + width - 1``
        rows or reach the end of the longest doc. Training scores the whole
        batch at once (offset 0); prediction can score a long doc in chunks of
        starts, and the chunks together are the whole-batch scores. Cells
        outside a doc hold the dtype's most negative finite value.
        """
        t = X.shape[1] if n_starts is None else n_starts
        width = X.shape[1] if width is None else width
        q, k, start_bias, end_bias = self.project(X, offset)
        scores = band_scores(q[..., :t, :], k, width)
        if start_bias is not None and end_bias is not None:
            scores = scores + start_bias[..., :t, None] + band_of(end_bias, width)[..., :t, :]
        if self.span_content:
            content = mean_band(self.content(X).transpose(1, 2), width, t)
            scores = scores + content.to(scores.dtype)
        # A finite fill: -1e12 (the reference scripts' constant) is -inf in
        # float16, and inf - inf in a later op is NaN.
        # torch.where reads the band view once into a contiguous result.
        valid = valid_cells(lengths, t, width, offset)[:, None]
        return torch.where(valid, scores, torch.finfo(scores.dtype).min)


class GlobalPointer(SpanHead):
    """Su (2021): a separate query and key projection for every label."""

    name = "GlobalPointer"

    def __init__(self, *args, **kwargs):
        # SpanHead's arguments. Its layers (the content term) are built first, so
        # the draws of this head's own weights follow the same order in every version.
        super().__init__(*args, **kwargs)
        self.dense = nn.Linear(self.input_width, self.n_labels * self.head_size * 2)

    def project(self, X: Tensor, offset: int = 0):
        B, L, _ = X.shape
        # (B, C, 2, L, d) after the one copy in rotate: every label's q and k
        # a contiguous (L, d) block, as the batched product wants it.
        qk = self.dense(X).view(B, L, self.n_labels, 2, self.head_size).permute(0, 2, 3, 1, 4)
        qk = self.rotate(qk, dim=3, offset=offset)
        return qk[:, :, 0], qk[:, :, 1], None, None


class EfficientGlobalPointer(SpanHead):
    """Su (2022): one query/key projection shared by all labels, plus a
    per-label bias for the start token and for the end token."""

    name = "EfficientGlobalPointer"
    biased = True

    def __init__(self, *args, **kwargs):
        # SpanHead's arguments. Its layers (the content term) are built first, so
        # the draws of this head's own weights follow the same order in every version.
        super().__init__(*args, **kwargs)
        self.dense = nn.Linear(self.input_width, self.head_size * 2)
        self.bias = nn.Linear(self.head_size * 2, self.n_labels * 2)

    def project(self, X: Tensor, offset: int = 0):
        h = self.dense(X)
        q = self.rotate(h[..., 0::2].unsqueeze(1), dim=2, offset=offset)
        k = self.rotate(h[..., 1::2].unsqueeze(1), dim=2, offset=offset)
        # Halved as in the reference implementation, so start + end biases
        # start on the scale of one dot-product term.
        bias = self.bias(h).transpose(1, 2) / 2
        return q, k, bias[:, 0::2], bias[:, 1::2]


HEAD_CLASSES = {cls.name: cls for cls in (GlobalPointer, EfficientGlobalPointer)}


def build_head(
    head: str,
    input_width: int,
    n_labels: int,
    head_size: int = 64,
    rope: bool = True,
    span_content: bool = False,
) -> SpanHead:
    """Build a head by name; ``config`` of the result rebuilds it."""
    check_head_args(head, head_size, rope)
    return HEAD_CLASSES[head](
        input_width=input_width, n_labels=n_labels, head_size=head_size, rope=rope, span_content=span_content
    )
