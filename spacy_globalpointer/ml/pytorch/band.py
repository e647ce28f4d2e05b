"""Band layout: the scores of every span of up to ``W`` tokens, as torch math.

Pure torch, no spaCy. ``scores[b, c, i, w]`` is the score of label ``c`` for
the span that starts at token ``i`` and ends (inclusively) at token ``i + w``,
for ``0 <= w < W``. With ``W`` equal to the doc length this holds every span
of the doc (the classic ``L x L`` upper triangle, stored without the
always-masked lower half); with ``W`` a maximum span length the memory is
``O(L * W)`` instead of ``O(L**2)``. ``valid_cells`` is the one definition of
which cells lie inside a doc: the heads, the loss and the decoding read it.
"""

from typing import Optional

import torch
from torch import Tensor
from torch.nn import functional as F

# Starts scored per matrix product: bounds the temporary (T x (T + W)) block
# whatever the doc length.
STARTS_PER_MATMUL = 256


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
    for s in range(0, Lq, STARTS_PER_MATMUL):
        t = min(STARTS_PER_MATMUL, Lq - s)
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
