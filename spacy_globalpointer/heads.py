"""Torch modules that score every (start, end) token pair per label.

Pure torch, no spaCy. Scores come out in *band* layout: ``scores[b, c, i, w]``
is the score of label ``c`` for the span that starts at token ``i`` and ends
(inclusively) at token ``i + w``, for ``0 <= w < W``. With ``W`` equal to the
doc length this holds every span of the doc (the classic ``L x L`` upper
triangle, stored without the always-masked lower half); with ``W`` set to a
maximum span length the memory is ``O(L * W)`` instead of ``O(L**2)``.
"""
import functools
import math
from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

HEADS = ("GlobalPointer", "EfficientGlobalPointer")
# Starts scored per matrix product: bounds the temporary (T x (T + W)) block
# whatever the doc length.
CHUNK = 256


def check_head_args(head: str, head_size: int, rope: bool) -> None:
    """Raise a ValueError that says what to change for a bad head setting."""
    if head not in HEADS:
        raise ValueError(
            f"Unknown GlobalPointer head {head!r}. Set the model's `head` to "
            f"one of {', '.join(repr(h) for h in HEADS)}."
        )
    if not isinstance(head_size, int) or head_size < 1:
        raise ValueError(f"head_size must be a positive integer, got {head_size!r}.")
    if rope and head_size % 2:
        raise ValueError(
            f"RoPE rotates pairs of dimensions, so head_size must be even "
            f"when rope = true (got {head_size}). Use an even head_size, "
            f"or set rope = false."
        )


@functools.lru_cache(maxsize=64)
def _rotary_angles(L: int, d: int, device: torch.device) -> Tensor:
    pos = torch.arange(L, device=device, dtype=torch.float32)
    freq = 10000.0 ** (-torch.arange(0, d, 2, device=device, dtype=torch.float32) / d)
    # float32 angles even for half-precision inputs: positions beyond 2048
    # are not representable in float16.
    return pos[:, None] * freq[None, :]


@functools.lru_cache(maxsize=64)
def _rotary_tables(L: int, d: int, device: torch.device, dtype: torch.dtype) -> Tuple[Tensor, Tensor]:
    angle = _rotary_angles(L, d, device)
    return angle.cos().repeat_interleave(2, dim=-1).to(dtype), angle.sin().repeat_interleave(2, dim=-1).to(dtype)


@functools.lru_cache(maxsize=64)
def _rotary_phases(L: int, d: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    return torch.polar(torch.ones((), device=device), _rotary_angles(L, d, device)).to(dtype)


def rotary(x: Tensor, dim: int = -2) -> Tensor:
    """Rotary position embedding: positions along ``dim`` of ``x``, features in its last dim (even).

    Each adjacent pair (x[2m], x[2m+1]) at position p is rotated by the angle
    p * 10000**(-2m/d). A dot product of a vector rotated at i with one
    rotated at j then depends on j - i only: the head sees relative, not
    absolute, positions, which is what makes band and full scoring agree.
    """
    dim = dim % x.ndim
    L, d = x.shape[dim], x.shape[-1]
    bshape = [1] * (x.ndim - 1)
    bshape[dim] = L
    if x.dtype in (torch.float32, torch.float64):
        # The pair (a, b) as the complex a + ib: the rotation is one complex product.
        phase = _rotary_phases(L, d, x.device, torch.complex64 if x.dtype == torch.float32 else torch.complex128)
        xc = torch.view_as_complex(x.reshape(*x.shape[:-1], d // 2, 2).contiguous())
        return torch.view_as_real(xc * phase.view(*bshape, d // 2)).flatten(-2)
    cos, sin = _rotary_tables(L, d, x.device, x.dtype)
    rotated = torch.stack([-x[..., 1::2], x[..., 0::2]], dim=-1).reshape(x.shape)
    return x * cos.view(*bshape, d) + rotated * sin.view(*bshape, d)


def band_scores(q: Tensor, k: Tensor, width: int) -> Tensor:
    """``out[..., i, w] = q[..., i, :] . k[..., i + w, :]`` for ``w < width``.

    q, k: (..., L, d), broadcastable in the leading dims. Cells with
    ``i + w >= L`` are zero (the caller masks them).
    """
    L = q.shape[-2]
    lead = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2])
    if L == 0 or width == 0:
        return q.new_zeros((*lead, L, width))
    chunks = []
    for s in range(0, L, CHUNK):
        t = min(CHUNK, L - s)
        R = t + width - 1
        # Only real keys enter the product; the columns past the doc are zero padding.
        full = q[..., s : s + t, :] @ k[..., s : s + R, :].transpose(-1, -2)
        full = F.pad(full, (0, R - full.shape[-1]))
        # Row r of the band is full[r, r : r + width]. Flattened with rows of
        # R + 1 (one pad cell per row), that diagonal becomes a column block:
        # the usual "skew" trick, pure reshapes, no index tensors.
        flat = F.pad(full.reshape(*full.shape[:-2], t * R), (0, t))
        chunks.append(flat.reshape(*full.shape[:-2], t, R + 1)[..., :width])
    return torch.cat(chunks, dim=-2) if len(chunks) > 1 else chunks[0]


def band_of(v: Tensor, width: int) -> Tensor:
    """``out[..., i, w] = v[..., i + w]`` (zero past the end): a per-end term in band layout."""
    return F.pad(v, (0, width - 1)).unfold(-1, width, 1)


def valid_cells(lengths: Tensor, L: int, width: int) -> Tensor:
    """(B, L, W) bool: the span (i, i + w) lies inside the doc."""
    ends = torch.arange(L, device=lengths.device)[:, None] + torch.arange(width, device=lengths.device)
    return ends[None] < lengths[:, None, None]


class SpanHead(nn.Module):
    """Shared body of both heads: RoPE, scaling, band layout, masking.

    Subclasses only say how token vectors become per-label queries and keys
    (and optional per-start / per-end biases), in :meth:`project`.
    """

    name = ""

    def __init__(self, width: int, n_labels: int, head_size: int = 64, rope: bool = True):
        super().__init__()
        check_head_args(self.name, head_size, rope)
        self.width = width
        self.n_labels = n_labels
        self.head_size = head_size
        self.rope = rope

    @property
    def config(self) -> Dict[str, Any]:
        """Constructor arguments: enough to rebuild the module before loading weights."""
        return {
            "head": self.name,
            "width": self.width,
            "n_labels": self.n_labels,
            "head_size": self.head_size,
            "rope": self.rope,
        }

    def project(self, X: Tensor) -> Tuple[Tensor, Tensor, Optional[Tensor], Optional[Tensor]]:
        """(B, L, H) -> q, k (B, C or 1, L, d), RoPE applied if on; start and
        end biases (B, C, L) or None."""
        raise NotImplementedError

    def forward(self, X: Tensor, lengths: Tensor, max_span_length: int = 0) -> Tensor:
        """X: (B, L, H) token vectors, lengths: (B,) ints. Returns (B, C, L, W)
        scores with W = min(L, max_span_length) (W = L when it is 0); cells
        outside a doc hold the dtype's most negative finite value."""
        L = X.shape[1]
        W = min(L, max_span_length) if max_span_length else L
        q, k, start_bias, end_bias = self.project(X)
        scores = band_scores(q, k, W) / math.sqrt(self.head_size)
        if start_bias is not None and end_bias is not None:
            scores = scores + start_bias[..., None] + band_of(end_bias, W)
        # A finite fill: -1e12 (the reference scripts' constant) is -inf in
        # float16, and inf - inf in a later op is NaN.
        fill = torch.finfo(scores.dtype).min
        return scores.masked_fill(~valid_cells(lengths, L, W)[:, None], fill)


class GlobalPointer(SpanHead):
    """Su (2021): a separate query and key projection for every label."""

    name = "GlobalPointer"

    def __init__(self, width: int, n_labels: int, head_size: int = 64, rope: bool = True):
        super().__init__(width, n_labels, head_size, rope)
        self.dense = nn.Linear(width, n_labels * head_size * 2)

    def project(self, X: Tensor):
        B, L, _ = X.shape
        qk = self.dense(X).view(B, L, self.n_labels, 2, self.head_size)
        if self.rope:
            qk = rotary(qk, dim=1)  # one pass over the contiguous projection
        qk = qk.transpose(1, 2)
        return qk[..., 0, :], qk[..., 1, :], None, None


class EfficientGlobalPointer(SpanHead):
    """Su (2022): one query/key projection shared by all labels, plus a
    per-label bias for the start token and for the end token."""

    name = "EfficientGlobalPointer"

    def __init__(self, width: int, n_labels: int, head_size: int = 64, rope: bool = True):
        super().__init__(width, n_labels, head_size, rope)
        self.dense = nn.Linear(width, head_size * 2)
        self.bias = nn.Linear(head_size * 2, n_labels * 2)

    def project(self, X: Tensor):
        h = self.dense(X)
        q, k = h[..., 0::2].unsqueeze(1), h[..., 1::2].unsqueeze(1)
        if self.rope:
            q, k = rotary(q), rotary(k)
        # Halved as in the reference implementation, so start + end biases
        # start on the scale of one dot-product term.
        bias = self.bias(h).transpose(1, 2) / 2
        return q, k, bias[:, 0::2], bias[:, 1::2]


def build_head(head: str, width: int, n_labels: int, head_size: int = 64, rope: bool = True) -> SpanHead:
    """Build a head by name; ``config`` of the result rebuilds it."""
    check_head_args(head, head_size, rope)
    cls = GlobalPointer if head == "GlobalPointer" else EfficientGlobalPointer
    return cls(width, n_labels, head_size, rope)
