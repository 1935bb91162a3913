# %% [title]
# # Assignment 4: the Transformer encoder and decoder layers
#
# A Transformer layer is attention plus a position-wise feed-forward network, each wrapped in a residual connection and layer normalization (Add & Norm). Chapter 7 ([The Transformer encoder](../../book/07_encoder.ipynb)) built the encoder layer; chapter 8 ([The Transformer decoder](../../book/08_decoder.ipynb)) added masked self-attention and attention over the encoder's output (cross-attention), and trained a sequence-to-sequence model. Here you write both layers and train a small sequence-to-sequence model made of them.

# %% [how-to-check]

# %% [locked] setup
import math

import torch
import torch.nn.functional as F
from torch import nn

import cs502_lib
from cs502_lib import MultiHeadAttention, causal_mask, padding_mask, sinusoidal_positional_encoding

torch.manual_seed(0)
torch.set_num_threads(1)  # the models of this notebook are tiny: one thread is the fastest (and fair on a shared server)

# %% [markdown]
# Both layers use `MultiHeadAttention` from `cs502_lib` (imported above; it is graded in assignment 2):
# `MultiHeadAttention(d_model, num_heads)`, called as `attn(query, key, value, mask)` and returning
# `(out, weights)`. Masks are `torch.bool`, **True = may attend**, broadcastable to (B, num_heads, Lq, Lk).
#
# ## Part 1: the encoder layer
#
# Write `EncoderLayer(d_model, num_heads, d_ff, dropout=0.1)`, an `nn.Module` with **these submodules** (the grader
# loads reference weights into them by name):
#
# * `self.self_attn = MultiHeadAttention(d_model, num_heads)`
# * `self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))`
# * `self.norm1`, `self.norm2`: `nn.LayerNorm(d_model)`
# * `self.dropout = nn.Dropout(dropout)`
#
# `forward(x, mask=None)` with `x` (B, L, d_model) returns (B, L, d_model), **post-LN** as in the original paper:
#
# $$x \leftarrow \text{norm}_1\big(x + \text{dropout}(\text{SelfAttn}(x, x, x, \text{mask}))\big), \qquad
# x \leftarrow \text{norm}_2\big(x + \text{dropout}(\text{FFN}(x))\big)$$

# %% [solution] EncoderLayer
class EncoderLayer(nn.Module):
    """Post-LN Transformer encoder layer: self-attention and feed-forward, each with Add & Norm."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__()
        ### BEGIN SOLUTION
        self.self_attn = MultiHeadAttention(d_model, num_heads)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        ### END SOLUTION

    def forward(self, x, mask=None):
        """x (B, L, d_model), mask broadcastable to (B, h, L, L) -> (B, L, d_model)."""
        ### BEGIN SOLUTION
        attended, _ = self.self_attn(x, x, x, mask)
        x = self.norm1(x + self.dropout(attended))
        return self.norm2(x + self.dropout(self.ffn(x)))
        ### END SOLUTION

# %% [check] EncoderLayer

# %% [hidden] EncoderLayer about="agreement with PyTorch's nn.TransformerEncoderLayer, padding that has no effect"

# %% [markdown]
# ## Part 2: the decoder layer
#
# Write `DecoderLayer(d_model, num_heads, d_ff, dropout=0.1)` with submodules `self.self_attn`, `self.cross_attn`
# (two `MultiHeadAttention(d_model, num_heads)`), `self.ffn` (as in the encoder), `self.norm1`, `self.norm2`,
# `self.norm3` (`nn.LayerNorm(d_model)`) and `self.dropout`.
#
# `forward(x, memory, tgt_mask=None, memory_mask=None)`: `x` (B, Lt, d_model) is the target sequence, `memory`
# (B, Ls, d_model) the encoder's output. Three sublayers, each followed by Add & Norm (post-LN):
#
# 1. masked self-attention over the target: `self_attn(x, x, x, tgt_mask)`, then `norm1`;
# 2. cross-attention, queries from the decoder, keys and values from the memory:
#    `cross_attn(x, memory, memory, memory_mask)`, then `norm2`;
# 3. the feed-forward network, then `norm3`.
#
# Apply `self.dropout` to each sublayer's output before the residual sum. Return (B, Lt, d_model).

# %% [solution] DecoderLayer
class DecoderLayer(nn.Module):
    """Post-LN Transformer decoder layer: masked self-attention, cross-attention, feed-forward."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__()
        ### BEGIN SOLUTION
        self.self_attn = MultiHeadAttention(d_model, num_heads)
        self.cross_attn = MultiHeadAttention(d_model, num_heads)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        ### END SOLUTION

    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        """x (B, Lt, d_model), memory (B, Ls, d_model) -> (B, Lt, d_model)."""
        ### BEGIN SOLUTION
        attended, _ = self.self_attn(x, x, x, tgt_mask)
        x = self.norm1(x + self.dropout(attended))
        attended, _ = self.cross_attn(x, memory, memory, memory_mask)
        x = self.norm2(x + self.dropout(attended))
        return self.norm3(x + self.dropout(self.ffn(x)))
        ### END SOLUTION

# %% [check] DecoderLayer

# %% [hidden] DecoderLayer about="agreement with PyTorch's nn.TransformerDecoderLayer, causality"

# %% [question] why_masks_decoder points=2
# Why is the decoder's **self**-attention masked with a causal mask during training, while its **cross**-attention
# over the encoder's memory is not? What would go wrong at inference time if the self-attention were not masked
# during training? (3-5 sentences.)

# %% [answer] why_masks_decoder
# During training the decoder receives the whole target sequence at once (teacher forcing) and predicts token $t+1$
# at every position $t$ in parallel. Without the causal mask position $t$ could attend to token $t+1$, the very token
# it must predict, and the model would learn to copy it: a near-zero training loss that does not transfer. At
# inference the tokens are produced one at a time, so the future does not exist yet and the copying model fails.
# The encoder's memory is the source sentence, fully known before decoding starts (both in training and at
# inference), so every target position may look at all of it; only padding in the source is masked there.

# %% [markdown]
# ## Part 3: your layers at work
#
# A sequence-to-sequence model made of one of *your* `EncoderLayer`s and one of *your* `DecoderLayer`s learns to
# **reverse** a sequence of 6 symbols, trained with teacher forcing for 200 steps. Then it decodes greedily, one
# symbol at a time, and we measure how many sequences come out exactly reversed.

# %%
torch.manual_seed(0)
N_SYMBOLS, L, D_MODEL = 8, 6, 32
BOS = N_SYMBOLS  # start-of-sequence token of the decoder


class Reverser(nn.Module):
    def __init__(self):
        super().__init__()
        self.src_embed = nn.Embedding(N_SYMBOLS, D_MODEL)
        self.tgt_embed = nn.Embedding(N_SYMBOLS + 1, D_MODEL)
        self.register_buffer("pe", sinusoidal_positional_encoding(32, D_MODEL))
        self.encoder = EncoderLayer(D_MODEL, 4, 64, dropout=0.0)
        self.decoder = DecoderLayer(D_MODEL, 4, 64, dropout=0.0)
        self.out = nn.Linear(D_MODEL, N_SYMBOLS)

    def forward(self, src, tgt_in):
        memory = self.encoder(self.src_embed(src) + self.pe[: src.shape[1]])
        y = self.tgt_embed(tgt_in) + self.pe[: tgt_in.shape[1]]
        return self.out(self.decoder(y, memory, tgt_mask=causal_mask(tgt_in.shape[1])))


model = Reverser()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
for step in range(200):
    src = torch.randint(0, N_SYMBOLS, (64, L))
    tgt = src.flip(1)
    tgt_in = torch.cat([torch.full((64, 1), BOS), tgt[:, :-1]], dim=1)
    loss = F.cross_entropy(model(src, tgt_in).reshape(-1, N_SYMBOLS), tgt.reshape(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 50 == 0 or step == 199:
        print(f"step {step:3d}  loss {loss.item():.3f}")

model.eval()
with torch.no_grad():
    src = torch.randint(0, N_SYMBOLS, (500, L))
    out = torch.full((500, 1), BOS)
    for t in range(L):
        next_symbol = model(src, out)[:, -1].argmax(-1, keepdim=True)
        out = torch.cat([out, next_symbol], dim=1)
exact = (out[:, 1:] == src.flip(1)).all(dim=1).float().mean().item()
print(f"sequences reversed exactly by greedy decoding: {exact:.1%}")
print("example:", src[0].tolist(), "->", out[0, 1:].tolist())
