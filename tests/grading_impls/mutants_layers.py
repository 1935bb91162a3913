"""Buggy implementations ("mutants") of the positions_masks and transformer contracts (see mutants_nn.py).

``MUTANTS`` lists ``(check name, mutant, words the failure message must contain)``.
"""

import torch
import torch.nn.functional as F
from torch import nn

import cs502_lib

# --------------------------------------------------------------------------- positional encoding


def _pe(max_len, d_model, swap=False, concat=False, exponent=lambda i, d: 2 * i / d, base=10000.0, start=0):
    if d_model % 2:
        raise ValueError("odd d_model")
    p = torch.arange(start, start + max_len, dtype=torch.float64)[:, None]
    i = torch.arange(d_model // 2, dtype=torch.float64)
    a = p / base ** exponent(i, d_model)
    s, c = (torch.cos(a), torch.sin(a)) if swap else (torch.sin(a), torch.cos(a))
    if concat:
        return torch.cat([s, c], dim=1).float()
    return torch.stack([s, c], dim=-1).reshape(max_len, d_model).float()


def pe_swapped(max_len, d_model):
    return _pe(max_len, d_model, swap=True)


def pe_concatenated(max_len, d_model):
    return _pe(max_len, d_model, concat=True)


def pe_wrong_exponent(max_len, d_model):
    return _pe(max_len, d_model, exponent=lambda i, d: i / d)


def pe_wrong_base(max_len, d_model):
    return _pe(max_len, d_model, base=1000.0)


def pe_unusual_base(max_len, d_model):
    return _pe(max_len, d_model, base=5000.0)


def pe_positions_from_one(max_len, d_model):
    return _pe(max_len, d_model, start=1)


def pe_transposed(max_len, d_model):
    return _pe(max_len, d_model).T


def pe_no_value_error(max_len, d_model):
    pe = torch.zeros(max_len, d_model)
    full = _pe(max_len, d_model + d_model % 2)
    return pe + full[:, :d_model]


def pe_batched(max_len, d_model):
    return _pe(max_len, d_model).unsqueeze(0)


def pe_float64(max_len, d_model):
    return _pe(max_len, d_model).double()


# --------------------------------------------------------------------------- masks


def causal_no_diagonal(n, device=None):
    return torch.ones(n, n, dtype=torch.bool, device=device).tril(diagonal=-1)


def causal_upper(n, device=None):
    return torch.ones(n, n, dtype=torch.bool, device=device).triu()


def causal_inverted(n, device=None):
    return torch.ones(n, n, dtype=torch.bool, device=device).triu(1)


def causal_float(n, device=None):
    return torch.ones(n, n, device=device).tril()


def causal_ignores_device(n, device=None):
    return torch.ones(n, n, dtype=torch.bool).tril()


def padding_inverted(lengths, max_len):
    return torch.arange(max_len, device=lengths.device)[None, :] >= lengths[:, None]


def padding_off_by_one(lengths, max_len):
    return torch.arange(max_len, device=lengths.device)[None, :] <= lengths[:, None]


def padding_arange_on_cpu(lengths, max_len):
    return torch.arange(max_len)[None, :] < lengths[:, None]


def padding_transposed(lengths, max_len):
    return (torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]).T


def padding_int(lengths, max_len):
    return (torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]).long()


# --------------------------------------------------------------------------- transformer layers


class _EncBase(nn.Module):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__()
        self.self_attn = cs502_lib.MultiHeadAttention(d_model, num_heads)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)


class EncoderPreLN(_EncBase):
    def forward(self, x, mask=None):
        y = self.norm1(x)
        x = x + self.dropout(self.self_attn(y, y, y, mask)[0])
        return x + self.dropout(self.ffn(self.norm2(x)))


class EncoderNoResidual(_EncBase):
    def forward(self, x, mask=None):
        x = self.norm1(x + self.dropout(self.self_attn(x, x, x, mask)[0]))
        return self.norm2(self.dropout(self.ffn(x)))


class EncoderDropoutInEval(_EncBase):
    def forward(self, x, mask=None):
        x = self.norm1(x + F.dropout(self.self_attn(x, x, x, mask)[0], 0.1))
        return self.norm2(x + F.dropout(self.ffn(x), 0.1))


class EncoderMaskIgnored(_EncBase):
    def forward(self, x, mask=None):
        x = self.norm1(x + self.dropout(self.self_attn(x, x, x)[0]))
        return self.norm2(x + self.dropout(self.ffn(x)))


class EncoderWrongNames(nn.Module):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__()
        self.attn = cs502_lib.MultiHeadAttention(d_model, num_heads)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)

    def forward(self, x, mask=None):
        x = self.norm1(x + self.attn(x, x, x, mask)[0])
        return self.norm2(x + self.ffn(x))


class EncoderTorchBuiltin(_EncBase):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__(d_model, num_heads, d_ff, dropout)
        self.inner = nn.TransformerEncoderLayer(d_model, num_heads, d_ff, dropout, batch_first=True)

    def forward(self, x, mask=None):
        return self.inner(x)


class EncoderPlainTensorAttribute(_EncBase):
    """Keeps a constant as a plain tensor attribute: `.to(device)` does not move it."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__(d_model, num_heads, d_ff, dropout)
        self.gain = torch.ones(d_model)

    def forward(self, x, mask=None):
        x = self.norm1(x + self.dropout(self.self_attn(x, x, x, mask)[0]) * self.gain)
        return self.norm2(x + self.dropout(self.ffn(x)))


class _DecBase(nn.Module):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__()
        self.self_attn = cs502_lib.MultiHeadAttention(d_model, num_heads)
        self.cross_attn = cs502_lib.MultiHeadAttention(d_model, num_heads)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model) for _ in range(3))
        self.dropout = nn.Dropout(dropout)


class DecoderCrossOverItself(_DecBase):
    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        x = self.norm1(x + self.dropout(self.self_attn(x, x, x, tgt_mask)[0]))
        x = self.norm2(x + self.dropout(self.cross_attn(x, x, x)[0]))
        return self.norm3(x + self.dropout(self.ffn(x)))


class DecoderPreLN(_DecBase):
    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        y = self.norm1(x)
        x = x + self.self_attn(y, y, y, tgt_mask)[0]
        y = self.norm2(x)
        x = x + self.cross_attn(y, memory, memory, memory_mask)[0]
        return x + self.ffn(self.norm3(x))


class DecoderNoResidual(_DecBase):
    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        x = self.norm1(x + self.dropout(self.self_attn(x, x, x, tgt_mask)[0]))
        x = self.norm2(self.dropout(self.cross_attn(x, memory, memory, memory_mask)[0]))
        return self.norm3(x + self.dropout(self.ffn(x)))


class DecoderTgtMaskIgnored(_DecBase):
    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        x = self.norm1(x + self.dropout(self.self_attn(x, x, x)[0]))
        x = self.norm2(x + self.dropout(self.cross_attn(x, memory, memory, memory_mask)[0]))
        return self.norm3(x + self.dropout(self.ffn(x)))


class DecoderMemoryMaskIgnored(_DecBase):
    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        x = self.norm1(x + self.dropout(self.self_attn(x, x, x, tgt_mask)[0]))
        x = self.norm2(x + self.dropout(self.cross_attn(x, memory, memory)[0]))
        return self.norm3(x + self.dropout(self.ffn(x)))


class DecoderDropoutInEval(_DecBase):
    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        x = self.norm1(x + F.dropout(self.self_attn(x, x, x, tgt_mask)[0], 0.2, training=True))
        x = self.norm2(x + self.dropout(self.cross_attn(x, memory, memory, memory_mask)[0]))
        return self.norm3(x + self.dropout(self.ffn(x)))


class DecoderSubclassesReference(cs502_lib.DecoderLayer):
    pass


MUTANTS = [
    ("check_positional_encoding", pe_swapped, "sin/cos swapped"),
    ("check_positional_encoding", pe_concatenated, "concatenated instead of interleaved"),
    ("check_positional_encoding", pe_wrong_exponent, "wrong frequency exponent"),
    ("check_positional_encoding", pe_wrong_base, "wrong frequency base"),
    ("check_positional_encoding", pe_unusual_base, "exponent or base"),
    ("check_positional_encoding", pe_positions_from_one, "positions starting at 1"),
    ("check_positional_encoding", pe_transposed, "transposed"),
    ("check_positional_encoding", pe_no_value_error, "missing ValueError"),
    ("check_positional_encoding", pe_float64, "float64"),
    ("check_positional_encoding", pe_batched, "extra dimension of size 1"),
    ("check_causal_mask", causal_no_diagonal, "without the diagonal"),
    ("check_causal_mask", causal_upper, "upper-triangular"),
    ("check_causal_mask", causal_inverted, "polarity inverted"),
    ("check_causal_mask", causal_float, "torch.bool"),
    ("check_causal_mask", causal_ignores_device, "device="),
    ("check_padding_mask", padding_inverted, "polarity inverted"),
    ("check_padding_mask", padding_off_by_one, "off by one"),
    ("check_padding_mask", padding_arange_on_cpu, "different devices"),
    ("check_padding_mask", padding_transposed, "transposed"),
    ("check_padding_mask", padding_int, "torch.bool"),
    ("check_encoder_layer", EncoderPreLN, "pre-LN instead of post-LN"),
    ("check_encoder_layer", EncoderNoResidual, "missing residual"),
    ("check_encoder_layer", EncoderDropoutInEval, "dropout active in eval mode"),
    ("check_encoder_layer", EncoderMaskIgnored, "mask is ignored"),
    ("check_encoder_layer", EncoderWrongNames, "no parameter 'self_attn.w_q.weight'"),
    ("check_encoder_layer", EncoderTorchBuiltin, "nn.TransformerEncoderLayer"),
    ("check_encoder_layer", EncoderPlainTensorAttribute, "register_buffer"),
    ("check_decoder_layer", DecoderCrossOverItself, "over itself instead of memory"),
    ("check_decoder_layer", DecoderPreLN, "pre-LN instead of post-LN"),
    ("check_decoder_layer", DecoderNoResidual, "missing residual around the cross-attention"),
    ("check_decoder_layer", DecoderTgtMaskIgnored, "tgt_mask is ignored"),
    ("check_decoder_layer", DecoderMemoryMaskIgnored, "memory_mask is ignored"),
    ("check_decoder_layer", DecoderDropoutInEval, "dropout active in eval mode"),
    ("check_decoder_layer", DecoderSubclassesReference, "cs502_lib's reference DecoderLayer"),
]
