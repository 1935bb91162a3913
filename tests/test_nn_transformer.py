"""EncoderLayer / DecoderLayer against PyTorch's post-LN layers; the full Transformer; errors."""

import pytest
import torch
from torch import nn

from cs502_lib import DecoderLayer, EncoderLayer, MultiHeadAttention, Transformer, causal_mask, padding_mask

ATOL = 1e-5


def _copy_mha(ours: MultiHeadAttention, ref: nn.MultiheadAttention) -> None:
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.w_q.weight, ours.w_k.weight, ours.w_v.weight]))
        ref.in_proj_bias.copy_(torch.cat([ours.w_q.bias, ours.w_k.bias, ours.w_v.bias]))
        ref.out_proj.weight.copy_(ours.w_o.weight)
        ref.out_proj.bias.copy_(ours.w_o.bias)


def _copy_common(ours, ref) -> None:
    with torch.no_grad():
        ref.linear1.load_state_dict(ours.ffn[0].state_dict())
        ref.linear2.load_state_dict(ours.ffn[2].state_dict())
        ref.norm1.load_state_dict(ours.norm1.state_dict())
        ref.norm2.load_state_dict(ours.norm2.state_dict())


def _encoder_pair(d, h, ff, dropout=0.0):
    ours = EncoderLayer(d, h, ff, dropout=dropout)
    ref = nn.TransformerEncoderLayer(d, h, ff, dropout=dropout, batch_first=True, norm_first=False)
    _copy_mha(ours.self_attn, ref.self_attn)
    _copy_common(ours, ref)
    return ours, ref


def _decoder_pair(d, h, ff, dropout=0.0):
    ours = DecoderLayer(d, h, ff, dropout=dropout)
    ref = nn.TransformerDecoderLayer(d, h, ff, dropout=dropout, batch_first=True, norm_first=False)
    _copy_mha(ours.self_attn, ref.self_attn)
    _copy_mha(ours.cross_attn, ref.multihead_attn)
    _copy_common(ours, ref)
    with torch.no_grad():
        ref.norm3.load_state_dict(ours.norm3.state_dict())
    return ours, ref


@pytest.mark.parametrize("B,L,d,h,ff", [(2, 7, 16, 4, 32), (1, 1, 8, 2, 8), (3, 5, 12, 3, 24)])
def test_encoder_layer_matches_torch_eval(B, L, d, h, ff):
    ours, ref = _encoder_pair(d, h, ff, dropout=0.1)
    ours.eval(), ref.eval()
    x = torch.randn(B, L, d)
    lengths = torch.randint(1, L + 1, (B,))
    pad = padding_mask(lengths, L)
    torch.testing.assert_close(ours(x), ref(x), atol=ATOL, rtol=0)
    torch.testing.assert_close(
        ours(x, pad[:, None, None, :])[pad], ref(x, src_key_padding_mask=~pad)[pad], atol=ATOL, rtol=0
    )


def test_encoder_layer_gradients_match_torch():
    ours, ref = _encoder_pair(16, 4, 32, dropout=0.0)
    x = torch.randn(2, 6, 16, requires_grad=True)
    mask = causal_mask(6)
    g = torch.randn(2, 6, 16)
    (gx,) = torch.autograd.grad(ours(x, mask), x, g)
    (rx,) = torch.autograd.grad(ref(x, src_mask=~mask), x, g)
    torch.testing.assert_close(gx, rx, atol=ATOL, rtol=0)
    w_ours = torch.autograd.grad(ours(x, mask).mul(g).sum(), ours.ffn[0].weight)[0]
    w_ref = torch.autograd.grad(ref(x, src_mask=~mask).mul(g).sum(), ref.linear1.weight)[0]
    torch.testing.assert_close(w_ours, w_ref, atol=ATOL, rtol=0)


@pytest.mark.parametrize("B,Lt,Ls,d,h,ff", [(2, 5, 7, 16, 4, 32), (1, 1, 1, 8, 2, 8), (3, 6, 4, 12, 3, 24)])
def test_decoder_layer_matches_torch(B, Lt, Ls, d, h, ff):
    ours, ref = _decoder_pair(d, h, ff)
    x = torch.randn(B, Lt, d, requires_grad=True)
    mem = torch.randn(B, Ls, d, requires_grad=True)
    tgt_mask = causal_mask(Lt)
    mem_pad = padding_mask(torch.randint(1, Ls + 1, (B,)), Ls)
    out = ours(x, mem, tgt_mask, mem_pad[:, None, None, :])
    rout = ref(x, mem, tgt_mask=~tgt_mask, memory_key_padding_mask=~mem_pad)
    torch.testing.assert_close(out, rout, atol=ATOL, rtol=0)
    g = torch.randn_like(out)
    ours_g = torch.autograd.grad(out, (x, mem), g)
    ref_g = torch.autograd.grad(rout, (x, mem), g)
    for a, b in zip(ours_g, ref_g):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)
    assert ours.cross_attn_weights.shape == (B, h, Lt, Ls)


def test_layers_are_deterministic_in_eval_mode_and_dropout_acts_in_train_mode():
    layer = EncoderLayer(16, 4, 32, dropout=0.5)
    x = torch.randn(2, 5, 16)
    layer.eval()
    assert torch.equal(layer(x), layer(x))
    layer.train()
    assert not torch.equal(layer(x), layer(x))


def test_layer_errors():
    with pytest.raises(ValueError, match="divisible by num_heads"):
        EncoderLayer(10, 4, 20)
    with pytest.raises(ValueError, match="d_ff must be a positive integer"):
        DecoderLayer(8, 2, 0)
    with pytest.raises(ValueError, match="dropout must be a probability"):
        EncoderLayer(8, 2, 16, dropout=1.5)
    with pytest.raises(ValueError, match=r"query must have shape \(B, L, d_model=8\)"):
        EncoderLayer(8, 2, 16)(torch.randn(2, 3, 4))


def test_transformer_learns_to_copy_and_greedy_decodes():
    """A 1-layer Transformer learns to copy short sequences; greedy decoding reproduces them."""
    torch.manual_seed(0)
    V, BOS, EOS, PAD = 8, 1, 2, 0
    model = Transformer(V, V, d_model=32, num_heads=4, d_ff=64, num_layers=1, dropout=0.0, max_len=16, pad_id=PAD)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        src = torch.randint(3, V, (32, 5))
        tgt = torch.cat([torch.full((32, 1), BOS), src, torch.full((32, 1), EOS)], 1)
        logits = model(src, tgt[:, :-1])
        loss = nn.functional.cross_entropy(logits.reshape(-1, V), tgt[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    src = torch.randint(3, V, (16, 5))
    out = model.greedy_decode(src, max_len=6, bos_id=BOS, eos_id=EOS)
    assert out.shape[0] == 16 and out[:, 0].eq(BOS).all()
    assert (out[:, 1:6] == src).float().mean() > 0.95
