"""scaled_dot_product_attention and MultiHeadAttention against PyTorch, plus their properties."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cs502_lib import MultiHeadAttention, causal_mask, padding_mask, scaled_dot_product_attention

ATOL = 1e-5


@pytest.mark.parametrize(
    "qshape,kshape,vshape",
    [
        ((2, 5, 8), (2, 5, 8), (2, 5, 8)),
        ((1, 1, 1), (1, 1, 1), (1, 1, 1)),
        ((3, 4, 6), (3, 9, 6), (3, 9, 2)),  # Lq != Lk, d_v != d_k
        ((2, 3, 4, 7, 5), (2, 3, 4, 6, 5), (2, 3, 4, 6, 3)),  # extra batch dims
        ((7, 4), (9, 4), (9, 4)),  # no batch dim
    ],
)
def test_sdpa_matches_torch_no_mask(qshape, kshape, vshape):
    q = torch.randn(qshape, requires_grad=True)
    k = torch.randn(kshape, requires_grad=True)
    v = torch.randn(vshape, requires_grad=True)
    out, w = scaled_dot_product_attention(q, k, v)
    ref = F.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(out, ref, atol=ATOL, rtol=0)
    expected_w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), -1)
    torch.testing.assert_close(w, expected_w, atol=ATOL, rtol=0)
    g = torch.randn_like(ref)
    ours = torch.autograd.grad(out, (q, k, v), g)
    theirs = torch.autograd.grad(ref, (q, k, v), g)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


@pytest.mark.parametrize(
    "mask_fn",
    [
        lambda B, Lq, Lk: causal_mask(Lq)[:, :Lk] | (torch.arange(Lk) == 0),  # (Lq, Lk)
        lambda B, Lq, Lk: torch.rand(B, Lq, Lk) > 0.4,  # full mask
        lambda B, Lq, Lk: (torch.arange(Lk) < 3).expand(B, 1, Lk),  # key padding (B, 1, Lk)
    ],
)
def test_sdpa_matches_torch_with_boolean_masks(mask_fn):
    B, Lq, Lk, d = 3, 6, 6, 4
    q, k, v = (torch.randn(B, L, d, requires_grad=True) for L in (Lq, Lk, Lk))
    mask = mask_fn(B, Lq, Lk)
    mask = mask | (torch.arange(Lk) == 0)  # never a fully masked row
    out, w = scaled_dot_product_attention(q, k, v, mask)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(out, ref, atol=ATOL, rtol=0)
    assert torch.all(w.masked_select(~mask.expand_as(w)) == 0)
    ours = torch.autograd.grad(out.sum(), (q, k, v))
    theirs = torch.autograd.grad(ref.sum(), (q, k, v))
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


def test_attention_rows_sum_to_one():
    q, k, v = torch.randn(4, 7, 8), torch.randn(4, 9, 8), torch.randn(4, 9, 8)
    mask = torch.rand(4, 7, 9) > 0.5
    mask[..., 0] = True
    for m in (None, mask):
        _, w = scaled_dot_product_attention(q, k, v, m)
        torch.testing.assert_close(w.sum(-1), torch.ones(4, 7))


def test_causal_mask_never_leaks_the_future():
    L = 8
    x = torch.randn(2, L, 16)
    mha = MultiHeadAttention(16, 4).eval()
    out, _ = mha(x, x, x, causal_mask(L))
    for t in range(L - 1):
        y = x.clone()
        y[:, t + 1 :] = torch.randn_like(y[:, t + 1 :])
        out2, _ = mha(y, y, y, causal_mask(L))
        torch.testing.assert_close(out2[:, : t + 1], out[:, : t + 1], atol=ATOL, rtol=0)


def test_padded_keys_change_nothing():
    B, L, d = 3, 7, 16
    lengths = torch.tensor([7, 4, 2])
    x = torch.randn(B, L, d)
    mha = MultiHeadAttention(d, 2).eval()
    mask = padding_mask(lengths, L)[:, None, None, :]
    out, w = mha(x, x, x, mask)
    y = x.clone()
    for b, n in enumerate(lengths.tolist()):
        y[b, n:] = 100 * torch.randn(L - n, d)
    out2, _ = mha(y, y, y, mask)
    for b, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(out2[b, :n], out[b, :n], atol=ATOL, rtol=0)
        assert torch.all(w[b, ..., n:] == 0)


def _copy_to_torch(ours: MultiHeadAttention) -> nn.MultiheadAttention:
    d = ours.d_model
    ref = nn.MultiheadAttention(d, ours.num_heads, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.w_q.weight, ours.w_k.weight, ours.w_v.weight]))
        ref.in_proj_bias.copy_(torch.cat([ours.w_q.bias, ours.w_k.bias, ours.w_v.bias]))
        ref.out_proj.weight.copy_(ours.w_o.weight)
        ref.out_proj.bias.copy_(ours.w_o.bias)
    return ref


@pytest.mark.parametrize("B,Lq,Lk,d,h", [(2, 5, 5, 16, 4), (1, 1, 3, 8, 8), (3, 6, 9, 12, 3), (2, 4, 4, 8, 1)])
def test_mha_matches_nn_multihead_attention(B, Lq, Lk, d, h):
    ours = MultiHeadAttention(d, h)
    ref = _copy_to_torch(ours)
    q = torch.randn(B, Lq, d, requires_grad=True)
    kv = torch.randn(B, Lk, d, requires_grad=True)
    out, w = ours(q, kv, kv)
    rout, rw = ref(q, kv, kv, average_attn_weights=False)
    torch.testing.assert_close(out, rout, atol=ATOL, rtol=0)
    torch.testing.assert_close(w, rw, atol=ATOL, rtol=0)
    g = torch.randn_like(out)
    ga = torch.autograd.grad(out, (q, kv, *ours.parameters()), g)
    gb = torch.autograd.grad(rout, (q, kv), g)
    for a, b in zip(ga[:2], gb):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


def test_mha_matches_torch_with_masks():
    B, L, d, h = 3, 6, 16, 4
    ours = MultiHeadAttention(d, h)
    ref = _copy_to_torch(ours)
    x = torch.randn(B, L, d)
    lengths = torch.tensor([6, 3, 5])
    key_pad = padding_mask(lengths, L)
    causal = causal_mask(L)
    out, w = ours(x, x, x, causal & key_pad[:, None, None, :])
    rout, rw = ref(x, x, x, attn_mask=~causal, key_padding_mask=~key_pad, average_attn_weights=False)
    torch.testing.assert_close(out, rout, atol=ATOL, rtol=0)
    torch.testing.assert_close(w, rw, atol=ATOL, rtol=0)


def test_fused_path_equals_explicit_path():
    torch.manual_seed(3)
    a = MultiHeadAttention(16, 4)
    b = MultiHeadAttention(16, 4, fused=True)
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 5, 16)
    m = causal_mask(5)
    torch.testing.assert_close(a(x, x, x, m)[0], b(x, x, x, m)[0], atol=ATOL, rtol=0)


def test_attention_without_positions_is_permutation_equivariant():
    mha = MultiHeadAttention(8, 2)
    x = torch.randn(1, 6, 8)
    perm = torch.randperm(6)
    out, _ = mha(x, x, x)
    out_p, _ = mha(x[:, perm], x[:, perm], x[:, perm])
    torch.testing.assert_close(out_p, out[:, perm], atol=ATOL, rtol=0)


def test_sdpa_errors():
    q = torch.randn(2, 3, 4)
    with pytest.raises(ValueError, match="same feature size d_k"):
        scaled_dot_product_attention(q, torch.randn(2, 3, 5), torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match="same number of keys Lk"):
        scaled_dot_product_attention(q, torch.randn(2, 3, 4), torch.randn(2, 4, 4))
    with pytest.raises(ValueError, match="must broadcast together"):
        scaled_dot_product_attention(q, torch.randn(3, 3, 4), torch.randn(3, 3, 4))
    with pytest.raises(ValueError, match="cannot be broadcast"):
        scaled_dot_product_attention(q, q, q, torch.ones(2, 4, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="must be a torch.bool tensor"):
        scaled_dot_product_attention(q, q, q, torch.ones(3, 3))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        scaled_dot_product_attention(torch.randn(4), q, q)


def test_mha_errors():
    with pytest.raises(ValueError, match="divisible by num_heads"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match="num_heads must be a positive integer"):
        MultiHeadAttention(8, 0)
    mha = MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match=r"query must have shape \(B, L, d_model=8\)"):
        mha(torch.randn(2, 3, 6), torch.randn(2, 3, 8), torch.randn(2, 3, 8))
    with pytest.raises(ValueError, match="key and value must share"):
        mha(torch.randn(2, 3, 8), torch.randn(2, 3, 8), torch.randn(2, 4, 8))
    with pytest.raises(ValueError, match="cannot be broadcast"):
        mha(torch.randn(2, 3, 8), torch.randn(2, 3, 8), torch.randn(2, 3, 8), torch.ones(3, 3, 3, dtype=torch.bool))
