"""Rotary position embedding (RoPE): queries and keys rotated by their
position, so that their dot product depends on the distance between them.
Pure torch; a chunk of positions from ``offset`` rotates exactly as the same
positions in one whole pass."""

import functools
from typing import Tuple

import torch
from torch import Tensor


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
