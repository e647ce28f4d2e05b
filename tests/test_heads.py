"""Head math against an explicit per-cell loop, RoPE, masks and half precision."""

import math

import pytest
import torch

from spacy_globalpointer.ml.pytorch.band import band_width
from spacy_globalpointer.ml.pytorch.heads import HEADS, build_head, check_head_args
from spacy_globalpointer.ml.pytorch.rope import rotary


def rotate_pairs(v: torch.Tensor, pos: int) -> torch.Tensor:
    """RoPE by hand: a 2x2 rotation of each pair (v[2m], v[2m+1]) by pos * 10000**(-2m/d)."""
    out = v.clone()
    d = v.shape[-1]
    for m in range(0, d, 2):
        theta = pos * 10000 ** (-m / d)
        c, s = math.cos(theta), math.sin(theta)
        out[m] = v[m] * c - v[m + 1] * s
        out[m + 1] = v[m] * s + v[m + 1] * c
    return out


def projections(head, X):
    """Queries, keys and biases read off the head's own weights, before RoPE."""
    if head.name == "GlobalPointer":
        out = (X @ head.dense.weight.T + head.dense.bias).view(*X.shape[:2], head.n_labels, 2, head.head_size)
        return out[..., 0, :].transpose(1, 2), out[..., 1, :].transpose(1, 2), None, None
    h = X @ head.dense.weight.T + head.dense.bias
    bias = (h @ head.bias.weight.T + head.bias.bias) / 2
    return (
        h[..., 0::2][:, None],
        h[..., 1::2][:, None],
        bias[..., 0::2].transpose(1, 2),
        bias[..., 1::2].transpose(1, 2),
    )


def brute_force(head, X, lengths, W):
    """Score of every (doc, label, start, end) by an explicit loop over cells."""
    q, k, start_bias, end_bias = projections(head, X)
    B, L = X.shape[:2]
    out = {}
    for b in range(B):
        for c in range(head.n_labels):
            for i in range(lengths[b]):
                for j in range(i, min(lengths[b], i + W)):
                    qi = q[b, c if q.shape[1] > 1 else 0, i]
                    kj = k[b, c if k.shape[1] > 1 else 0, j]
                    if head.rope:
                        qi, kj = rotate_pairs(qi, i), rotate_pairs(kj, j)
                    score = (qi @ kj) / math.sqrt(head.head_size)
                    if start_bias is not None:
                        score = score + start_bias[b, c, i] + end_bias[b, c, j]
                    if head.span_content:
                        pooled = X[b, i : j + 1].mean(0)
                        score = score + pooled @ head.content.weight[c] + head.content.bias[c]
                    out[b, c, i, j] = float(score.detach())
    return out


def with_random_content(head):
    """The content term starts at zero; give it values a mistake would show in."""
    with torch.no_grad():
        for name, param in head.named_parameters():
            if name.startswith("content"):
                param.normal_()
    return head


@pytest.mark.parametrize("head_name", HEADS)
@pytest.mark.parametrize("rope", [True, False])
@pytest.mark.parametrize("max_span_length", [0, 1, 3, 50])
def test_scores_match_brute_force(head_name, rope, max_span_length):
    torch.manual_seed(0)
    head = build_head(head_name, input_width=6, n_labels=3, head_size=4, rope=rope).double()
    X = torch.randn(3, 7, 6, dtype=torch.float64)
    lengths = [7, 4, 1]
    W = band_width(7, max_span_length)
    scores = head(X, torch.tensor(lengths), W).detach()
    assert scores.shape == (3, 3, 7, W)
    expected = brute_force(head, X, lengths, W)
    fill = torch.finfo(scores.dtype).min
    for b in range(3):
        for c in range(3):
            for i in range(7):
                for w in range(W):
                    got = float(scores[b, c, i, w])
                    if (b, c, i, i + w) in expected:
                        assert got == pytest.approx(expected[b, c, i, i + w], abs=1e-5)
                    else:
                        assert got == fill
    assert len(expected) == int((scores > fill).sum())


@pytest.mark.parametrize("head_name", HEADS)
@pytest.mark.parametrize("rope", [True, False])
@pytest.mark.parametrize("max_span_length", [0, 12])
def test_span_content_matches_brute_force(head_name, rope, max_span_length):
    """The content term against each span's mean vector pooled by a loop,
    both heads, RoPE on and off, whole band and limited."""
    torch.manual_seed(5)
    head = build_head(head_name, 6, 2, 4, rope, span_content=True)
    head = with_random_content(head.double())
    X = torch.randn(2, 21, 6, dtype=torch.float64)
    lengths = [21, 9]
    W = band_width(21, max_span_length)
    scores = head(X, torch.tensor(lengths), W).detach()
    expected = brute_force(head, X, lengths, W)
    assert len(expected) == int((scores > torch.finfo(scores.dtype).min).sum())
    for (b, c, i, j), value in expected.items():
        assert float(scores[b, c, i, j - i]) == pytest.approx(value, abs=1e-9)


@pytest.mark.parametrize("head_name", HEADS)
@pytest.mark.parametrize("rope", [True, False])
def test_span_content_chunked_equals_whole(head_name, rope):
    """Scores of starts chunk by chunk (each chunk given only the rows it
    reads, from its offset) equal the whole doc's, with the content term."""
    torch.manual_seed(6)
    head = with_random_content(build_head(head_name, 5, 3, 4, rope, span_content=True).double())
    X = torch.randn(2, 40, 5, dtype=torch.float64)
    n, W, T = torch.tensor([40, 23]), 9, 7
    whole = head(X, n, W)
    parts = [head(X[:, s : s + T + W - 1], n, W, offset=s, n_starts=min(T, 40 - s)) for s in range(0, 40, T)]
    assert torch.allclose(torch.cat(parts, dim=2), whole, rtol=0, atol=1e-12)


@pytest.mark.parametrize("head_name", HEADS)
def test_span_content_starts_at_zero(head_name):
    """An untrained head with the content term scores as the same head without."""
    torch.manual_seed(7)
    plain = build_head(head_name, 6, 2, 4, True)
    with_content = build_head(head_name, 6, 2, 4, True, span_content=True)
    with_content.load_state_dict(plain.state_dict(), strict=False)
    X, n = torch.randn(2, 10, 6), torch.tensor([10, 4])
    assert torch.equal(plain(X, n, 5), with_content(X, n, 5))


def test_long_doc_crosses_matmul_blocks():
    """Band scoring in several blocks of starts equals full scoring restricted to the band."""
    from spacy_globalpointer.ml.pytorch.band import STARTS_PER_MATMUL

    torch.manual_seed(1)
    head = build_head("GlobalPointer", 5, 2, 4, True).double()
    X = torch.randn(1, 2 * STARTS_PER_MATMUL + 7, 5, dtype=torch.float64)
    n = torch.tensor([X.shape[1]])
    full = head(X, n)
    band = head(X, n, 9)
    assert full.shape[-1] == X.shape[1] and band.shape[-1] == 9
    # band cell (i, w) is the span i..i+w in both layouts
    assert torch.allclose(band, full[..., :9])


@pytest.mark.parametrize("head_name", HEADS)
def test_rope_depends_on_distance_only(head_name):
    """Identical token vectors at every position: with RoPE a span's score
    depends on its length (j - i) only; without RoPE it is the same everywhere."""
    torch.manual_seed(2)
    X = torch.randn(1, 1, 8, dtype=torch.float64).expand(1, 12, 8).contiguous()
    n = torch.tensor([12])
    with_rope = build_head(head_name, 8, 2, 8, True).double()(X, n)
    for w in range(12):
        valid = with_rope[0, :, : 12 - w, w]
        assert torch.allclose(valid, valid[:, :1].expand_as(valid), atol=1e-6)
    # and it does vary with the distance
    assert not torch.allclose(with_rope[0, :, 0, 0], with_rope[0, :, 0, 5])
    without = build_head(head_name, 8, 2, 8, False).double()(X, n)
    flat = without[0][without[0] > torch.finfo(torch.float64).min].reshape(2, -1)
    assert torch.allclose(flat, flat[:, :1].expand_as(flat))


def test_rotary_preserves_norm_and_relative_dot():
    torch.manual_seed(3)
    q, k = torch.randn(2, 10, 6, dtype=torch.float64)
    rq = rotary(q)
    assert torch.allclose(rq.norm(dim=-1), q.norm(dim=-1))
    # shifting both positions by the same amount keeps the dot product
    same = q[3].expand(10, 6).contiguous(), k[5].expand(10, 6).contiguous()
    a, b = rotary(same[0]), rotary(same[1])
    assert torch.allclose(a[2] @ b[4], a[6] @ b[8], atol=1e-6)


@pytest.mark.parametrize("head_name", HEADS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("span_content", [False, True])
def test_half_precision_finite(head_name, dtype, span_content):
    torch.manual_seed(4)
    head = with_random_content(build_head(head_name, 16, 4, 8, True, span_content=span_content)).to(dtype)
    X = (torch.randn(3, 20, 16) * 30).to(dtype)
    lengths = torch.tensor([20, 5, 0])
    scores = head(X, lengths)
    assert scores.dtype == dtype
    assert torch.isfinite(scores).all()
    # masked cells are never positive, whatever the inputs
    assert (scores[1, :, 5:] < 0).all() and (scores[2] < 0).all()


def test_mask_never_positive_for_padding_or_reversed_spans():
    torch.manual_seed(5)
    head = build_head("EfficientGlobalPointer", 4, 2, 4, False)
    with torch.no_grad():
        head.bias.bias.fill_(1e4)  # a huge positive bias everywhere
    scores = head(torch.randn(2, 6, 4), torch.tensor([6, 3]))
    # doc 1 has 3 tokens: any span reaching past token 2 is padding
    i = torch.arange(6)[:, None] + torch.arange(6)[None, :]
    assert (scores[1][:, i >= 3] < 0).all()
    assert (scores[0][:, i >= 6] < 0).all()
    assert (scores[0][:, i < 6] > 0).all()


def test_empty_batch_and_empty_docs():
    head = build_head("GlobalPointer", 4, 2, 4, True)
    assert head(torch.zeros(2, 0, 4), torch.tensor([0, 0])).shape == (2, 2, 0, 0)


@pytest.mark.parametrize(
    "head,head_size,rope,msg",
    [
        ("Global", 64, True, "EfficientGlobalPointer"),
        ("GlobalPointer", 7, True, "even"),
        ("GlobalPointer", 0, False, "positive"),
    ],
)
def test_bad_head_settings(head, head_size, rope, msg):
    with pytest.raises(ValueError, match=msg):
        check_head_args(head, head_size, rope)


def test_odd_head_size_without_rope_is_fine():
    check_head_args("GlobalPointer", 7, False)
    assert build_head("GlobalPointer", 4, 2, 7, False)(torch.randn(1, 3, 4), torch.tensor([3])).shape == (
        1,
        2,
        3,
        3,
    )
