"""The nn contracts written in the styles students bring from elsewhere, adapted only to the contract's names.

Each function or class below is written for this catalogue from a reading of how such
code usually looks (a d2l-like head split, an Annotated-Transformer-like sublayer and
hand-written layer norm, fairseq-like sinusoid halves and pre-scaled queries, a
minGPT-like causal buffer, CS231n-like cells); none is copied from those projects.

``CORRECT`` holds the styles that are equivalent to the contract (every check must
accept them); ``MUTANTS`` the ones that are not, with words their failure must contain.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

# --------------------------------------------------------------------------- recurrent cells (CS231n-like)


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    return torch.tanh(x.mm(Wx) + prev_h.mm(Wh) + b)


def rnn_named_squeeze(x, h, W_xh, W_hh, b_h):
    """An unsqueeze and the matching squeeze of that one dimension: harmless at batch size 1."""
    pre = (x.unsqueeze(1) @ W_xh).squeeze(1) + (h.unsqueeze(1) @ W_hh).squeeze(1)
    return torch.tanh(pre + b_h)


def rnn_squeezes_everything(x, h, W_xh, W_hh, b_h):
    return torch.tanh(x @ W_xh + h @ W_hh + b_h).squeeze()


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    H = prev_h.shape[1]
    a = x.mm(Wx) + prev_h.mm(Wh) + b
    ai, af, ag, ao = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
    next_c = torch.sigmoid(af) * prev_c + torch.sigmoid(ai) * torch.tanh(ag)
    return torch.sigmoid(ao) * torch.tanh(next_c), next_c


def lstm_squeeze_then_last_dim(x, h, c, W_x, W_h, b):
    """`.squeeze()` then chunks over the last dimension: still right at batch size 1."""
    i, f, g, o = (x @ W_x + h @ W_h + b).squeeze().chunk(4, dim=-1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_new), c_new


def lstm_squeeze_then_dim1(x, h, c, W_x, W_h, b):
    i, f, g, o = (x @ W_x + h @ W_h + b).squeeze().chunk(4, dim=1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_new), c_new


def lstm_forgets_the_cell(x, h, c, W_x, W_h, b):
    i, f, g, o = (x @ W_x + h @ W_h + b).chunk(4, dim=1)
    c_new = torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_new), c_new


def lstm_ifog_slices(x, prev_h, prev_c, Wx, Wh, b):
    """Slices read as i, f, o, g (an order some course notes use); the contract's is i, f, g, o."""
    H = prev_h.shape[1]
    a = x.mm(Wx) + prev_h.mm(Wh) + b
    i, f, o, g = (torch.sigmoid(a[:, :H]), torch.sigmoid(a[:, H:2 * H]), torch.sigmoid(a[:, 2 * H:3 * H]),
                  torch.tanh(a[:, 3 * H:]))
    next_c = f * prev_c + i * g
    return o * torch.tanh(next_c), next_c


# --------------------------------------------------------------------------- scaled dot-product attention


def sdpa_masked_softmax_large_negative(q, k, v, mask=None):
    """Scores filled with -1e6 where masked, as a masked-softmax helper does."""
    scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, -1e6)
    weights = F.softmax(scores, dim=-1)
    return torch.matmul(weights, v), weights


def sdpa_mask_equals_zero(query, key, value, mask=None):
    d_k = query.size(-1)
    scores = torch.matmul(query, key.transpose(-2, -1)) / math.sqrt(d_k)
    if mask is not None:
        scores = scores.masked_fill(mask == 0, -1e9)
    p_attn = scores.softmax(dim=-1)
    return torch.matmul(p_attn, value), p_attn


def sdpa_multiply_by_inverse_sqrt(q, k, v, mask=None):
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
    if mask is not None:
        att = att.masked_fill(mask.logical_not(), float("-inf"))
    att = F.softmax(att, dim=-1)
    return att @ v, att


def sdpa_scale_by_size1(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(1))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    w = scores.softmax(-1)
    return w @ v, w


def sdpa_blank(q, k, v, mask=None):
    raise NotImplementedError()


# --------------------------------------------------------------------------- MultiHeadAttention


class _Projections(nn.Module):
    def __init__(self, d_model, num_heads):
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} is not a multiple of num_heads={num_heads}")
        self.num_heads, self.d_k = num_heads, d_model // num_heads
        self.w_q, self.w_k, self.w_v, self.w_o = (nn.Linear(d_model, d_model) for _ in range(4))


class MHAHeadsInBatch(_Projections):
    """Heads folded into the batch dimension, (B * h, L, d_k), and unfolded at the end."""

    def fold(self, x):
        B, L, _ = x.shape
        return x.reshape(B, L, self.num_heads, self.d_k).permute(0, 2, 1, 3).reshape(B * self.num_heads, L, self.d_k)

    def forward(self, query, key, value, mask=None):
        B, Lq, D = query.shape
        Lk = key.shape[1]
        q, k, v = self.fold(self.w_q(query)), self.fold(self.w_k(key)), self.fold(self.w_v(value))
        scores = torch.bmm(q, k.transpose(1, 2)) / math.sqrt(self.d_k)
        if mask is not None:
            m = mask.expand(B, self.num_heads, Lq, Lk).reshape(B * self.num_heads, Lq, Lk)
            scores = scores.masked_fill(~m, -1e6)
        w = torch.softmax(scores, dim=-1)
        out = torch.bmm(w, v).reshape(B, self.num_heads, Lq, self.d_k).permute(0, 2, 1, 3).reshape(B, Lq, D)
        return self.w_o(out), w.reshape(B, self.num_heads, Lq, Lk)


class MHAScaledQueries(_Projections):
    """The queries are scaled once, right after their projection (in place on the projection's output)."""

    def forward(self, query, key, value, mask=None):
        B, Lq, D = query.shape
        q = self.w_q(query)
        q *= self.d_k ** -0.5
        q = q.view(B, Lq, self.num_heads, self.d_k).transpose(1, 2)
        k = self.w_k(key).view(B, -1, self.num_heads, self.d_k).transpose(1, 2)
        v = self.w_v(value).view(B, -1, self.num_heads, self.d_k).transpose(1, 2)
        scores = q @ k.transpose(-1, -2)
        if mask is not None:
            scores = torch.where(mask, scores, torch.tensor(float("-inf"), dtype=scores.dtype, device=scores.device))
        w = scores.softmax(-1)
        return self.w_o((w @ v).transpose(1, 2).contiguous().view(B, Lq, D)), w


class MHAListComprehension(_Projections):
    """The three projections and head splits in one comprehension, heads merged with contiguous().view()."""

    def forward(self, query, key, value, mask=None):
        n = query.size(0)
        query, key, value = [proj(x).view(n, -1, self.num_heads, self.d_k).transpose(1, 2)
                             for proj, x in zip((self.w_q, self.w_k, self.w_v), (query, key, value))]
        out, attn = sdpa_mask_equals_zero(query, key, value, mask)
        out = out.transpose(1, 2).contiguous().view(n, -1, self.num_heads * self.d_k)
        return self.w_o(out), attn


class MHALazyProjections(nn.Module):
    def __init__(self, d_model, num_heads):
        super().__init__()
        if d_model % num_heads:
            raise ValueError("d_model must be divisible by num_heads")
        self.num_heads = num_heads
        self.w_q, self.w_k, self.w_v, self.w_o = (nn.LazyLinear(d_model) for _ in range(4))

    def forward(self, query, key, value, mask=None):
        return MHAHeadsInBatch.forward(self, query, key, value, mask)


class MHAScaleBySize1(_Projections):
    def forward(self, query, key, value, mask=None):
        B, Lq, D = query.shape
        q = self.w_q(query).view(B, Lq, self.num_heads, self.d_k).transpose(1, 2)
        k = self.w_k(key).view(B, -1, self.num_heads, self.d_k).transpose(1, 2)
        v = self.w_v(value).view(B, -1, self.num_heads, self.d_k).transpose(1, 2)
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(1))
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        w = scores.softmax(-1)
        return self.w_o((w @ v).transpose(1, 2).reshape(B, Lq, D)), w


class MHAProjectionList(nn.Module):
    """Four projections kept in an nn.ModuleList: the contract's names w_q, ... do not exist."""

    def __init__(self, d_model, num_heads):
        super().__init__()
        if d_model % num_heads:
            raise ValueError("d_model % num_heads")
        self.h, self.d_k = num_heads, d_model // num_heads
        self.linears = nn.ModuleList(nn.Linear(d_model, d_model) for _ in range(4))

    def forward(self, query, key, value, mask=None):
        n = query.size(0)
        query, key, value = [lin(x).view(n, -1, self.h, self.d_k).transpose(1, 2)
                             for lin, x in zip(self.linears, (query, key, value))]
        out, attn = sdpa_mask_equals_zero(query, key, value, mask)
        return self.linears[-1](out.transpose(1, 2).reshape(n, -1, self.h * self.d_k)), attn


class MHAAssertsDivisible(MHAListComprehension):
    def __init__(self, d_model, num_heads):
        assert d_model % num_heads == 0
        super().__init__(d_model, num_heads)


class MHABlank(nn.Module):
    def __init__(self, d_model, num_heads):
        super().__init__()
        raise NotImplementedError()

    def forward(self, query, key, value, mask=None):
        raise NotImplementedError()


class MHAForwardBlank(_Projections):
    def forward(self, query, key, value, mask=None):
        raise NotImplementedError()


# --------------------------------------------------------------------------- positional encoding


def _pairs(max_len, d_model):
    if d_model % 2:
        raise ValueError("d_model must be even")
    position = torch.arange(max_len, dtype=torch.float64)[:, None]
    return position, torch.arange(d_model // 2, dtype=torch.float64)


def pe_halves_then_interleaved(max_len, d_model):
    """Built as sin and cos halves, then the columns reordered to interleave them."""
    position, i = _pairs(max_len, d_model)
    angle = position * torch.exp(-math.log(10000.0) * 2 * i / d_model)
    halves = torch.cat([angle.sin(), angle.cos()], dim=1)
    order = torch.arange(d_model).reshape(2, d_model // 2).T.reshape(-1)
    return halves[:, order].float()


def pe_power_table(max_len, d_model):
    position, _ = _pairs(max_len, d_model)
    X = position / torch.pow(10000, torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    P = torch.zeros(max_len, d_model)
    P[:, 0::2] = torch.sin(X).float()
    P[:, 1::2] = torch.cos(X).float()
    return P


def pe_div_term_2d(max_len, d_model):
    if d_model % 2:
        raise ValueError("odd d_model")
    position = torch.arange(max_len).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(max_len, d_model)
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    return pe


def _log_spaced_halves(max_len, d_model, cos_first=False):
    position, i = _pairs(max_len, d_model)
    half = d_model // 2
    step = math.log(10000.0) / max(half - 1, 1)
    angle = position * torch.exp(-step * i)
    parts = [angle.cos(), angle.sin()] if cos_first else [angle.sin(), angle.cos()]
    return torch.cat(parts, dim=1).float()


def pe_log_spaced_halves(max_len, d_model):
    return _log_spaced_halves(max_len, d_model)


def pe_log_spaced_halves_cos_first(max_len, d_model):
    return _log_spaced_halves(max_len, d_model, cos_first=True)


def pe_log_spaced_interleaved(max_len, d_model):
    halves = _log_spaced_halves(max_len, d_model)
    return torch.stack(halves.chunk(2, dim=1), dim=-1).reshape(max_len, d_model)


def pe_sequence_first(max_len, d_model):
    """(max_len, 1, d_model): a batch dimension in the second place, ready for (L, B, D) inputs."""
    return pe_div_term_2d(max_len, d_model).unsqueeze(1)


def pe_blank(max_len, d_model):
    raise NotImplementedError()


# --------------------------------------------------------------------------- masks


def causal_buffer_compare(n, device=None):
    return torch.tril(torch.ones(n, n, device=device)).view(n, n) == 1


def padding_lengths_read_back(lengths, max_len):
    """Reads the lengths on the CPU, builds the mask on lengths' device: correct (the meta run falls back)."""
    rows = [[position < n for position in range(max_len)] for n in lengths.cpu().tolist()]
    return torch.tensor(rows, dtype=torch.bool, device=lengths.device).view(-1, max_len)


def padding_cpu_then_back(lengths, max_len):
    return (torch.arange(max_len)[None, :] < lengths.cpu()[:, None]).to(lengths.device)


def padding_rows_of_cpu_lengths(lengths, max_len):
    """One row per length read on the CPU (sizes from values: the meta run falls back), moved back at the end."""
    rows = [torch.cat([torch.ones(n, dtype=torch.bool), torch.zeros(max_len - n, dtype=torch.bool)])
            for n in lengths.cpu()]
    return torch.stack(rows).view(-1, max_len).to(lengths.device)


def padding_fill_rows(lengths, max_len):
    """Lengths copied to the CPU as slice bounds; the mask itself built on lengths' device."""
    cpu_lengths = lengths.cpu()
    mask = torch.zeros(len(cpu_lengths), max_len, dtype=torch.bool, device=lengths.device)
    for row in range(len(cpu_lengths)):
        mask[row, :cpu_lengths[row]] = True
    return mask


def padding_one_based(lengths, max_len):
    return torch.arange(1, max_len + 1, device=lengths.device).unsqueeze(0) <= lengths.unsqueeze(1)


def padding_moves_lengths_to_cpu(lengths, max_len):
    lengths = lengths.cpu()
    return torch.arange(max_len)[None, :] < lengths[:, None]


def padding_mixes_a_cpu_copy(lengths, max_len):
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths.to("cpu")[:, None]


def padding_one_short(lengths, max_len):
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None] - 1


def padding_one_based_strict(lengths, max_len):
    return torch.arange(1, max_len + 1, device=lengths.device)[None, :] < lengths[:, None]


def padding_inverted_one_short(lengths, max_len):
    return torch.arange(max_len, device=lengths.device)[None, :] >= lengths[:, None] - 1


def padding_blank(lengths, max_len):
    raise NotImplementedError()


# --------------------------------------------------------------------------- CORRECT and MUTANTS

from .styles_layers import CORRECT_LAYERS, MUTANT_LAYERS  # noqa: E402

CORRECT = {
    "check_rnn_cell": [rnn_step_forward, rnn_named_squeeze],
    "check_lstm_cell": [lstm_step_forward, lstm_squeeze_then_last_dim],
    "check_scaled_dot_product_attention": [sdpa_masked_softmax_large_negative, sdpa_mask_equals_zero,
                                           sdpa_multiply_by_inverse_sqrt],
    "check_multi_head_attention": [MHAHeadsInBatch, MHAScaledQueries, MHAListComprehension],
    "check_positional_encoding": [pe_halves_then_interleaved, pe_power_table, pe_div_term_2d],
    "check_causal_mask": [causal_buffer_compare],
    "check_padding_mask": [padding_lengths_read_back, padding_cpu_then_back, padding_one_based,
                           padding_rows_of_cpu_lengths, padding_fill_rows],
    **CORRECT_LAYERS,
}

MUTANTS = [
    ("check_rnn_cell", rnn_squeezes_everything, "`.squeeze()` removed a dimension of size 1"),
    ("check_lstm_cell", lstm_squeeze_then_dim1, "a `.squeeze()` without a dimension"),
    ("check_lstm_cell", lstm_forgets_the_cell, "ignores the previous cell state c"),
    ("check_lstm_cell", lstm_ifog_slices, "gate order"),
    ("check_scaled_dot_product_attention", sdpa_scale_by_size1, "sqrt(q.size(1))"),
    ("check_scaled_dot_product_attention", sdpa_blank, "not written yet"),
    ("check_multi_head_attention", MHALazyProjections, "not initialized (a lazy layer such as nn.LazyLinear"),
    ("check_multi_head_attention", MHAScaleBySize1, "sqrt(q.size(1)), which is num_heads"),
    ("check_multi_head_attention", MHAProjectionList, "no parameter 'w_q.weight'"),
    ("check_multi_head_attention", MHAAssertsDivisible, "AssertionError instead of ValueError"),
    ("check_multi_head_attention", MHABlank, "not written yet"),
    ("check_multi_head_attention", MHAForwardBlank, "not written yet"),
    ("check_positional_encoding", pe_log_spaced_halves, "sin and cos in halves"),
    ("check_positional_encoding", pe_log_spaced_halves_cos_first, "cos and sin in halves"),
    ("check_positional_encoding", pe_log_spaced_interleaved, "fairseq / tensor2tensor formula"),
    ("check_positional_encoding", pe_sequence_first, "extra dimension of size 1"),
    ("check_positional_encoding", pe_blank, "not written yet"),
    ("check_padding_mask", padding_moves_lengths_to_cpu, "moved a tensor to the CPU"),
    ("check_padding_mask", padding_mixes_a_cpu_copy, "a copy your code made with `.cpu()`"),
    ("check_padding_mask", padding_one_short, "off by one: the last real token"),
    ("check_padding_mask", padding_one_based_strict, "off by one: the last real token"),
    ("check_padding_mask", padding_inverted_one_short, "polarity inverted and off by one"),
    ("check_padding_mask", padding_blank, "not written yet"),
    *MUTANT_LAYERS,
]
