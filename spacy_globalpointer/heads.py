"""Torch modules that score every (start, end) token pair per label.

Pure torch, no spaCy. Scores come out in *band* layout: ``scores[b, c, i, w]``
is the score of label ``c`` for the span that starts at token ``i`` and ends
(inclusively) at token ``i + w``, for ``0 <= w < W``. With ``W`` equal to the
doc length this holds every span of the doc (the classic ``L x L`` upper
triangle, stored without the always-masked lower half); with ``W`` set to a
maximum span length the memory is ``O(L * W)`` instead of ``O(L**2)``.
"""

import functools
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


def _rotary_angles(offset: int, L: int, d: int, device: torch.device) -> Tensor:
    # float64: a float32 angle at position 10**6 is off by up to 0.03 rad, and
    # a long doc's chunks must rotate each position exactly as one whole pass does.
    pos = torch.arange(offset, offset + L, device=device, dtype=torch.float64)
    freq = 10000.0 ** (-torch.arange(0, d, 2, device=device, dtype=torch.float64) / d)
    return pos[:, None] * freq[None, :]


def _rotary_tables(
    offset: int, L: int, d: int, device: torch.device, dtype: torch.dtype
) -> Tuple[Tensor, Tensor]:
    angle = _rotary_angles(offset, L, d, device)
    cos, sin = angle.cos().repeat_interleave(2, dim=-1), angle.sin().repeat_interleave(2, dim=-1)
    return cos.to(dtype), sin.to(dtype)


def _rotary_phases(offset: int, L: int, d: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    return torch.polar(
        torch.ones((), device=device, dtype=torch.float64), _rotary_angles(offset, L, d, device)
    ).to(dtype)


# Batches start at position 0 and reuse a few lengths: those tables are
# cached. A long doc's chunks each start elsewhere, once: theirs are not.
_cached_tables = functools.lru_cache(maxsize=64)(_rotary_tables)
_cached_phases = functools.lru_cache(maxsize=64)(_rotary_phases)


def rotary(x: Tensor, dim: int = -2, scale: float = 1.0, offset: int = 0) -> Tensor:
    """Rotary position embedding: positions ``offset, offset + 1, ...`` along
    ``dim`` of ``x``, features in its last dim (even); the result is contiguous
    and multiplied by ``scale``.

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
        ctype = torch.complex64 if x.dtype == torch.float32 else torch.complex128
        phase = (_cached_phases if offset == 0 else _rotary_phases)(offset, L, d, x.device, ctype)
        xc = torch.view_as_complex(x.reshape(*x.shape[:-1], d // 2, 2).contiguous())
        return torch.view_as_real(xc * (phase * scale).view(*bshape, d // 2)).flatten(-2)
    cos, sin = (_cached_tables if offset == 0 else _rotary_tables)(offset, L, d, x.device, x.dtype)
    x = x.contiguous()
    rotated = torch.stack([-x[..., 1::2], x[..., 0::2]], dim=-1).reshape(x.shape)
    return x * (cos * scale).view(*bshape, d) + rotated * (sin * scale).view(*bshape, d)


def band_width(length: int, max_span_length: Optional[int]) -> int:
    """W, the band's width for docs of up to ``length`` tokens: every span
    (``length``) or at most ``max_span_length`` tokens (0 or None: no limit)."""
    return min(length, max_span_length) if max_span_length else length


def band_scores(q: Tensor, k: Tensor, width: int) -> Tensor:
    """``out[..., i, w] = q[..., i, :] . k[..., i + w, :]`` for ``w < width``.

    q: (..., Lq, d), k: (..., Lk, d) with Lk >= Lq (keys may run past the
    last query: the right context of a chunk of starts), broadcastable in the
    leading dims. Cells with ``i + w >= Lk`` are zero (the caller masks them).
    """
    Lq, Lk = q.shape[-2], k.shape[-2]
    lead = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2])
    if Lq == 0 or width == 0:
        return q.new_zeros((*lead, Lq, width))
    chunks = []
    for s in range(0, Lq, CHUNK):
        t = min(CHUNK, Lq - s)
        R = t + width - 1
        # Only real keys enter the product; the columns past the doc are zero padding.
        full = q[..., s : s + t, :] @ k[..., s : min(s + R, Lk), :].transpose(-1, -2)
        # Rows padded to R + 1 cells: row r of the band, full[r, r : r + width],
        # then starts at offset r * (R + 2) and stays inside row r, so the band
        # is a strided view (the "skew" trick; no index tensors, no copy).
        full = F.pad(full, (0, R + 1 - full.shape[-1]))
        chunks.append(full.as_strided((*full.shape[:-2], t, width), (*full.stride()[:-2], R + 2, 1)))
    return torch.cat(chunks, dim=-2) if len(chunks) > 1 else chunks[0]


def band_of(v: Tensor, width: int) -> Tensor:
    """``out[..., i, w] = v[..., i + w]`` (zero past the end): a per-end term in band layout."""
    return F.pad(v, (0, width - 1)).unfold(-1, width, 1)


def mean_band(u: Tensor, width: int, n_starts: int) -> Tensor:
    """``out[..., i, w] = mean(u[..., i : i + w + 1])`` for ``i < n_starts``,
    ``w < width``, in float32 or wider (zero past the end of ``u``).

    The running sum along the band's rows costs what the band costs, O(L x W):
    no span's vectors are ever gathered. Each row starts its own sum, so a
    chunk of starts gives the same values as the whole doc."""
    u = u.to(torch.promote_types(u.dtype, torch.float32))
    sums = band_of(u, width)[..., :n_starts, :].cumsum(-1)
    return sums / torch.arange(1, width + 1, device=u.device, dtype=u.dtype)


def valid_cells(lengths: Tensor, L: int, width: int, offset: int = 0) -> Tensor:
    """(B, L, W) bool: the span of ``w + 1`` tokens starting at token
    ``offset + i`` lies inside its doc."""
    ends = torch.arange(offset, offset + L, device=lengths.device)[:, None] + torch.arange(
        width, device=lengths.device
    )
    return ends[None] < lengths[:, None, None]


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
    return HEAD_CLASSES[head](input_width, n_labels, head_size, rope, span_content)
