"""Encoder and decoder layers in the styles students bring from elsewhere (see styles_nn.py).

The recurring ones: a "sublayer connection" helper that wraps each sublayer with its
residual and norm, and a layer norm written by hand. Written for this catalogue; the
correct ones use the post-LN order and a norm that computes what nn.LayerNorm does.
"""

import torch
from torch import nn

import cs502_lib


class HandLayerNorm(nn.Module):
    """A layer norm by hand with the contract's parameter names; ``unbiased``/``eps_on_std`` say how it divides."""

    def __init__(self, features, eps=1e-5, unbiased=False, eps_on_std=False):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(features))
        self.bias = nn.Parameter(torch.zeros(features))
        self.eps, self.unbiased, self.eps_on_std = eps, unbiased, eps_on_std

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        if self.eps_on_std:
            scale = x.std(-1, keepdim=True, unbiased=self.unbiased) + self.eps
        else:
            scale = torch.sqrt(x.var(-1, keepdim=True, unbiased=self.unbiased) + self.eps)
        return self.weight * (x - mean) / scale + self.bias


class HandLayerNormOwnNames(nn.Module):
    """The hand-written norm with its own parameter names (a_2, b_2), unbiased std, eps added to the std."""

    def __init__(self, features, eps=1e-6):
        super().__init__()
        self.a_2 = nn.Parameter(torch.ones(features))
        self.b_2 = nn.Parameter(torch.zeros(features))
        self.eps = eps

    def forward(self, x):
        return self.a_2 * (x - x.mean(-1, keepdim=True)) / (x.std(-1, keepdim=True) + self.eps) + self.b_2


def _norms(d_model, count, make):
    return [make(d_model) for _ in range(count)]


class _Encoder(nn.Module):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, make_norm=nn.LayerNorm):
        super().__init__()
        self.self_attn = cs502_lib.MultiHeadAttention(d_model, num_heads)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))
        self.norm1, self.norm2 = _norms(d_model, 2, make_norm)
        self.dropout = nn.Dropout(dropout)

    def sublayer(self, x, norm, fn):  # post-LN: residual, then the norm
        return norm(x + self.dropout(fn(x)))

    def forward(self, x, mask=None):
        x = self.sublayer(x, self.norm1, lambda y: self.self_attn(y, y, y, mask)[0])
        return self.sublayer(x, self.norm2, self.ffn)


class EncoderSublayerHelper(_Encoder):
    """Each sublayer wrapped by one helper (residual, then nn.LayerNorm)."""


class EncoderHandNormBiased(_Encoder):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__(d_model, num_heads, d_ff, dropout, make_norm=HandLayerNorm)


class EncoderHandNormEpsOnStd(_Encoder):
    """Biased std with eps added to it: within rounding of nn.LayerNorm."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__(d_model, num_heads, d_ff, dropout,
                         make_norm=lambda d: HandLayerNorm(d, eps=1e-6, eps_on_std=True))


class EncoderHandNormUnbiasedStd(_Encoder):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__(d_model, num_heads, d_ff, dropout,
                         make_norm=lambda d: HandLayerNorm(d, eps=1e-6, unbiased=True, eps_on_std=True))


class EncoderHandNormUnbiasedVar(_Encoder):
    """`x.var(-1)` is unbiased by default: the variance is off by n / (n - 1)."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__(d_model, num_heads, d_ff, dropout, make_norm=lambda d: HandLayerNorm(d, unbiased=True))


class EncoderHandNormOwnNames(_Encoder):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__(d_model, num_heads, d_ff, dropout, make_norm=HandLayerNormOwnNames)


class EncoderPreNormHandNorm(EncoderHandNormUnbiasedStd):
    """The sublayer helper in the pre-norm order, with the unbiased hand-written norm."""

    def sublayer(self, x, norm, fn):
        return x + self.dropout(fn(norm(x)))


class EncoderBlank(nn.Module):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__()
        raise NotImplementedError()


class EncoderWithoutSuperInit(nn.Module):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
        self.self_attn = cs502_lib.MultiHeadAttention(d_model, num_heads)


class _Decoder(nn.Module):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, make_norm=nn.LayerNorm):
        super().__init__()
        self.self_attn = cs502_lib.MultiHeadAttention(d_model, num_heads)
        self.cross_attn = cs502_lib.MultiHeadAttention(d_model, num_heads)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))
        self.norm1, self.norm2, self.norm3 = _norms(d_model, 3, make_norm)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        steps = [
            (self.norm1, lambda y: self.self_attn(y, y, y, tgt_mask)[0]),
            (self.norm2, lambda y: self.cross_attn(y, memory, memory, memory_mask)[0]),
            (self.norm3, self.ffn),
        ]
        for norm, fn in steps:
            x = norm(x + self.dropout(fn(x)))
        return x


class DecoderSublayerList(_Decoder):
    """The three sublayers as a list of (norm, function) steps."""


class DecoderHandNormBiased(_Decoder):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__(d_model, num_heads, d_ff, dropout, make_norm=HandLayerNorm)


class DecoderHandNormUnbiasedStd(_Decoder):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__(d_model, num_heads, d_ff, dropout,
                         make_norm=lambda d: HandLayerNorm(d, eps=1e-6, unbiased=True, eps_on_std=True))


class DecoderCrossFirst(_Decoder):
    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        x = self.norm1(x + self.dropout(self.cross_attn(x, memory, memory, memory_mask)[0]))
        x = self.norm2(x + self.dropout(self.self_attn(x, x, x, tgt_mask)[0]))
        return self.norm3(x + self.dropout(self.ffn(x)))


class DecoderCrossFirstOwnNorms(_Decoder):
    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        x = self.norm2(x + self.dropout(self.cross_attn(x, memory, memory, memory_mask)[0]))
        x = self.norm1(x + self.dropout(self.self_attn(x, x, x, tgt_mask)[0]))
        return self.norm3(x + self.dropout(self.ffn(x)))


class DecoderForwardBlank(_Decoder):
    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        raise NotImplementedError()


CORRECT_LAYERS = {
    "check_encoder_layer": [EncoderSublayerHelper, EncoderHandNormBiased, EncoderHandNormEpsOnStd],
    "check_decoder_layer": [DecoderSublayerList, DecoderHandNormBiased],
}

MUTANT_LAYERS = [
    ("check_encoder_layer", EncoderHandNormUnbiasedStd, "unbiased"),
    ("check_encoder_layer", EncoderHandNormUnbiasedVar, "nn.LayerNorm(d_model): use it"),
    ("check_encoder_layer", EncoderHandNormOwnNames, "a layer norm written by hand"),
    ("check_encoder_layer", EncoderPreNormHandNorm, "And: pre-LN instead of post-LN"),
    ("check_encoder_layer", EncoderBlank, "not written yet"),
    ("check_encoder_layer", EncoderWithoutSuperInit, "super().__init__()"),
    ("check_decoder_layer", DecoderHandNormUnbiasedStd, "unbiased"),
    ("check_decoder_layer", DecoderCrossFirst, "cross-attention runs before the masked self-attention"),
    ("check_decoder_layer", DecoderCrossFirstOwnNorms, "cross-attention runs before the masked self-attention"),
    ("check_decoder_layer", DecoderForwardBlank, "not written yet"),
]
