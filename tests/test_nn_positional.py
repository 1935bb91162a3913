"""Positional encoding and masks: values, properties and errors."""

import math

import pytest
import torch

from cs502_lib import causal_mask, padding_mask, sinusoidal_positional_encoding
from cs502_lib.nn import TokenEmbedding


def test_pe_matches_the_formula_interleaved():
    pe = sinusoidal_positional_encoding(20, 512)
    assert pe.shape == (20, 512) and pe.dtype == torch.float32
    for p in (0, 1, 7, 19):
        for i in (0, 1, 10, 255):
            angle = p / 10000 ** (2 * i / 512)
            assert pe[p, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert pe[p, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)


def test_pe_bounded_and_deterministic():
    a = sinusoidal_positional_encoding(1000, 64)
    b = sinusoidal_positional_encoding(1000, 64)
    assert torch.equal(a, b)
    assert a.abs().max() <= 1.0
    assert torch.equal(sinusoidal_positional_encoding(50, 64), a[:50])  # prefix-consistent across lengths


@pytest.mark.parametrize("k", [1, 3, 17])
def test_pe_shift_is_a_fixed_linear_map(k):
    """PE(p + k) = PE(p) @ M_k for every p, with M_k a block-diagonal rotation that depends on k only."""
    d = 32
    pe = sinusoidal_positional_encoding(200 + k, d).double()
    freqs = 1.0 / 10000 ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
    M = torch.zeros(d, d, dtype=torch.float64)
    for i, w in enumerate(freqs):
        c, s = math.cos(k * w), math.sin(k * w)
        # [sin(a+b), cos(a+b)] = [sin a, cos a] @ [[cos b, -sin b], [sin b, cos b]]
        M[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    torch.testing.assert_close(pe[:200] @ M, pe[k : 200 + k], atol=1e-5, rtol=0)


def test_pe_errors():
    with pytest.raises(ValueError, match="d_model must be even"):
        sinusoidal_positional_encoding(10, 7)
    with pytest.raises(ValueError, match="max_len must be a non-negative integer"):
        sinusoidal_positional_encoding(-1, 8)
    with pytest.raises(ValueError, match="d_model must be a positive integer"):
        sinusoidal_positional_encoding(4, 0)


def test_causal_mask():
    m = causal_mask(4)
    assert m.dtype == torch.bool
    assert m.tolist() == [[j <= i for j in range(4)] for i in range(4)]
    assert causal_mask(3, device="meta").device.type == "meta"
    with pytest.raises(ValueError, match="n must be a non-negative integer"):
        causal_mask(-2)


def test_padding_mask():
    m = padding_mask(torch.tensor([3, 0, 5]), 5)
    assert m.dtype == torch.bool and m.shape == (3, 5)
    assert m.tolist() == [[True] * 3 + [False] * 2, [False] * 5, [True] * 5]
    assert padding_mask([1, 2], 3).tolist() == [[True, False, False], [True, True, False]]
    assert padding_mask(torch.tensor([1, 2], device="meta"), 3).device.type == "meta"


@pytest.mark.parametrize(
    "lengths,max_len,match",
    [
        (torch.tensor([2, -1]), 4, "non-negative"),
        (torch.tensor([2, 5]), 4, "at most max_len=4"),
        (torch.tensor([[1, 2]]), 4, "lengths must have 1 dimensions"),
        (torch.tensor([1.0, 2.0]), 4, "must hold integers"),
        (torch.tensor([1, 2]), -3, "max_len must be a non-negative integer"),
    ],
)
def test_padding_mask_errors(lengths, max_len, match):
    with pytest.raises(ValueError, match=match):
        padding_mask(lengths, max_len)


def test_token_embedding_adds_positions():
    emb = TokenEmbedding(10, 8, max_len=6, dropout=0.0)
    ids = torch.tensor([[1, 1, 1]])
    out = emb(ids)
    expected = emb.embed.weight[1] * math.sqrt(8) + sinusoidal_positional_encoding(3, 8)
    torch.testing.assert_close(out[0], expected)
    with pytest.raises(ValueError, match="exceeds max_len=6"):
        emb(torch.zeros(1, 7, dtype=torch.long))


# --- relative positions: RoPE and ALiBi (chapter 6) ---------------------------------------------------

from cs502_lib.nn.positional import alibi_bias, alibi_slopes, rotary_embedding  # noqa: E402


def test_rope_rotates_each_pair_by_position_times_frequency():
    d, base = 8, 10000.0
    x = torch.randn(5, d, dtype=torch.float64)
    y = rotary_embedding(x)
    for p in range(5):
        for i in range(d // 2):
            a = p * base ** (-2 * i / d)
            c, s = math.cos(a), math.sin(a)
            x0, x1 = x[p, 2 * i].item(), x[p, 2 * i + 1].item()
            assert y[p, 2 * i].item() == pytest.approx(c * x0 - s * x1, abs=1e-12)
            assert y[p, 2 * i + 1].item() == pytest.approx(s * x0 + c * x1, abs=1e-12)
    torch.testing.assert_close(y[0], x[0])  # position 0: no rotation


def test_rope_keeps_lengths_and_scores_depend_only_on_the_offset():
    torch.manual_seed(0)
    q, k = torch.randn(16, dtype=torch.float64), torch.randn(16, dtype=torch.float64)
    n = 40
    qs, ks = rotary_embedding(q.expand(n, 16).clone()), rotary_embedding(k.expand(n, 16).clone())
    torch.testing.assert_close(qs.norm(dim=1), q.norm().expand(n))
    scores = qs @ ks.T  # the same query and key placed at every position
    for offset in (-7, 0, 3, 20):
        diag = torch.diagonal(scores, offset=offset)
        torch.testing.assert_close(diag, diag[0].expand_as(diag))


def test_rope_batches_positions_and_errors():
    x = torch.randn(2, 3, 6, 4)  # (B, heads, L, d_k)
    y = rotary_embedding(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    torch.testing.assert_close(y[1, 2], rotary_embedding(x[1, 2]))
    shifted = rotary_embedding(x[0, 0], positions=torch.arange(10, 16))
    torch.testing.assert_close(shifted, rotary_embedding(torch.cat([torch.zeros(10, 4), x[0, 0]]))[10:])
    with pytest.raises(ValueError, match="must be even"):
        rotary_embedding(torch.randn(3, 5))
    with pytest.raises(ValueError, match="one entry per row"):
        rotary_embedding(torch.randn(3, 4), positions=torch.arange(4))


def test_alibi_slopes_and_bias():
    torch.testing.assert_close(alibi_slopes(8), torch.tensor([2.0 ** -(h + 1) for h in range(8)]))
    torch.testing.assert_close(alibi_slopes(4), torch.tensor([2.0 ** (-2 * (h + 1)) for h in range(4)]))
    b = alibi_bias(4, 5)
    assert b.shape == (4, 5, 5) and b.dtype == torch.float32
    for h, m in enumerate(alibi_slopes(4).tolist()):
        for i in range(5):
            for j in range(5):
                assert b[h, i, j].item() == pytest.approx(-m * abs(i - j))
    c = alibi_bias(2, 4, causal=True)
    assert torch.isinf(c[:, 0, 1:]).all() and torch.equal(c[:, 3], alibi_bias(2, 4)[:, 3])
    with pytest.raises(ValueError, match="num_heads must be a positive integer"):
        alibi_bias(0, 3)
