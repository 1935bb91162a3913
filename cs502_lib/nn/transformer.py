"""The Transformer's encoder and decoder layers, their stacks, and a full encoder-decoder model (chapters 7 and 8).

All layers are post-LN, as in Vaswani et al. (2017): every sublayer is wrapped
as ``norm(x + dropout(sublayer(x)))`` ("Add & Norm").
"""

from __future__ import annotations

import torch
from torch import nn

from .._validation import require_ndim, require_nonnegative_int, require_positive_int
from .attention import MultiHeadAttention
from .positional import TokenEmbedding, causal_mask

__all__ = ["EncoderLayer", "DecoderLayer", "Encoder", "Decoder", "Transformer"]


def _feed_forward(d_model: int, d_ff: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))


def _check_dropout(dropout: float) -> float:
    if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
    return float(dropout)


class EncoderLayer(nn.Module):
    """One encoder layer: self-attention, then a position-wise feed-forward network, each with Add & Norm.

    ``forward(x, mask=None)``: x (B, L, d_model); mask bool, broadcastable to
    (B, num_heads, L, L) (for padding use ``padding_mask(...)[:, None, None, :]``).
    Returns (B, L, d_model). The attention weights of the last call are kept in
    ``self.attn_weights`` (detached) for plotting.
    """

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.1, *, fused: bool = False) -> None:
        super().__init__()
        require_positive_int("d_ff", d_ff)
        self.self_attn = MultiHeadAttention(d_model, num_heads, fused=fused)
        self.ffn = _feed_forward(d_model, d_ff)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(_check_dropout(dropout))
        self.attn_weights: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        attn, weights = self.self_attn(x, x, x, mask)
        self.attn_weights = None if weights is None else weights.detach()
        x = self.norm1(x + self.dropout(attn))
        return self.norm2(x + self.dropout(self.ffn(x)))


class DecoderLayer(nn.Module):
    """One decoder layer: masked self-attention, attention over the encoder's output, feed-forward; each with Add & Norm.

    ``forward(x, memory, tgt_mask=None, memory_mask=None)``: x (B, Lt, d_model) the
    target so far; memory (B, Ls, d_model) the encoder output; tgt_mask
    broadcastable to (B, num_heads, Lt, Lt) (usually :func:`causal_mask`);
    memory_mask broadcastable to (B, num_heads, Lt, Ls). Returns (B, Lt, d_model).
    The last call's weights are kept in ``self.self_attn_weights`` and
    ``self.cross_attn_weights`` (detached).
    """

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.1) -> None:
        super().__init__()
        require_positive_int("d_ff", d_ff)
        self.self_attn = MultiHeadAttention(d_model, num_heads)
        self.cross_attn = MultiHeadAttention(d_model, num_heads)
        self.ffn = _feed_forward(d_model, d_ff)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(_check_dropout(dropout))
        self.self_attn_weights: torch.Tensor | None = None
        self.cross_attn_weights: torch.Tensor | None = None

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        tgt_mask: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        attn, w_self = self.self_attn(x, x, x, tgt_mask)
        x = self.norm1(x + self.dropout(attn))
        attn, w_cross = self.cross_attn(x, memory, memory, memory_mask)
        x = self.norm2(x + self.dropout(attn))
        self.self_attn_weights, self.cross_attn_weights = w_self.detach(), w_cross.detach()
        return self.norm3(x + self.dropout(self.ffn(x)))


class Encoder(nn.Module):
    """A stack of ``num_layers`` :class:`EncoderLayer`; ``forward(x, mask=None)`` keeps the shape (B, L, d_model)."""

    def __init__(self, num_layers: int, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.1, *, fused: bool = False) -> None:
        super().__init__()
        require_positive_int("num_layers", num_layers)
        self.layers = nn.ModuleList(
            EncoderLayer(d_model, num_heads, d_ff, dropout, fused=fused) for _ in range(num_layers)
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, mask)
        return x


class Decoder(nn.Module):
    """A stack of ``num_layers`` :class:`DecoderLayer`; ``forward(x, memory, tgt_mask, memory_mask)``."""

    def __init__(self, num_layers: int, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.1) -> None:
        super().__init__()
        require_positive_int("num_layers", num_layers)
        self.layers = nn.ModuleList(DecoderLayer(d_model, num_heads, d_ff, dropout) for _ in range(num_layers))

    def forward(self, x, memory, tgt_mask=None, memory_mask=None) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, memory, tgt_mask, memory_mask)
        return x


class Transformer(nn.Module):
    """An encoder-decoder Transformer for sequence-to-sequence tasks.

    Args:
        src_vocab, tgt_vocab: vocabulary sizes.
        d_model, num_heads, d_ff, num_layers, dropout: as in the paper (``num_layers``
            encoder layers and as many decoder layers).
        max_len: longest source or target sequence.
        pad_id: the padding id of both vocabularies; padded source keys are masked.

    ``forward(src, tgt)``: src LongTensor (B, Ls), tgt LongTensor (B, Lt) (the
    decoder input, starting with BOS). Returns logits (B, Lt, tgt_vocab) where
    position t predicts token t + 1.
    """

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        d_model: int = 64,
        num_heads: int = 4,
        d_ff: int = 128,
        num_layers: int = 2,
        dropout: float = 0.1,
        max_len: int = 256,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        self.pad_id = pad_id
        self.src_embed = TokenEmbedding(src_vocab, d_model, max_len, dropout)
        self.tgt_embed = TokenEmbedding(tgt_vocab, d_model, max_len, dropout)
        self.encoder = Encoder(num_layers, d_model, num_heads, d_ff, dropout)
        self.decoder = Decoder(num_layers, d_model, num_heads, d_ff, dropout)
        self.generator = nn.Linear(d_model, tgt_vocab)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def src_mask(self, src: torch.Tensor) -> torch.Tensor:
        """(B, 1, 1, Ls): True on real (non-pad) source tokens."""
        return (src != self.pad_id)[:, None, None, :]

    def encode(self, src: torch.Tensor) -> torch.Tensor:
        require_ndim("src", src, 2)
        return self.encoder(self.src_embed(src), self.src_mask(src))

    def decode(self, memory: torch.Tensor, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        require_ndim("tgt", tgt, 2)
        L = tgt.shape[1]
        tgt_mask = causal_mask(L, device=tgt.device) & (tgt != self.pad_id)[:, None, None, :]
        return self.decoder(self.tgt_embed(tgt), memory, tgt_mask, self.src_mask(src))

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        return self.generator(self.decode(self.encode(src), src, tgt))

    @torch.no_grad()
    def greedy_decode(self, src: torch.Tensor, max_len: int, bos_id: int, eos_id: int | None = None) -> torch.Tensor:
        """Decode ``src`` (B, Ls) one token at a time, always taking the most likely next token.

        Returns LongTensor (B, <= max_len + 1) starting with ``bos_id``. Sequences stop
        growing after ``eos_id`` (later positions are filled with ``pad_id``).
        """
        require_nonnegative_int("max_len", max_len)
        memory = self.encode(src)
        ys = torch.full((src.shape[0], 1), bos_id, dtype=torch.long, device=src.device)
        done = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
        for _ in range(max_len):
            logits = self.generator(self.decode(memory, src, ys)[:, -1])
            nxt = logits.argmax(-1).masked_fill(done, self.pad_id)
            ys = torch.cat([ys, nxt[:, None]], dim=1)
            if eos_id is not None:
                done |= nxt == eos_id
                if bool(done.all()):
                    break
        return ys

    @torch.no_grad()
    def beam_search(
        self,
        src: torch.Tensor,
        max_len: int,
        bos_id: int,
        eos_id: int,
        beam_size: int = 4,
        length_penalty: float = 0.0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode ``src`` (B, Ls), keeping the ``beam_size`` most likely partial outputs.

        Greedy decoding commits to the single most likely token at each step; a beam
        keeps ``beam_size`` hypotheses, extends each by every token, and keeps the
        ``beam_size`` best of all extensions by total log-probability. A hypothesis that
        has produced ``eos_id`` is finished and keeps its score. At the end, the best
        hypothesis of each source is chosen by its log-probability divided by
        ``((5 + length) / 6) ** length_penalty`` (Wu et al., 2016; 0 = no penalty).

        Returns ``(ys, scores)``: ys LongTensor (B, <= max_len + 1) starting with
        ``bos_id`` and padded with ``pad_id`` after ``eos_id``; scores (B,) the total
        log-probability of each returned sequence. ``beam_size=1`` is greedy decoding.
        """
        require_nonnegative_int("max_len", max_len)
        require_positive_int("beam_size", beam_size)
        vocab = self.generator.out_features
        if beam_size > vocab:
            raise ValueError(f"beam_size ({beam_size}) exceeds the target vocabulary ({vocab})")
        B, K, dev = src.shape[0], beam_size, src.device
        # (B*K, Ls): beam k of source b is row b*K + k
        src_k = src.repeat_interleave(K, dim=0)
        memory = self.encode(src_k)
        ys = torch.full((B * K, 1), bos_id, dtype=torch.long, device=dev)
        scores = torch.full((B, K), float("-inf"), device=dev)
        scores[:, 0] = 0.0                     # one live hypothesis to start from
        done = torch.zeros(B * K, dtype=torch.bool, device=dev)
        # tokens after <bos>, up to and including <eos>
        lengths = torch.zeros(B * K, dtype=torch.long, device=dev)
        for _ in range(max_len):
            hidden = self.decode(memory, src_k, ys)[:, -1]
            logp = self.generator(hidden).log_softmax(-1)           # (B*K, V)
            # a finished hypothesis can only be extended by padding, at no cost
            frozen = torch.full_like(logp, float("-inf"))
            frozen[:, self.pad_id] = 0.0
            logp = torch.where(done[:, None], frozen, logp)
            cand = (scores.reshape(B * K, 1) + logp).reshape(B, K * vocab)
            scores, flat = cand.topk(K, dim=-1)                      # (B, K)
            beam = flat // vocab
            rows = (torch.arange(B, device=dev)[:, None] * K + beam).reshape(-1)
            token = (flat % vocab).reshape(-1)
            ys = torch.cat([ys[rows], token[:, None]], dim=1)
            lengths = lengths[rows] + (~done[rows]).long()
            done = done[rows] | (token == eos_id)
            if bool(done.all()):
                break
        penalty = ((5.0 + lengths.float()) / 6.0) ** length_penalty
        best = (scores.reshape(-1) / penalty).reshape(B, K).argmax(-1)
        rows = torch.arange(B, device=dev) * K + best
        return ys[rows], scores.reshape(-1)[rows]
