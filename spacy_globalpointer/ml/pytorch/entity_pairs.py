"""GPLinker's relation pointers over candidate entity pairs, with context
(RelationPointer.v2's torch math; pairs.py holds v1's pair band).

A pair (subject a, object b) of a doc's entities scores, per relation label:

- the head-to-head pointer (a's first token against b's first token) plus
  the tail-to-tail pointer (a's last token against b's last token), GPLinker's
  two span heads of heads.py used on token pairs, RoPE off;
- ``context_depth`` > 0: the token vectors first go through a context layer
  (context.py: a BiLSTM over the doc, or self-attention within a window) of
  ``context_width``, its output concatenated to them, so that a boundary
  token knows its sentence and not only the token-vector layer's window;
- ``between``: a linear score of the mean of the (contextual) vectors of the
  tokens between the two entities (SpERT's context; a learned score where
  they touch or nest), as cumulative sums: O(tokens), not O(pairs x gap);
- ``distance``: a score per label for the bucket of the signed distance
  between their starts;
- ``entity_types``: an embedding of each entity's label added to its boundary
  rows, and a score per (subject label, object label, relation label): the
  pointers see which entities they join, and the schema is learned;
- ``initial_bias`` < 0: a score per label that starts there, so that an
  untrained model finds no relation: a row (doc, label) holds many pairs,
  nearly all negatives, and with the pointers' random scores about half of
  them are above 0 until training pushes them down (RetinaNet's prior
  initialization, for the same imbalance);
- ``hidden_width`` > 0: a hidden layer (ReLU) over the pair, SpERT's way: both
  entities' boundary rows, the mean between them and their distance, then a
  score per label. Its first layer is a sum of per-entity and per-token
  projections, so memory grows with pairs x hidden_width, never with pairs x
  the vectors' width.

One score per pair and label: (P, C, 1), the last axis GPLinker's pointers
summed. Training and prediction score the same pairs (the candidates within
a distance: ml/candidate_pairs.py), so the loss is taken where the model
predicts. The pointers' dot products go through ``pair_dot``: one batched
product of each doc's entities with each other where those blocks hold at
most ELEMENTS_PER_STEP numbers (a batch of sentences), else in steps that
hold as many, backward too: memory grows with pairs x labels, never with
pairs x labels x head_size.
"""

from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor, nn

from spacy_globalpointer.ml.pytorch.context import RowAttention, build_context
from spacy_globalpointer.ml.pytorch.heads import SpanHead, build_head

# Numbers in a step's gathered queries (and keys): bounds the temporaries whatever the pair count.
ELEMENTS_PER_STEP = 2**22
# |distance| buckets: 0, 1, 2, 3, 4, 5-7, 8-15, 16-31, 32-63, 64-127, 128+; with a sign, 21 in all.
DISTANCE_EDGES = (1, 2, 3, 4, 5, 8, 16, 32, 64, 128)
N_DISTANCE_BUCKETS = 2 * len(DISTANCE_EDGES) + 1


def distance_bucket(distance: Tensor) -> Tensor:
    """The bucket of each signed distance: 0 for 0, then by magnitude, negative ones after the positive."""
    edges = torch.tensor(DISTANCE_EDGES, device=distance.device)
    size = torch.bucketize(distance.abs(), edges, right=True)
    return torch.where(distance < 0, size + len(DISTANCE_EDGES), size)


class PairDot(torch.autograd.Function):
    """``out[p, c] = q[a[p], c] . k[b[p], c]`` for (E, C, d) ``q`` and ``k``, in steps of pairs; the
    backward recomputes each step's gathers instead of keeping them (autograd would keep two
    (P, C, d) tensors)."""

    @staticmethod
    def forward(ctx: Any, q: Tensor, k: Tensor, a: Tensor, b: Tensor) -> Tensor:
        ctx.save_for_backward(q, k, a, b)
        out = q.new_empty((a.shape[0], q.shape[1]))
        for lo, hi in steps(a.shape[0], q.shape[1] * q.shape[2]):
            out[lo:hi] = (q.index_select(0, a[lo:hi]) * k.index_select(0, b[lo:hi])).sum(-1)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tuple[Optional[Tensor], ...]:
        q, k, a, b = ctx.saved_tensors
        dq, dk = torch.zeros_like(q), torch.zeros_like(k)
        for lo, hi in steps(a.shape[0], q.shape[1] * q.shape[2]):
            g = grad[lo:hi, :, None].to(q.dtype)
            dq.index_add_(0, a[lo:hi], g * k.index_select(0, b[lo:hi]))
            dk.index_add_(0, b[lo:hi], g * q.index_select(0, a[lo:hi]))
        return dq, dk, None, None


def steps(n: int, per_item: int):
    """(lo, hi) ranges over n items, each holding at most ELEMENTS_PER_STEP numbers (one item at least)."""
    size = max(1, ELEMENTS_PER_STEP // max(per_item, 1))
    return [(lo, min(n, lo + size)) for lo in range(0, n, size)]


def pair_dot(q: Tensor, k: Tensor, a: Tensor, b: Tensor, doc: Optional[Tensor] = None) -> Tensor:
    """(P, C): ``q[a[p], c] . k[b[p], c]``. Given each row's doc (rows sorted by doc), as one product of
    every doc's rows with each other when those (docs, C, E, E) blocks hold at most ELEMENTS_PER_STEP
    numbers; else in steps of pairs (PairDot)."""
    blocks = doc_blocks(doc, q.shape[1], q.shape[2]) if doc is not None else None
    if blocks is None:
        return PairDot.apply(q, k, a, b)
    # With many labels and most of a doc's entity pairs in reach (sets like DuIE), one batched matmul
    # costs a fraction of gathering each pair's (C, d) rows, forward and backward.
    slot, n_docs, most = blocks
    assert doc is not None
    padded = [x.new_zeros((n_docs, most, *x.shape[1:])).index_put((doc, slot), x) for x in (q, k)]
    products = torch.einsum("bicd,bjcd->bcij", *padded)
    return products[doc[a], :, slot[a], slot[b]]


def doc_blocks(doc: Tensor, n_labels: int, head_size: int) -> Optional[Tuple[Tensor, int, int]]:
    """Each row's place among its doc's rows, the number of docs and the most rows of one doc; None
    where the rows are not sorted by doc or the blocks would not fit in ELEMENTS_PER_STEP numbers."""
    if doc.numel() == 0 or bool((doc[1:] < doc[:-1]).any()):
        return None
    counts = torch.bincount(doc)
    n_docs, most = counts.shape[0], int(counts.max())
    if n_docs * most * max(most * n_labels, n_labels * head_size) > ELEMENTS_PER_STEP:
        return None
    return torch.arange(doc.shape[0], device=doc.device) - (counts.cumsum(0) - counts)[doc], n_docs, most


class EntityPairScorer(nn.Module):
    """Relation scores of candidate entity pairs, for ``n_labels`` relation labels and
    ``n_entity_labels`` entity labels (index 0: a label the component did not know)."""

    def __init__(
        self,
        head: str,
        input_width: int,
        n_labels: int,
        n_entity_labels: int,
        head_size: int = 64,
        context: str = "lstm",
        context_width: int = 128,
        context_depth: int = 1,
        between: bool = True,
        distance: bool = True,
        entity_types: bool = True,
        hidden_width: int = 0,
        initial_bias: float = 0.0,
    ) -> None:
        super().__init__()
        self.args = {
            "head": head,
            "input_width": input_width,
            "n_labels": n_labels,
            "n_entity_labels": n_entity_labels,
            "head_size": head_size,
            "context": context,
            "context_width": context_width,
            "context_depth": context_depth,
            "between": between,
            "distance": distance,
            "entity_types": entity_types,
        }
        # Saved only when used: modules saved before the hidden layer existed have no such key.
        if hidden_width:
            self.args["hidden_width"] = hidden_width
        if initial_bias:
            self.args["initial_bias"] = initial_bias
        self.bias = nn.Parameter(torch.full((n_labels,), float(initial_bias))) if initial_bias else None
        self.context: Optional[nn.Module] = None
        # The tokens' width (what "between" reads) and the rows' (what the pointers read): the same
        # but for the "rows" context, which is computed at the rows only.
        width = token_width = input_width
        if context_depth > 0:
            self.context = build_context(context, input_width, context_width, context_depth)
            width += context_width
            token_width = input_width if context == "rows" else width
        self.pointers = nn.ModuleList(
            [build_head(head, width, n_labels, head_size=head_size, rope=False) for _ in range(2)]
        )
        # The extra terms start at zero: an untrained model scores as GPLinker's pointers alone (plus
        # initial_bias, where set).
        self.between = nn.Linear(token_width, n_labels) if between else None
        self.touching = nn.Parameter(torch.zeros(n_labels)) if between else None
        self.distance = nn.Embedding(N_DISTANCE_BUCKETS, n_labels) if distance else None
        self.types = nn.Embedding(n_entity_labels, width) if entity_types else None
        self.type_pairs = (
            nn.Parameter(torch.zeros(n_entity_labels, n_entity_labels, n_labels)) if entity_types else None
        )
        self.hidden: Optional[nn.ModuleDict] = None
        if hidden_width:
            self.hidden = nn.ModuleDict(
                {
                    # subject's first and last row, object's first and last row, the mean between
                    "rows": nn.Linear(width, 4 * hidden_width),
                    "between": nn.Linear(token_width, hidden_width, bias=False),
                    "touching": nn.Embedding(1, hidden_width),
                    "distance": nn.Embedding(N_DISTANCE_BUCKETS, hidden_width),
                    "out": nn.Linear(hidden_width, n_labels),
                }
            )
        for layer in (self.between, self.distance, self.types, self.hidden["out"] if self.hidden else None):
            for parameter in layer.parameters() if layer is not None else ():
                nn.init.zeros_(parameter)

    @property
    def config(self) -> Dict[str, Any]:
        """Constructor arguments: enough to rebuild the module before loading weights."""
        return {"module": "EntityPairScorer", **self.args}

    def encode(self, X: Tensor, lengths: Tensor) -> Tensor:
        """(B, L, H) vectors -> (B, L, token width): with the context layer's output over each doc's own
        tokens (not for the "rows" context, which rows() adds)."""
        if self.context is None or isinstance(self.context, RowAttention):
            return X
        return torch.cat([X, self.context(X, lengths).to(X.dtype)], dim=-1)

    def rows(self, X: Tensor, H: Tensor, lengths: Tensor, doc: Tensor, position: Tensor) -> Tensor:
        """The rows (doc, position) of H, with the "rows" context's output where that is the context."""
        if isinstance(self.context, RowAttention):
            return torch.cat([H[doc, position], self.context(X, lengths, doc, position).to(H.dtype)], dim=-1)
        return H[doc, position]

    def forward(self, X: Tensor, lengths: Tensor, entities: Tensor, pairs: Tensor) -> Tensor:
        """(P, C, 1) scores. X: (B, L, H) padded vectors and their lengths; entities (E, 4): the doc (a
        row of X), first token, end (exclusive) and label index of each entity; pairs (P, 2): subject
        and object, as rows of ``entities``."""
        H = self.encode(X, lengths)
        doc, start, end, label = entities.unbind(1)
        rows = [self.rows(X, H, lengths, doc, start), self.rows(X, H, lengths, doc, end - 1)]
        if self.types is not None:
            typed = self.types(label).to(H.dtype)
            rows = [r + typed for r in rows]
        projected = [self._project(k, r) for k, r in enumerate(rows)]
        between = self._between_sums(H) if self.between is not None else None
        score = self._score(projected, entities, pairs, between)
        if self.hidden is not None:
            score = score + self._hidden_score(H, rows, entities, pairs).to(score.dtype)
        return score[:, :, None]

    def _hidden_score(self, H: Tensor, rows, entities: Tensor, pairs: Tensor) -> Tensor:
        """(P, C): the hidden layer's score of each pair."""
        assert self.hidden is not None
        a, b = pairs[:, 0], pairs[:, 1]
        doc, start, end = entities[:, 0], entities[:, 1], entities[:, 2]
        h = self.hidden["out"].in_features
        first, last = (self.hidden["rows"](r).view(r.shape[0], 4, h) for r in rows)
        subject, obj = first[:, 0] + last[:, 1], first[:, 2] + last[:, 3]
        sums = nn.functional.pad(self.hidden["between"](H).float().cumsum(1), (0, 0, 1, 0))
        lo, hi = torch.minimum(end[a], end[b]), torch.maximum(start[a], start[b])
        gap = (hi - lo).clamp(min=0)
        mean = (sums[doc[a], hi] - sums[doc[a], torch.minimum(lo, hi)]) / gap.clamp(min=1)[:, None]
        touching: nn.Embedding = self.hidden["touching"]  # type: ignore[assignment]
        between = torch.where((gap > 0)[:, None], mean, touching.weight.float())
        distance = self.hidden["distance"](distance_bucket(start[b] - start[a]))
        hidden = torch.relu(
            subject.index_select(0, a) + obj.index_select(0, b) + (between + distance).to(subject.dtype)
        )
        return self.hidden["out"](hidden)

    def _project(
        self, pointer: int, rows: Tensor
    ) -> Tuple[Tensor, Tensor, Optional[Tensor], Optional[Tensor]]:
        """Pointer ``pointer``'s query and key (R, C, d), or (R, 1, d) where all labels share them (an
        EfficientGlobalPointer: one dot product per pair, not one per label), and biases (R, C) or None
        of these rows."""
        head: SpanHead = self.pointers[pointer]  # type: ignore[assignment]
        q, k, first, second = head.project(rows[None])
        bias = (first[0].T, second[0].T) if first is not None and second is not None else (None, None)
        return q[0].transpose(0, 1), k[0].transpose(0, 1), *bias

    def _between_sums(self, H: Tensor) -> Tensor:
        """(B, L + 1, C): running sums of the per-token between scores (the mean's linear score is the
        mean of the tokens' scores)."""
        assert self.between is not None
        per_token = H @ self.between.weight.T.to(H.dtype)
        return nn.functional.pad(per_token.float().cumsum(1), (0, 0, 1, 0))

    def _score(self, projected, entities: Tensor, pairs: Tensor, between: Optional[Tensor]) -> Tensor:
        a, b = pairs[:, 0], pairs[:, 1]
        doc, start, end, label = (entities[:, n] for n in range(4))
        terms = []
        for q, k, first, second in projected:
            terms.append(pair_dot(q.contiguous(), k.contiguous(), a, b, doc))
            if first is not None and second is not None:
                terms.append(first.index_select(0, a) + second.index_select(0, b))
        if between is not None:
            assert self.between is not None and self.touching is not None
            lo = torch.minimum(end[a], end[b])
            hi = torch.maximum(start[a], start[b])
            gap = (hi - lo).clamp(min=0)
            sums = between[doc[a], hi] - between[doc[a], torch.minimum(lo, hi)]
            mean = sums / gap.clamp(min=1)[:, None]
            terms.append(torch.where((gap > 0)[:, None], mean + self.between.bias, self.touching))
        if self.distance is not None:
            terms.append(self.distance(distance_bucket(start[b] - start[a])))
        if self.type_pairs is not None:
            terms.append(self.type_pairs[label[a], label[b]])
        if self.bias is not None:
            terms.append(self.bias.expand(len(a), -1))
        score = terms[0]
        for term in terms[1:]:
            score = score + term.to(score.dtype)
        return score
