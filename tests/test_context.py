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


def context_encoder_model(context: str = "lstm", width: int = 8, context_width: int = 4, **settings):
    from spacy.util import registry
    from thinc.api import Config

    local = {
        "@architectures": "spacy.MaxoutWindowEncoder.v2",
        "width": width,
        "depth": 1,
        "window_size": 1,
        "maxout_pieces": 2,
    }
    block = {
        "@architectures": "spacy_globalpointer.ContextEncoder.v1",
        "local": local,
        "width": settings.pop("out_width", width + context_width),
        "context": context,
        "context_width": context_width,
    }
    return registry.resolve(Config({"model": {**block, **settings}}))["model"]


@pytest.mark.parametrize("context", ["lstm", "gru", "attention"])
def test_the_context_encoder_puts_each_docs_own_context_beside_the_local_encoders_output(context):
    """ContextEncoder.v1 over a batch of docs: per doc, the window encoder's output and the context
    layer over that doc alone (the torch module called on the one doc, unpadded), side by side; the
    gradient through thinc's backprop is torch's own for the doc alone."""
    import numpy
    from thinc.api import fix_random_seed

    fix_random_seed(0)
    model = context_encoder_model(context)
    X = [numpy.random.randn(n, 8).astype("float32") for n in (7, 2, 5, 1)]
    model.initialize(X=X)
    local, encoder = model.layers
    module = encoder.layers[0].shims[0].module
    Y, backprop = model.begin_update(X)
    assert [y.shape for y in Y] == [(len(x), 12) for x in X] and model.get_dim("nO") == 12
    dY = [numpy.random.randn(*y.shape).astype("float32") for y in Y]
    dX = backprop(dY)
    for x, y, dy, dx in zip(X, Y, dY, dX):
        h, backprop_local = local.begin_update([x])
        ht = torch.tensor(h[0], requires_grad=True)
        want = torch.cat([ht, module.context(ht[None], torch.tensor([len(x)]))[0]], dim=1)
        assert numpy.allclose(y, want.detach().numpy(), atol=1e-6)
        want.backward(torch.tensor(dy))
        assert numpy.allclose(dx, backprop_local([ht.grad.numpy()])[0], atol=1e-5)


def test_the_context_encoder_round_trips_and_refuses_what_it_cannot_build():
    import numpy

    model = context_encoder_model("lstm")
    X = [numpy.random.randn(n, 8).astype("float32") for n in (4, 6)]
    model.initialize(X=X)
    loaded = context_encoder_model("lstm").from_bytes(model.to_bytes())
    assert all(numpy.array_equal(a, b) for a, b in zip(model.predict(X), loaded.predict(X)))
    with pytest.raises(ValueError, match="context must be one of"):
        context_encoder_model("rows")
    with pytest.raises(ValueError, match="multiple of 2"):
        context_encoder_model("lstm", context_width=7)
    with pytest.raises(ValueError, match="multiple of 4"):
        context_encoder_model("attention", context_width=6)
    with pytest.raises(ValueError, match="depth"):
        context_encoder_model("lstm", depth=0)
    with pytest.raises(ValueError, match=r"width \(8\) must be the local encoder's width \(8\) plus"):
        context_encoder_model("lstm", out_width=8)
