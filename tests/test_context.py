"""The relation scorer's context layers (ml/pytorch/context.py) against a
brute force: local self-attention token by token (within the window, inside
the doc, positions as RoPE), in one block and in blocks; each doc of a padded
batch gets what it gets alone, for the BiLSTM too."""

import pytest
import torch

from spacy_globalpointer.ml.pytorch import context as context_module
from spacy_globalpointer.ml.pytorch.context import BiLSTMContext, LocalAttention, RowAttention, build_context
from spacy_globalpointer.ml.pytorch.rope import rotary


def brute_attention(layer, X: torch.Tensor, window: int) -> torch.Tensor:
    """One attention layer over one unpadded doc (L, H), token by token."""
    L = X.shape[0]
    h, d = layer.heads, layer.head_size
    q, k, v = layer.qkv(layer.norm(X)).view(L, 3, h, d).unbind(1)
    q, k = (rotary(t[None], dim=1, scale=d**-0.25)[0] for t in (q, k))
    out = torch.zeros(L, h, d, dtype=X.dtype)
    for i in range(L):
        near = [j for j in range(L) if abs(i - j) <= window]
        for head in range(h):
            scores = torch.stack([q[i, head] @ k[j, head] for j in near])
            weights = torch.softmax(scores, 0)
            out[i, head] = sum(w * v[j, head] for w, j in zip(weights, near))
    return layer.out(out.reshape(L, h * d))


@pytest.mark.parametrize("window", [3, 20])  # blocks of 3 tokens, or every doc in one block
def test_local_attention_equals_a_brute_force(window):
    torch.manual_seed(0)
    attention = LocalAttention(6, 8, depth=2, heads=2, window=window).double()
    lengths = torch.tensor([11, 4, 7])
    X = torch.randn(3, 11, 6, dtype=torch.float64)
    got = attention(X, lengths)
    for b, n in enumerate(lengths.tolist()):
        first = brute_attention(attention.layers[0], X[b, :n], window)
        want = first + brute_attention(attention.layers[1], first, window)
        assert torch.allclose(got[b, :n], want, atol=1e-10), (b, window)


@pytest.mark.parametrize("window", [4, 8])  # windows of a long doc, or every doc whole
def test_row_attention_equals_attention_at_those_rows(monkeypatch, window):
    """Attention from chosen rows only is what attention over every token gives at those rows."""
    torch.manual_seed(3)
    rows = RowAttention(6, 8, heads=2, window=window).double()
    lengths = torch.tensor([13, 5])
    X = torch.randn(2, 13, 6, dtype=torch.float64)
    doc = torch.tensor([0, 0, 0, 1, 1, 0])
    position = torch.tensor([0, 6, 12, 0, 4, 3])
    monkeypatch.setattr(context_module, "ROWS_PER_STEP", 4)  # in steps, too
    got = rows(X, lengths, doc, position)
    for n, (b, i) in enumerate(zip(doc.tolist(), position.tolist())):
        want = brute_attention(rows, X[b, : lengths[b]], window)[i]
        assert torch.allclose(got[n], want, atol=1e-10), (b, i)


@pytest.mark.parametrize("gru", [False, True])
def test_the_bidirectional_rnn_is_torchs_packed_one(gru):
    """Two directions over the padded batch (each doc reversed within its length for the second) give
    torch's packed bidirectional RNN with the same weights."""
    torch.manual_seed(2)
    layer = BiLSTMContext(6, 8, depth=2, gru=gru).double()
    reference = (torch.nn.GRU if gru else torch.nn.LSTM)(
        6, 4, 2, batch_first=True, bidirectional=True
    ).double()
    with torch.no_grad():
        for n, (ahead, behind) in enumerate(layer.layers):
            for name, value in ahead.named_parameters():
                getattr(reference, name.replace("l0", f"l{n}")).copy_(value)
            for name, value in behind.named_parameters():
                getattr(reference, name.replace("l0", f"l{n}") + "_reverse").copy_(value)
    lengths = torch.tensor([9, 3, 6])
    X = torch.randn(3, 9, 6, dtype=torch.float64)
    packed = torch.nn.utils.rnn.pack_padded_sequence(X, lengths, batch_first=True, enforce_sorted=False)
    want, _ = torch.nn.utils.rnn.pad_packed_sequence(reference(packed)[0], batch_first=True, total_length=9)
    got = layer(X, lengths)
    for b, n in enumerate(lengths.tolist()):
        assert torch.allclose(got[b, :n], want[b, :n], atol=1e-10), b


@pytest.mark.parametrize("kind", ["lstm", "gru", "attention"])
def test_each_doc_of_a_padded_batch_gets_what_it_gets_alone(kind):
    torch.manual_seed(1)
    layer = build_context(kind, 6, 8, 1).double().eval()
    lengths = [70, 3, 66, 1]
    X = torch.randn(4, 70, 6, dtype=torch.float64)
    batch = layer(X, torch.tensor(lengths))
    for b, n in enumerate(lengths):
        alone = layer(X[b : b + 1, :n], torch.tensor([n]))
        assert torch.allclose(batch[b, :n], alone[0], atol=1e-10), b
    assert isinstance(layer, LocalAttention if kind == "attention" else BiLSTMContext)


def test_a_context_that_does_not_exist_or_does_not_split_is_refused():
    with pytest.raises(ValueError, match="context must be one of"):
        build_context("transformer", 6, 8, 1)
    with pytest.raises(ValueError, match="even size"):
        LocalAttention(6, 6, 1, heads=2)
