"""GPLinker's relation pointers (Su, 2022) as torch math: per relation label,
a head-to-head pointer (the subject's first token against the object's first
token) and a tail-to-tail pointer (last token against last token).

Each pointer is a span head of heads.py (a GlobalPointer or an Efficient
GlobalPointer, RoPE off by default as in GPLinker) used on ordered token
pairs instead of spans: ``score(i, j) = q_i . k_j (+ biases)`` for any ``j``,
before or after ``i``. Training scores every pair within ``max_distance``
tokens in a *pair band*: ``scores[b, c, p, i, w]`` is pointer ``p``'s score
(0: heads, 1: tails) for label ``c`` of the pair ``(i, i + w - D)``, so the
cells are O(doc length x D), not O(doc length**2). Prediction scores only the
pairs of candidate entities, from the projections of their boundary tokens.
"""

from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from spacy_globalpointer.ml.pytorch.band import band_of, band_scores
from spacy_globalpointer.ml.pytorch.heads import SpanHead, build_head

# Token rows projected per step at prediction, and pairs scored per step:
# both bound the temporaries whatever the doc length and the entity count.
# Docs up to ROWS_PER_STEP tokens are projected together, BATCH_ROWS padded
# positions per call (one call per doc costs more than the math on short docs).
ROWS_PER_STEP = 1024
BATCH_ROWS = 4096
PAIRS_PER_STEP = 16384
Projection = Tuple[Tensor, Tensor, Tensor, Tensor]


def pair_band_valid(lengths: Tensor, L: int, max_distance: int) -> Tensor:
    """(B, L, 2D + 1) bool: the pair (i, i + w - D) lies inside its doc."""
    i = torch.arange(L, device=lengths.device)[:, None]
    j = i + torch.arange(-max_distance, max_distance + 1, device=lengths.device)
    inside = (j >= 0)[None] & (j[None] < lengths[:, None, None]) & (i[None] < lengths[:, None, None])
    return inside


class PairPointer(nn.Module):
    """The two pointers of GPLinker for ``n_labels`` relation labels."""

    def __init__(
        self, head: str, input_width: int, n_labels: int, head_size: int = 64, rope: bool = False
    ) -> None:
        super().__init__()
        self.pointers = nn.ModuleList(
            [build_head(head, input_width, n_labels, head_size=head_size, rope=rope) for _ in range(2)]
        )

    @property
    def config(self) -> Dict[str, Any]:
        """Constructor arguments: enough to rebuild the module before loading weights."""
        first: SpanHead = self.pointers[0]  # type: ignore[assignment]
        return {
            "module": "PairPointer",
            "head": first.name,
            "input_width": first.input_width,
            "n_labels": first.n_labels,
            "head_size": first.head_size,
            "rope": first.rope,
        }

    def _project(self, pointer: int, X: Tensor, offset: int = 0) -> Projection:
        head: SpanHead = self.pointers[pointer]  # type: ignore[assignment]
        q, k, first_bias, second_bias = head.project(X, offset)
        C = head.n_labels
        zeros = X.new_zeros((X.shape[0], C, X.shape[1]))
        q = q.expand(-1, C, -1, -1) if q.shape[1] == 1 else q
        k = k.expand(-1, C, -1, -1) if k.shape[1] == 1 else k
        first = zeros if first_bias is None else first_bias
        second = zeros if second_bias is None else second_bias
        return q, k, first, second

    def forward(
        self,
        X: Tensor,
        lengths: Optional[Tensor],
        max_distance: int = 0,
        rows: Optional[Tensor] = None,
        pairs: Optional[Tensor] = None,
    ) -> Tensor:
        """Training: (B, C, 2, L, 2D + 1) pair-band scores of (B, L, H)
        vectors; cells outside a doc hold the dtype's most negative finite
        value. With ``rows`` and ``pairs``: :meth:`score_pairs`."""
        if rows is not None and pairs is not None:
            return self.score_pairs(X, rows, pairs)
        assert lengths is not None
        D = max_distance
        out = []
        for pointer in range(2):
            q, k, first, second = self._project(pointer, X)
            # Keys shifted by D: band cell w of row i is the key of token i + w - D.
            k = F.pad(k, (0, 0, D, D))
            scores = band_scores(q, k, 2 * D + 1)
            scores = (
                scores + first[..., None] + band_of(F.pad(second, (D, D)), 2 * D + 1)[..., : q.shape[2], :]
            )
            out.append(scores)
        scores = torch.stack(out, dim=2)
        valid = pair_band_valid(lengths, X.shape[1], D)[:, None, None]
        return torch.where(valid, scores, torch.finfo(scores.dtype).min)

    def project_rows(self, X: Tensor, rows: Tensor) -> Tuple[Projection, Projection]:
        """Each pointer's q, k, first and second biases of the tokens
        ``rows`` (sorted) of one doc's (1, L, H) vectors, projected a step
        of positions at a time (RoPE needs each row's own position)."""
        parts: Tuple[list, list] = ([], [])
        for s in range(0, X.shape[1], ROWS_PER_STEP):
            lo, hi = torch.searchsorted(
                rows, torch.tensor([s, s + ROWS_PER_STEP], device=rows.device)
            ).tolist()
            if lo == hi:
                continue
            local = rows[lo:hi] - s
            for pointer in range(2):
                q, k, first, second = self._project(pointer, X[:, s : s + ROWS_PER_STEP], offset=s)
                parts[pointer].append(
                    (q[0][:, local], k[0][:, local], first[0][:, local], second[0][:, local])
                )
        return tuple(  # type: ignore[return-value]
            tuple(torch.cat([p[n] for p in pointer], dim=1) for n in range(4)) for pointer in parts
        )

    def project_batch_rows(self, X: Tensor, rows: Tensor) -> Tuple[Projection, Projection]:
        """As :meth:`project_rows`, for (B, L, H) docs and ``rows`` (R, 2):
        (doc, token). Without RoPE a row's projection is its own, so only the
        rows the pairs need are projected, a step of rows at a time; with
        RoPE, a padded batch of short docs is projected whole, in one call."""
        b, i = rows[:, 0], rows[:, 1]
        out: List[Projection] = []
        for pointer in range(2):
            if not self.pointers[pointer].rope:
                steps = [
                    self._project(pointer, X[b[s : s + ROWS_PER_STEP], i[s : s + ROWS_PER_STEP]][None])
                    for s in range(0, rows.shape[0], ROWS_PER_STEP)
                ]
                q, k, first, second = (torch.cat([step[n][0] for step in steps], dim=1) for n in range(4))
                out.append((q, k, first, second))
                continue
            q, k, first, second = self._project(pointer, X)
            # q[b, :, i] is (R, C, d): the label axis first again, as project_rows gives it.
            out.append(
                (q[b, :, i].transpose(0, 1), k[b, :, i].transpose(0, 1), first[b, :, i].T, second[b, :, i].T)
            )
        return out[0], out[1]

    def score_pairs(self, X: Tensor, rows: Tensor, pairs: Tensor) -> Tensor:
        """(P, C, 2) scores of candidate pairs: ``rows`` (R, 2) the (doc,
        token) rows the pairs need, sorted; ``pairs`` (P, 4) holds, as
        indices into ``rows``, the subject's first token, the object's first
        token, the subject's last token, the object's last token. X: (B, L, H)
        the docs' vectors; one doc is projected a step of positions at a
        time (any length), several in one call."""
        head: SpanHead = self.pointers[0]  # type: ignore[assignment]
        if X.shape[0] == 1 and head.rope:
            projections = self.project_rows(X, rows[:, 1].contiguous())
        else:
            projections = self.project_batch_rows(X, rows)
        C = projections[0][0].shape[0]
        out = X.new_empty((pairs.shape[0], C, 2))
        # Rows first, (R, C, d): index_select of whole rows is the fast gather.
        by_row = [
            (q.transpose(0, 1).contiguous(), k.transpose(0, 1).contiguous(), first.T, second.T)
            for q, k, first, second in projections
        ]
        for s in range(0, pairs.shape[0], PAIRS_PER_STEP):
            chunk = pairs[s : s + PAIRS_PER_STEP]
            for pointer, (q, k, first, second) in enumerate(by_row):
                a, b = chunk[:, 2 * pointer], chunk[:, 2 * pointer + 1]
                dot = (q.index_select(0, a) * k.index_select(0, b)).sum(-1)
                if head.biased:  # else the biases are zeros
                    dot = dot + first.index_select(0, a) + second.index_select(0, b)
                out[s : s + len(chunk), :, pointer] = dot
        return out
