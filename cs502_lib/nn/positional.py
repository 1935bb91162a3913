"""Sinusoidal positional encoding, embeddings and attention masks (chapter 6 and 8)."""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from .._validation import require_ndim, require_nonnegative_int, require_positive_int

__all__ = [
    "sinusoidal_positional_encoding",
    "causal_mask",
    "padding_mask",
    "TokenEmbedding",
]


def sinusoidal_positional_encoding(max_len: int, d_model: int) -> torch.Tensor:
    r"""The fixed positional encoding of Vaswani et al. (2017), interleaved layout.

    .. math::
        PE[p, 2i] = \sin\!\left(p / 10000^{2i/d_{model}}\right),\qquad
        PE[p, 2i+1] = \cos\!\left(p / 10000^{2i/d_{model}}\right)

    Positions start at 0. Computed in float64 and returned as float32.

    Args:
        max_len: number of positions (>= 0).
        d_model: encoding width; must be even.

    Returns:
        Tensor of shape (max_len, d_model), dtype float32, values in [-1, 1].
    """
    require_nonnegative_int("max_len", max_len)
    require_positive_int("d_model", d_model)
    if d_model % 2:
        raise ValueError(f"d_model must be even (sin and cos come in pairs), got {d_model}")
    position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)  # (max_len, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # (d_model/2,)
    angle = position / torch.pow(10000.0, two_i / d_model)  # (max_len, d_model/2)
    pe = torch.empty(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe.float()


def causal_mask(n: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean (n, n) mask, True at [i, j] iff j <= i (query i may see keys up to itself)."""
    require_nonnegative_int("n", n)
    return torch.ones(n, n, dtype=torch.bool, device=device).tril()


def padding_mask(lengths: torch.Tensor | Sequence[int], max_len: int) -> torch.Tensor:
    """Boolean (B, max_len) mask, True where position < length (a real token).

    Args:
        lengths: integer tensor (or list) of shape (B,), each in [0, max_len].
        max_len: padded length.

    Returns:
        BoolTensor (B, max_len) on the device of ``lengths``.
        To mask keys in attention, use ``mask[:, None, None, :]`` (B, 1, 1, max_len).
    """
    require_nonnegative_int("max_len", max_len)
    if not isinstance(lengths, torch.Tensor):
        try:
            lengths = torch.as_tensor(list(lengths))
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(f"lengths must be a 1-D tensor or list of integers, got {lengths!r}") from None
    require_ndim("lengths", lengths, 1)
    if lengths.dtype.is_floating_point or lengths.dtype.is_complex or lengths.dtype == torch.bool:
        raise ValueError(f"lengths must hold integers, got dtype {lengths.dtype}")
    if lengths.device.type != "meta" and lengths.numel():
        lo, hi = int(lengths.min()), int(lengths.max())
        if lo < 0:
            raise ValueError(f"lengths must be non-negative, got a length of {lo}")
        if hi > max_len:
            raise ValueError(f"lengths must be at most max_len={max_len}, got a length of {hi}")
    positions = torch.arange(max_len, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)


class TokenEmbedding(nn.Module):
    """Token embedding scaled by sqrt(d_model) plus the sinusoidal positional encoding, then dropout.

    ``forward(ids)`` maps LongTensor (B, L) to (B, L, d_model); L must be <= max_len.
    """

    def __init__(self, vocab_size: int, d_model: int, max_len: int = 512, dropout: float = 0.1) -> None:
        super().__init__()
        require_positive_int("vocab_size", vocab_size)
        self.d_model = d_model
        self.embed = nn.Embedding(vocab_size, d_model)
        self.register_buffer("pe", sinusoidal_positional_encoding(max_len, d_model), persistent=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        require_ndim("ids", ids, 2)
        if ids.shape[1] > self.pe.shape[0]:
            raise ValueError(f"sequence length {ids.shape[1]} exceeds max_len={self.pe.shape[0]}")
        x = self.embed(ids) * math.sqrt(self.d_model) + self.pe[: ids.shape[1]]
        return self.dropout(x)
