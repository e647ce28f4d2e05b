"""Context layers for the relation scorer (entity_pairs.py): what a token knows
of its sentence beyond the token-vector layer's window. Pure torch.

- ``BiLSTMContext``: a bidirectional LSTM (or GRU) over each doc's own tokens;
  it steps through the longest doc of a batch one token at a time.
- ``LocalAttention``: self-attention of each token over the tokens at most
  ``window`` away (blocks of ``window`` tokens attend to their own block and
  the two beside it, masked to the window), positions as RoPE, so that memory
  is O(tokens x window) however long the doc, and a batch is a few matrix
  products rather than a step per token.

- ``RowAttention`` ("rows"): the same attention, from the rows the relation
  scorer reads only (its entities' first and last tokens), over the tokens
  within ``window`` of each: O(rows x window), a small share of the tokens.

The first three map (B, L, H) vectors and the docs' lengths to (B, L, width);
RowAttention maps them and (doc, position) rows to (rows, width).

- ``ContextEncoder``: one of the first three as the last step of a
  token-vector layer, its output beside its input ([X, context(X)]): the
  sentence-wide context every component listening to that layer reads,
  rather than one only the relation scorer has.
"""

import math
from typing import Any, Dict

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from spacy_globalpointer.ml.pytorch.rope import rotary

CONTEXTS = ("lstm", "gru", "attention", "rows")
# Rows the "rows" context attends from per step: bounds its gathered keys and values (rows x window).
ROWS_PER_STEP = 512


class BiLSTMContext(nn.Module):
    """A bidirectional LSTM (or GRU: ``gru``) of ``width // 2`` per direction and ``depth`` layers.

    Each direction is its own unidirectional RNN over the padded batch, the backward one over each doc
    reversed within its length: the same function as a packed bidirectional RNN, but on the fused CPU
    kernels (oneDNN) that take padded input, about twice as fast in training. Padding after a doc's
    last token never reaches its outputs."""

    def __init__(self, input_width: int, width: int, depth: int, gru: bool = False) -> None:
        super().__init__()
        rnn = nn.GRU if gru else nn.LSTM
        self.layers = nn.ModuleList(
            [
                nn.ModuleList(
                    [rnn(input_width if n == 0 else width, width // 2, batch_first=True) for _ in "fb"]
                )
                for n in range(depth)
            ]
        )

    def forward(self, X: Tensor, lengths: Tensor) -> Tensor:
        B, L, _ = X.shape
        position = torch.arange(L, device=X.device)[None]
        # Within its length each doc reversed, padding in place: reversing twice is the identity.
        reverse = torch.where(position < lengths[:, None], lengths[:, None] - 1 - position, position)
        out = X
        for layer in self.layers:
            ahead_rnn: nn.Module = layer[0]  # type: ignore[index]
            behind_rnn: nn.Module = layer[1]  # type: ignore[index]
            ahead, _ = ahead_rnn(out)
            flipped = out.gather(1, reverse[..., None].expand(-1, -1, out.shape[2]))
            behind, _ = behind_rnn(flipped)
            behind = behind.gather(1, reverse[..., None].expand(-1, -1, behind.shape[2]))
            out = torch.cat([ahead, behind], dim=-1)
        return out.to(X.dtype)


class LocalAttention(nn.Module):
    """``depth`` layers of ``heads``-head self-attention within ``window`` tokens: the first maps the
    input to ``width``, each later one adds to it (pre-norm, residual)."""

    def __init__(self, input_width: int, width: int, depth: int, heads: int = 2, window: int = 64) -> None:
        super().__init__()
        if width % heads or (width // heads) % 2:
            raise ValueError(f"context width {width} must split into {heads} heads of an even size (RoPE)")
        self.heads, self.window = heads, window
        self.layers = nn.ModuleList(
            [_AttentionLayer(input_width if n == 0 else width, width, heads) for n in range(depth)]
        )

    def forward(self, X: Tensor, lengths: Tensor) -> Tensor:
        out = self.layers[0](X, lengths, self.window)
        for layer in self.layers[1:]:
            out = out + layer(out, lengths, self.window)
        return out


class _AttentionLayer(nn.Module):
    def __init__(self, input_width: int, width: int, heads: int) -> None:
        super().__init__()
        self.heads, self.head_size = heads, width // heads
        self.norm = nn.LayerNorm(input_width)
        self.qkv = nn.Linear(input_width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, X: Tensor, lengths: Tensor, window: int) -> Tensor:
        B, L, _ = X.shape
        h, d = self.heads, self.head_size
        if L <= window:  # every token of a doc is within the window: plain attention, no blocks
            q, k, v = self.qkv(self.norm(X)).view(B, L, 3, h, d).unbind(2)
            q, k = (rotary(t, dim=1, scale=d**-0.25).transpose(1, 2) for t in (q, k))  # (B, h, L, d)
            scores = q @ k.transpose(-1, -2)
            inside = (torch.arange(L, device=X.device) < lengths[:, None])[:, None, None]
            scores = torch.where(inside, scores, torch.finfo(scores.dtype).min)
            attention = torch.softmax(scores.to(torch.promote_types(scores.dtype, torch.float32)), dim=-1).to(
                v.dtype
            )
            return self.out((attention @ v.transpose(1, 2)).transpose(1, 2).reshape(B, L, h * d))
        w = window
        n = math.ceil(L / w)
        P = n * w
        x = F.pad(self.norm(X), (0, 0, 0, P - L))
        q, k, v = self.qkv(x).view(B, P, 3, h, d).unbind(2)
        # RoPE along the positions (dim 1), d**-1/4 on each side: q . k then depends on j - i only.
        q, k = (rotary(t, dim=1, scale=d**-0.25) for t in (q, k))
        # Block b's keys and values: positions b*w - w .. b*w + 2w - 1 (zeros beyond the doc, masked).
        kb = F.pad(k, (0, 0, 0, 0, w, w)).unfold(1, 3 * w, w)  # (B, n, h, d, 3w)
        vb = F.pad(v.contiguous(), (0, 0, 0, 0, w, w)).unfold(1, 3 * w, w)
        qb = q.reshape(B, n, w, h, d).transpose(2, 3)  # (B, n, h, w, d)
        scores = qb @ kb  # (B, n, h, w, 3w)
        query = torch.arange(P, device=X.device).view(n, w, 1)
        key = (torch.arange(n, device=X.device) * w - w).view(n, 1, 1) + torch.arange(3 * w, device=X.device)
        near = (key - query).abs() <= w
        inside = (key >= 0)[None] & (key[None] < lengths.view(B, 1, 1, 1))  # (B, n, 1, 3w)
        mask = (near[None] & inside)[:, :, None]  # (B, n, 1, w, 3w)
        scores = torch.where(mask, scores, torch.finfo(scores.dtype).min)
        attention = torch.softmax(scores.to(torch.promote_types(scores.dtype, torch.float32)), dim=-1).to(
            vb.dtype
        )
        mixed = attention @ vb.transpose(-1, -2)  # (B, n, h, w, d)
        return self.out(mixed.transpose(2, 3).reshape(B, P, h * d)[:, :L])


class RowAttention(nn.Module):
    """``heads``-head attention from given rows over the tokens at most ``window`` away in their doc
    (pre-norm, RoPE); ``depth`` is 1."""

    def __init__(self, input_width: int, width: int, heads: int = 2, window: int = 64) -> None:
        super().__init__()
        if width % heads or (width // heads) % 2:
            raise ValueError(f"context width {width} must split into {heads} heads of an even size (RoPE)")
        self.heads, self.head_size, self.window = heads, width // heads, window
        self.norm = nn.LayerNorm(input_width)
        self.qkv = nn.Linear(input_width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, X: Tensor, lengths: Tensor, doc: Tensor, position: Tensor) -> Tensor:
        B, L, _ = X.shape
        h, d, w = self.heads, self.head_size, self.window
        x = self.norm(X)
        # Keys and values of every token; queries of the rows only (the rows' own rotation is applied
        # to every position and read at the rows, which costs far less than projecting every query).
        width = h * d
        k, v = F.linear(x, self.qkv.weight[width:], self.qkv.bias[width:]).view(B, L, 2, h, d).unbind(2)
        rows = F.linear(x[doc, position], self.qkv.weight[:width], self.qkv.bias[:width]).view(-1, h, d)
        q = x.new_zeros((B, L, h, d))
        q[doc, position] = rows
        q, k = (rotary(t, dim=1, scale=d**-0.25) for t in (q, k))
        if doc.shape[0] == 0:
            return self.out(X.new_zeros((0, h * d)))
        if L <= 2 * w + 1:
            mixed = self._per_doc(q, k, v, lengths, doc, position)
        else:
            mixed = self._windows(q, k, v, lengths, doc, position)
        return self.out(mixed.reshape(-1, h * d))

    def _per_doc(self, q, k, v, lengths: Tensor, doc: Tensor, position: Tensor) -> Tensor:
        """Short docs: each doc's rows against all its keys, one padded product per batch."""
        B, L, h, d = k.shape
        order = torch.argsort(doc, stable=True)
        counts = torch.bincount(doc, minlength=B)
        slot = torch.empty_like(order)
        slot[order] = torch.arange(len(order), device=doc.device) - (counts.cumsum(0) - counts)[doc[order]]
        queries = q.new_zeros((B, int(counts.max()), h, d))
        queries[doc, slot] = q[doc, position]
        at = torch.zeros((B, queries.shape[1]), dtype=torch.long, device=doc.device)
        at[doc, slot] = position
        scores = torch.einsum("brhd,blhd->bhrl", queries, k)
        keys = torch.arange(L, device=doc.device)
        allowed = (keys < lengths[:, None])[:, None, :] & ((keys - at[..., None]).abs() <= self.window)
        scores = torch.where(allowed[:, None], scores, torch.finfo(scores.dtype).min)
        attention = torch.softmax(scores.to(torch.promote_types(scores.dtype, torch.float32)), dim=-1)
        mixed = torch.einsum("bhrl,blhd->brhd", attention.to(v.dtype), v)
        return mixed[doc, slot]

    def _windows(self, q, k, v, lengths: Tensor, doc: Tensor, position: Tensor) -> Tensor:
        """Long docs: each row against the keys within the window, ROWS_PER_STEP rows at a time."""
        L = k.shape[1]
        offsets = torch.arange(-self.window, self.window + 1, device=doc.device)
        out = []
        for lo in range(0, doc.shape[0], ROWS_PER_STEP):
            rows_doc, rows_at = doc[lo : lo + ROWS_PER_STEP], position[lo : lo + ROWS_PER_STEP]
            keys_at = rows_at[:, None] + offsets  # (S, 2w + 1)
            inside = (keys_at >= 0) & (keys_at < lengths[rows_doc][:, None])
            at = keys_at.clamp(0, L - 1)
            scores = (q[rows_doc, rows_at][:, None] * k[rows_doc[:, None], at]).sum(-1)  # (S, 2w + 1, h)
            scores = torch.where(inside[..., None], scores, torch.finfo(scores.dtype).min)
            attention = torch.softmax(scores.to(torch.promote_types(scores.dtype, torch.float32)), dim=1)
            out.append((attention.to(v.dtype)[..., None] * v[rows_doc[:, None], at]).sum(1))
        return torch.cat(out)


class ContextEncoder(nn.Module):
    """``[X, context(X)]``: (B, L, ``input_width``) vectors and a context layer's output over them
    (``context``: "lstm", "gru" or "attention"; ``depth`` layers of ``context_width``), side by side."""

    def __init__(
        self, input_width: int, context: str = "lstm", context_width: int = 128, depth: int = 1
    ) -> None:
        super().__init__()
        if context == "rows":
            raise ValueError('a context encoder gives every token a vector: "rows" is not one')
        self.args = {
            "input_width": input_width,
            "context": context,
            "context_width": context_width,
            "depth": depth,
        }
        self.context = build_context(context, input_width, context_width, depth)

    @property
    def config(self) -> Dict[str, Any]:
        """Constructor arguments: enough to rebuild the module before loading weights."""
        return {"module": "ContextEncoder", **self.args}

    def forward(self, X: Tensor, lengths: Tensor) -> Tensor:
        return torch.cat([X, self.context(X, lengths).to(X.dtype)], dim=-1)


def build_context(kind: str, input_width: int, width: int, depth: int) -> nn.Module:
    """A context layer by name (CONTEXTS): (B, L, input_width) -> (B, L, width), or for "rows"
    (B, L, input_width) and rows -> (rows, width)."""
    if kind in ("lstm", "gru"):
        return BiLSTMContext(input_width, width, depth, gru=kind == "gru")
    if kind == "attention":
        return LocalAttention(input_width, width, depth)
    if kind == "rows":
        return RowAttention(input_width, width)
    raise ValueError(f"context must be one of {CONTEXTS}, got {kind!r}")
