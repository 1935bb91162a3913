"""Scaled dot-product attention and multi-head attention (chapters 4 and 5)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import require_bool_mask, require_ndim, require_positive_int, require_tensor

__all__ = ["scaled_dot_product_attention", "MultiHeadAttention"]


def _check_qkv(q, k, v) -> tuple[int, ...]:
    for name, t in (("q", q), ("k", k), ("v", v)):
        require_tensor(name, t)
        require_ndim(name, t, min_ndim=2)
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"q and k must have the same feature size d_k, got q {tuple(q.shape)} and k {tuple(k.shape)}"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"k and v must have the same number of keys Lk, got k {tuple(k.shape)} and v {tuple(v.shape)}"
        )
    try:
        batch = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except RuntimeError:
        raise ValueError(
            "the leading (batch) dimensions of q, k and v must broadcast together, got "
            f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}"
        ) from None
    return tuple(batch) + (q.shape[-2], k.shape[-2])


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Attention as in Vaswani et al. (2017): :math:`\mathrm{softmax}(QK^\top/\sqrt{d_k})\,V`.

    Args:
        q: queries, shape (..., Lq, d_k).
        k: keys, shape (..., Lk, d_k).
        v: values, shape (..., Lk, d_v).
        mask: optional ``torch.bool`` tensor broadcastable to (..., Lq, Lk);
            True where query i may attend to key j. A row must keep at least one key.

    Returns:
        ``(out, weights)``: out of shape (..., Lq, d_v) and the attention
        weights of shape (..., Lq, Lk), each row summing to 1.
    """
    scores_shape = _check_qkv(q, k, v)
    if mask is not None:
        require_bool_mask("mask", mask, scores_shape, "the scores' shape (..., Lq, Lk)")
    d_k = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


class MultiHeadAttention(nn.Module):
    r"""Multi-head attention with ``num_heads`` heads of size ``d_k = d_model / num_heads``.

    The queries, keys and values are projected by ``w_q``, ``w_k`` and ``w_v``
    (each ``nn.Linear(d_model, d_model)``); head ``h`` uses the feature slice
    ``[h*d_k:(h+1)*d_k]`` of each projection. The heads' outputs are concatenated
    and mixed by ``w_o``.

    Args:
        d_model: model width; must be divisible by ``num_heads``.
        num_heads: number of heads.
        fused: if True, use :func:`torch.nn.functional.scaled_dot_product_attention`
            (a fast kernel; the weights are then not returned). Off by default;
            the DNABERT model turns it on.

    Shapes of ``forward(query, key, value, mask=None)``:
        query (B, Lq, d_model); key and value (B, Lk, d_model); mask a
        ``torch.bool`` tensor broadcastable to (B, num_heads, Lq, Lk), True = may attend.
        Returns ``(out, weights)``: out (B, Lq, d_model), weights (B, num_heads, Lq, Lk)
        (None when ``fused``).
    """

    def __init__(self, d_model: int, num_heads: int, *, fused: bool = False) -> None:
        super().__init__()
        require_positive_int("d_model", d_model)
        require_positive_int("num_heads", num_heads)
        if d_model % num_heads:
            raise ValueError(
                f"d_model must be divisible by num_heads, got d_model={d_model} and num_heads={num_heads}"
            )
        self.d_model, self.num_heads, self.d_k = d_model, num_heads, d_model // num_heads
        self.fused = fused
        self.w_q = nn.Linear(d_model, d_model)
        self.w_k = nn.Linear(d_model, d_model)
        self.w_v = nn.Linear(d_model, d_model)
        self.w_o = nn.Linear(d_model, d_model)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, d_model) -> (B, num_heads, L, d_k)."""
        B, L, _ = x.shape
        return x.view(B, L, self.num_heads, self.d_k).transpose(1, 2)

    def _check(self, query, key, value, mask) -> None:
        for name, t in (("query", query), ("key", key), ("value", value)):
            require_tensor(name, t)
            require_ndim(name, t, 3)
            if t.shape[-1] != self.d_model:
                raise ValueError(
                    f"{name} must have shape (B, L, d_model={self.d_model}), got {tuple(t.shape)}"
                )
        if key.shape[:2] != value.shape[:2]:
            raise ValueError(f"key and value must share (B, Lk), got {tuple(key.shape)} and {tuple(value.shape)}")
        if query.shape[0] != key.shape[0]:
            raise ValueError(f"query and key must share the batch size, got {tuple(query.shape)} and {tuple(key.shape)}")
        if mask is not None:
            target = (query.shape[0], self.num_heads, query.shape[1], key.shape[1])
            require_bool_mask("mask", mask, target, "(B, num_heads, Lq, Lk) =")

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        self._check(query, key, value, mask)
        B, Lq, _ = query.shape
        q, k, v = self._split(self.w_q(query)), self._split(self.w_k(key)), self._split(self.w_v(value))
        if self.fused:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            weights = None
        else:
            out, weights = scaled_dot_product_attention(q, k, v, mask)
        out = out.transpose(1, 2).reshape(B, Lq, self.d_model)
        return self.w_o(out), weights

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, num_heads={self.num_heads}, d_k={self.d_k}"


