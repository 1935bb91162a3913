"""Independently written *correct* implementations of the nn contracts; every check must accept them all."""

import math

import torch
import torch.nn.functional as F
from torch import nn

import cs502_lib

# --------------------------------------------------------------------------- rnn_cell


def rnn_addmm(x, h, W_xh, W_hh, b_h):
    return torch.tanh(torch.addmm(b_h, x, W_xh) + torch.mm(h, W_hh))


def rnn_float64(x, h, W_xh, W_hh, b_h):
    z = x.double() @ W_xh.double() + h.double() @ W_hh.double() + b_h.double()
    return torch.tanh(z).to(x.dtype)


def rnn_einsum(x, h, W_xh, W_hh, b_h):
    pre = torch.einsum("bd,dh->bh", x, W_xh) + torch.einsum("bk,kh->bh", h, W_hh)
    return (pre + b_h.unsqueeze(0)).tanh()


# --------------------------------------------------------------------------- lstm_cell


def lstm_slices(x, h, c, W_x, W_h, b):
    H = h.shape[1]
    z = x @ W_x + h @ W_h + b
    i = torch.sigmoid(z[:, :H])
    f = torch.sigmoid(z[:, H:2 * H])
    g = torch.tanh(z[:, 2 * H:3 * H])
    o = torch.sigmoid(z[:, 3 * H:])
    c_new = f * c + i * g
    return o * torch.tanh(c_new), c_new


def lstm_split(x, h, c, W_x, W_h, b):
    i, f, g, o = torch.split(torch.cat([x, h], dim=1) @ torch.cat([W_x, W_h], dim=0) + b, h.shape[-1], dim=-1)
    c_new = torch.addcmul(f.sigmoid() * c, i.sigmoid(), g.tanh())
    return o.sigmoid() * c_new.tanh(), c_new


def lstm_view(x, h, c, W_x, W_h, b):
    B, H = h.shape
    z = (x @ W_x + h @ W_h + b).view(B, 4, H)
    gates = torch.sigmoid(z)
    g = torch.tanh(z[:, 2])
    c_new = gates[:, 1] * c + gates[:, 0] * g
    h_new = gates[:, 3] * torch.tanh(c_new)
    return (h_new, c_new)


# --------------------------------------------------------------------------- scaled_dot_product_attention


def sdpa_einsum(q, k, v, mask=None):
    scores = torch.einsum("...qd,...kd->...qk", q, k) / math.sqrt(q.size(-1))
    if mask is not None:
        scores = scores.masked_fill(mask == False, -1e9)  # noqa: E712
    weights = F.softmax(scores, dim=-1)
    return torch.einsum("...qk,...kv->...qv", weights, v), weights


def sdpa_bias_float64(q, k, v, mask=None):
    qd, kd, vd = q.double(), k.double(), v.double()
    scores = qd @ kd.transpose(-1, -2) * (q.shape[-1] ** -0.5)
    if mask is not None:
        bias = torch.zeros(mask.shape, dtype=torch.float64, device=q.device).masked_fill(~mask, float("-inf"))
        scores = scores + bias
    w = scores.softmax(-1)
    return (w @ vd).to(q.dtype), w.to(q.dtype)


def sdpa_where_manual_softmax(q, k, v, mask=None):
    s = torch.matmul(q, k.transpose(-2, -1)) / torch.sqrt(torch.tensor(q.shape[-1], dtype=q.dtype))
    if mask is not None:
        s = torch.where(mask, s, torch.full_like(s, float("-inf")))
    s = s - s.amax(dim=-1, keepdim=True)
    e = torch.exp(s)
    w = e / e.sum(dim=-1, keepdim=True)
    return torch.matmul(w, v), w


# --------------------------------------------------------------------------- MultiHeadAttention


class MHALoopOverHeads(nn.Module):
    """One head at a time over feature slices, with cs502_lib's attention as a building block."""

    def __init__(self, d_model, num_heads):
        super().__init__()
        if d_model % num_heads != 0:
            raise ValueError("d_model must be a multiple of num_heads")
        self.h, self.d_k = num_heads, d_model // num_heads
        self.w_q, self.w_k, self.w_v, self.w_o = (nn.Linear(d_model, d_model) for _ in range(4))

    def forward(self, query, key, value, mask=None):
        q, k, v = self.w_q(query), self.w_k(key), self.w_v(value)
        outs, ws = [], []
        for head in range(self.h):
            sl = slice(head * self.d_k, (head + 1) * self.d_k)
            m = None
            if mask is not None:
                m = mask
                while m.dim() < 4:
                    m = m.unsqueeze(0)
                m = m[:, head] if m.shape[1] > 1 else m[:, 0]
            o, w = cs502_lib.scaled_dot_product_attention(q[..., sl], k[..., sl], v[..., sl], m)
            outs.append(o)
            ws.append(w)
        return self.w_o(torch.cat(outs, dim=-1)), torch.stack(ws, dim=1)


class MHAEinsum(nn.Module):
    def __init__(self, d_model, num_heads):
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"{d_model} is not divisible by {num_heads}")
        self.num_heads = num_heads
        self.w_q = nn.Linear(d_model, d_model)
        self.w_k = nn.Linear(d_model, d_model)
        self.w_v = nn.Linear(d_model, d_model)
        self.w_o = nn.Linear(d_model, d_model)

    def forward(self, query, key, value, mask=None):
        B, Lq, D = query.shape
        H = self.num_heads
        q = self.w_q(query).reshape(B, Lq, H, D // H)
        k = self.w_k(key).reshape(B, key.shape[1], H, D // H)
        v = self.w_v(value).reshape(B, value.shape[1], H, D // H)
        s = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(D // H)
        if mask is not None:
            s = s.masked_fill(~mask, float("-inf"))
        w = s.softmax(dim=-1)
        out = torch.einsum("bhqk,bkhd->bqhd", w, v).reshape(B, Lq, D)
        return self.w_o(out), w


class MHAPermute(nn.Module):
    def __init__(self, d_model, num_heads):
        super().__init__()
        if d_model % num_heads != 0:
            raise ValueError("num_heads must divide d_model")
        self.d_model, self.n = d_model, num_heads
        for name in ("w_q", "w_k", "w_v", "w_o"):
            setattr(self, name, nn.Linear(d_model, d_model, bias=True))

    def _heads(self, x):
        B, L, _ = x.shape
        return x.reshape(B, L, self.n, -1).permute(0, 2, 1, 3)

    def forward(self, query, key, value, mask=None):
        q, k, v = self._heads(self.w_q(query)), self._heads(self.w_k(key)), self._heads(self.w_v(value))
        out, w = sdpa_where_manual_softmax(q, k, v, mask)
        out = out.permute(0, 2, 1, 3).flatten(2)
        return self.w_o(out), w


# --------------------------------------------------------------------------- positional encoding


def pe_exp_log(max_len, d_model):
    if d_model % 2:
        raise ValueError("d_model must be even")
    pos = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(max_len, d_model)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe


def pe_loops(max_len, d_model):
    if d_model % 2 == 1:
        raise ValueError(f"odd d_model {d_model}")
    pe = torch.empty(max_len, d_model)
    for p in range(max_len):
        for i in range(d_model // 2):
            angle = p / 10000 ** (2 * i / d_model)
            pe[p, 2 * i] = math.sin(angle)
            pe[p, 2 * i + 1] = math.cos(angle)
    return pe


def pe_stack_interleave(max_len, d_model):
    if d_model % 2:
        raise ValueError("need an even d_model")
    p = torch.arange(max_len, dtype=torch.float64)[:, None]
    freq = 10000.0 ** (-torch.arange(d_model // 2, dtype=torch.float64) * 2 / d_model)
    ang = p * freq
    return torch.stack([ang.sin(), ang.cos()], dim=-1).reshape(max_len, d_model).float()


# --------------------------------------------------------------------------- masks


def causal_tril(n, device=None):
    return torch.tril(torch.ones(n, n, dtype=torch.bool, device=device))


def causal_compare(n, device=None):
    idx = torch.arange(n, device=device)
    return idx[None, :] <= idx[:, None]


def causal_not_triu(n, device=None):
    return ~torch.ones((n, n), device=device).triu(diagonal=1).bool()


def padding_arange(lengths, max_len):
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def padding_tolist(lengths, max_len):
    rows = [[p < n for p in range(max_len)] for n in lengths.tolist()]
    return torch.tensor(rows, dtype=torch.bool, device=lengths.device).reshape(len(rows), max_len)


def padding_expand(lengths, max_len):
    pos = torch.arange(max_len, device=lengths.device).expand(lengths.shape[0], max_len)
    return pos.lt(lengths.unsqueeze(-1).long())


# --------------------------------------------------------------------------- transformer layers


class EncoderWithLibraryMHA(nn.Module):
    """cs502_lib's MultiHeadAttention as a building block (allowed); F.dropout with training=self.training."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__()
        self.self_attn = cs502_lib.MultiHeadAttention(d_model, num_heads)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.p = dropout

    def forward(self, x, mask=None):
        a, _ = self.self_attn(x, x, x, mask)
        x = self.norm1(x + F.dropout(a, self.p, training=self.training))
        return self.norm2(x + F.dropout(self.ffn(x), self.p, training=self.training))


class EncoderWithOwnMHA(nn.Module):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__()
        self.self_attn = MHAEinsum(d_model, num_heads)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x, mask=None):
        residual = x
        x = self.self_attn(x, x, x, mask=mask)[0]
        x = self.norm1(residual + self.dropout(x))
        residual = x
        return self.norm2(residual + self.dropout(self.ffn(x)))


class EncoderFunctionalNorm(nn.Module):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__()
        self.self_attn = MHALoopOverHeads(d_model, num_heads)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, mask=None):
        n1 = self.norm1
        x = F.layer_norm(x + self.dropout(self.self_attn(x, x, x, mask)[0]), n1.normalized_shape, n1.weight, n1.bias,
                         n1.eps)
        return self.norm2(self.dropout(self.ffn(x)) + x)


class DecoderWithLibraryMHA(nn.Module):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__()
        self.self_attn = cs502_lib.MultiHeadAttention(d_model, num_heads)
        self.cross_attn = cs502_lib.MultiHeadAttention(d_model, num_heads)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model) for _ in range(3))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        x = self.norm1(x + self.dropout(self.self_attn(x, x, x, tgt_mask)[0]))
        x = self.norm2(x + self.dropout(self.cross_attn(x, memory, memory, memory_mask)[0]))
        return self.norm3(x + self.dropout(self.ffn(x)))


class DecoderWithOwnMHA(nn.Module):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__()
        self.self_attn = MHAPermute(d_model, num_heads)
        self.cross_attn = MHAEinsum(d_model, num_heads)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def _sublayer(self, x, y, norm):
        return norm(x + self.dropout(y))

    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        x = self._sublayer(x, self.self_attn(x, x, x, mask=tgt_mask)[0], self.norm1)
        x = self._sublayer(x, self.cross_attn(x, memory, memory, mask=memory_mask)[0], self.norm2)
        return self._sublayer(x, self.ffn(x), self.norm3)


class DecoderLoopHeads(nn.Module):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__()
        self.self_attn = MHALoopOverHeads(d_model, num_heads)
        self.cross_attn = MHALoopOverHeads(d_model, num_heads)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        h = self.norm1(x + self.dropout(self.self_attn(x, x, x, tgt_mask)[0]))
        h = self.norm2(h + self.dropout(self.cross_attn(h, memory, memory, memory_mask)[0]))
        return self.norm3(h + self.dropout(self.ffn(h)))


CORRECT = {
    "check_rnn_cell": [rnn_addmm, rnn_float64, rnn_einsum],
    "check_lstm_cell": [lstm_slices, lstm_split, lstm_view],
    "check_scaled_dot_product_attention": [sdpa_einsum, sdpa_bias_float64, sdpa_where_manual_softmax],
    "check_multi_head_attention": [MHALoopOverHeads, MHAEinsum, MHAPermute],
    "check_positional_encoding": [pe_exp_log, pe_loops, pe_stack_interleave],
    "check_causal_mask": [causal_tril, causal_compare, causal_not_triu],
    "check_padding_mask": [padding_arange, padding_tolist, padding_expand],
    "check_encoder_layer": [EncoderWithLibraryMHA, EncoderWithOwnMHA, EncoderFunctionalNorm],
    "check_decoder_layer": [DecoderWithLibraryMHA, DecoderWithOwnMHA, DecoderLoopHeads],
}
