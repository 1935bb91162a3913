"""Positional encodings, embeddings and attention masks (chapters 6 and 8).

Absolute positions: :func:`sinusoidal_positional_encoding` (added to the token embeddings by
:class:`TokenEmbedding`). Relative positions inside attention: :func:`rotary_embedding` (RoPE, rotates
queries and keys) and :func:`alibi_bias` (ALiBi, a distance penalty added to the scores).
"""

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
    "rotary_embedding",
    "alibi_slopes",
    "alibi_bias",
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


def rotary_embedding(x: torch.Tensor, positions: torch.Tensor | None = None, base: float = 10000.0) -> torch.Tensor:
    r"""Rotary position embedding (RoPE, Su et al. 2021) of queries or keys, interleaved layout.

    Feature pair :math:`(x_{2i}, x_{2i+1})` of the vector at position :math:`p` is rotated by the angle
    :math:`p\,\omega_i`, with the frequencies of the sinusoidal encoding,
    :math:`\omega_i = \mathrm{base}^{-2i/d}`:

    .. math::
        \begin{pmatrix} y_{2i} \\ y_{2i+1} \end{pmatrix} =
        \begin{pmatrix} \cos p\omega_i & -\sin p\omega_i \\ \sin p\omega_i & \cos p\omega_i \end{pmatrix}
        \begin{pmatrix} x_{2i} \\ x_{2i+1} \end{pmatrix}.

    Applied to the queries and to the keys (never to the values), the dot product of a query at position
    :math:`p` with a key at position :math:`q` then depends on the positions only through :math:`q - p`.
    Rotations keep lengths, so :math:`\lVert y\rVert = \lVert x\rVert`.

    Args:
        x: tensor (..., L, d) with d even; position ``positions[l]`` is used for row ``l``.
        positions: optional tensor (L,) of positions (integer or float); default ``0 .. L-1``.
        base: the frequency base (10000 as in the sinusoidal encoding).

    Returns:
        Tensor of the shape and dtype of ``x``.
    """
    require_ndim("x", x, min_ndim=2)
    length, d = x.shape[-2], x.shape[-1]
    if d % 2:
        raise ValueError(f"the last dimension of x must be even (features are rotated in pairs), got {d}")
    if positions is None:
        positions = torch.arange(length, device=x.device)
    else:
        require_ndim("positions", positions, 1)
        if positions.shape[0] != length:
            raise ValueError(f"positions must have one entry per row of x ({length}), got {positions.shape[0]}")
    freqs = torch.pow(base, -torch.arange(0, d, 2, dtype=torch.float64, device=x.device) / d)  # (d/2,)
    angle = positions.to(device=x.device, dtype=torch.float64)[:, None] * freqs  # (L, d/2)
    cos, sin = torch.cos(angle).to(x.dtype), torch.sin(angle).to(x.dtype)
    even, odd = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out


def alibi_slopes(num_heads: int) -> torch.Tensor:
    r"""The head-specific slopes of ALiBi (Press et al. 2022): :math:`m_h = 2^{-8h/H}`, h = 1..H.

    A geometric sequence from :math:`2^{-8/H}` (a steep penalty, a local head) down to :math:`2^{-8}`
    (an almost flat one, a global head). Returns a float32 tensor (num_heads,).
    """
    require_positive_int("num_heads", num_heads)
    h = torch.arange(1, num_heads + 1, dtype=torch.float64)
    return torch.pow(2.0, -8.0 * h / num_heads).float()


def alibi_bias(num_heads: int, n: int, causal: bool = False) -> torch.Tensor:
    r"""ALiBi's additive attention bias, a float tensor (num_heads, n, n).

    Entry ``[h, i, j]`` is :math:`-m_h\,|i - j|` (see :func:`alibi_slopes`): a query pays a penalty that grows
    linearly with its distance to the key, at a different rate in each head. It is added to the scores
    :math:`q_i \cdot k_j / \sqrt{d_k}` before the softmax, and no position vector is added to the embeddings.
    With ``causal=True`` the keys after the query (j > i) get ``-inf`` as well, which is the original,
    decoder-only form of ALiBi; the default symmetric form suits an encoder.
    """
    require_positive_int("num_heads", num_heads)
    require_nonnegative_int("n", n)
    idx = torch.arange(n)
    distance = (idx[:, None] - idx[None, :]).abs().float()  # (n, n)
    bias = -alibi_slopes(num_heads)[:, None, None] * distance  # (H, n, n)
    if causal:
        bias = bias.masked_fill(~causal_mask(n), float("-inf"))
    return bias
