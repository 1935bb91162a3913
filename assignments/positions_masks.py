# %% [title]
# # Assignment 3: positional encoding and masks
#
# Attention compares every position with every other, but it does not know **where** they are: shuffle the inputs and the outputs are shuffled the same way. Chapter 6 ([Positional encoding](../../book/06_positional_encoding.ipynb)) added sinusoids of geometric frequencies to the embeddings to give each position a signature; chapter 8 ([The decoder](../../book/08_decoder.ipynb)) used masks to stop a position from looking at the future (causal mask) or at padding (padding mask). Here you write the three, then check with a tiny language model that your masks really hide what they must.

# %% [how-to-check]

# %% [locked] setup
import math

import torch
import torch.nn.functional as F
from torch import nn

import cs502_lib

torch.manual_seed(0)
torch.set_num_threads(1)  # the models of this notebook are tiny: one thread is the fastest (and fair on a shared server)

# %% [markdown]
# ## Part 1: sinusoidal positional encoding
#
# Write `sinusoidal_positional_encoding(max_len, d_model)` returning a float32 tensor `PE` of shape
# (max_len, d_model) with, for position $p$ and $i = 0, 1, \dots, d_{\text{model}}/2 - 1$,
#
# $$PE[p, 2i] = \sin\!\Big(\frac{p}{10000^{2i/d_{\text{model}}}}\Big), \qquad
# PE[p, 2i+1] = \cos\!\Big(\frac{p}{10000^{2i/d_{\text{model}}}}\Big)$$
#
# (sines in the even columns, cosines in the odd ones, interleaved as in Vaswani et al. 2017). Positions start
# at 0. Raise `ValueError` when `d_model` is odd. Build it with tensor operations (`torch.arange`, broadcasting,
# slicing with a step of 2), not a Python loop over positions.

# %% [solution] sinusoidal_positional_encoding
def sinusoidal_positional_encoding(max_len, d_model):
    """PE (max_len, d_model), float32: sin in the even columns, cos in the odd ones."""
    ### BEGIN SOLUTION
    if d_model % 2 != 0:
        raise ValueError(f"d_model must be even (sin and cos come in pairs), got {d_model}")
    position = torch.arange(max_len, dtype=torch.float64)[:, None]
    rates = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    angles = position * rates
    pe = torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1)
    return pe.reshape(max_len, d_model).float()
    ### END SOLUTION

# %% [check] sinusoidal_positional_encoding

# %% [hidden] sinusoidal_positional_encoding about="a long table (5000 x 512), rows of constant norm, the shift by k as a rotation"

# %% [markdown]
# ## Part 2: the causal mask
#
# Write `causal_mask(n, device=None)` returning a `torch.bool` tensor of shape (n, n) with **True at [i, j] if and
# only if j <= i**: query position i may attend to itself and to the positions before it, never to later ones.
# Create it directly on `device` (`None` means the CPU): pass `device=device` to the tensor you create, rather than
# building it on the CPU and moving it.

# %% [solution] causal_mask
def causal_mask(n, device=None):
    """BoolTensor (n, n), True at [i, j] iff j <= i, created on `device`."""
    ### BEGIN SOLUTION
    position = torch.arange(n, device=device)
    return position[None, :] <= position[:, None]
    ### END SOLUTION

# %% [check] causal_mask

# %% [hidden] causal_mask about="n = 1, a large n, the meta device"

# %% [markdown]
# ## Part 3: the padding mask
#
# Sequences of a batch have different lengths and are padded to a common `max_len`. Write
# `padding_mask(lengths, max_len)`: `lengths` is an integer tensor of shape (B,) (the number of real tokens of each
# sequence), the result a `torch.bool` tensor of shape (B, max_len) with **True where position < length** (a real
# token). Put the result on the device of `lengths`. No Python loop over the batch: compare a row of positions with
# a column of lengths (broadcasting).

# %% [solution] padding_mask
def padding_mask(lengths, max_len):
    """BoolTensor (B, max_len), True where position < lengths[b], on lengths' device."""
    ### BEGIN SOLUTION
    position = torch.arange(max_len, device=lengths.device)
    return position[None, :] < lengths[:, None]
    ### END SOLUTION

# %% [check] padding_mask

# %% [hidden] padding_mask about="int32 and int64 lengths, a batch of 100, lengths left unchanged"

# %% [question] why_positions points=2
# Without a positional encoding, what does a Transformer encoder compute when you permute its input tokens, and why
# is that a problem for DNA (give an example)? Why are sinusoids of **many** frequencies used rather than a single
# one? (4-6 sentences.)

# %% [answer] why_positions
# Self-attention, the feed-forward layer and layer normalization treat positions identically, so an encoder without
# positions is permutation-equivariant: permuting the input tokens just permutes the outputs, and a pooled output is
# unchanged. It sees a bag of tokens. For DNA order is everything: `TATAAT` in a promoter and a shuffle of the same
# bases are different signals, and a codon's meaning depends on its reading frame. A single sinusoid repeats after
# one period, so distant positions would get the same code; geometric frequencies from $2\pi$ to $10000 \cdot 2\pi$
# give every position a unique signature (like the digits of a clock) while nearby positions stay similar, and
# $PE[p+k]$ is a fixed rotation of $PE[p]$, so relative offsets are easy to express with dot products.

# %% [markdown]
# ## Part 4: your encoding and masks at work
#
# A tiny decoder-only language model over DNA, built from `cs502_lib.MultiHeadAttention` (graded in assignment 2)
# with *your* positional encoding, causal mask and padding mask. First the masks are tested by behaviour: changing
# the **future** or the **padding** must not change the outputs of earlier, real positions. Then the model learns
# to continue periodic sequences such as `ACGACGACG...` (next-token prediction), which needs both the content of
# the previous tokens and their order.

# %%
torch.manual_seed(0)
BASES, D_MODEL, L = "ACGT", 32, 16


class TinyCausalLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(5, D_MODEL)  # A, C, G, T and 4 = padding
        self.register_buffer("pe", sinusoidal_positional_encoding(64, D_MODEL))
        self.attn = cs502_lib.MultiHeadAttention(D_MODEL, 4)
        self.out = nn.Linear(D_MODEL, 4)

    def forward(self, tokens, lengths):
        x = self.embed(tokens) + self.pe[: tokens.shape[1]]
        n = tokens.shape[1]
        mask = causal_mask(n, device=tokens.device)[None, None] & padding_mask(lengths, n)[:, None, None, :]
        y, _ = self.attn(x, x, x, mask)
        return self.out(x + y)


model = TinyCausalLM()
tokens = torch.randint(0, 4, (2, L))
lengths = torch.tensor([L, 10])
with torch.no_grad():
    before = model(tokens, lengths)
    changed = tokens.clone()
    changed[0, 12:] = (changed[0, 12:] + 1) % 4  # the future of position 11 in row 0
    changed[1, 10:] = 4                          # the padding of row 1
    after = model(changed, lengths)
print("outputs before the change of the future unchanged:", torch.allclose(before[0, :12], after[0, :12], atol=1e-6))
print("real tokens unchanged when the padding changes:  ", torch.allclose(before[1, :10], after[1, :10], atol=1e-6))


def periodic_batch(n):
    period = torch.randint(2, 5, (n, 1))
    motif = torch.randint(0, 4, (n, 4))
    pos = torch.arange(L + 1)[None, :] % period
    seq = torch.gather(motif, 1, pos)
    return seq[:, :-1], seq[:, 1:]


opt = torch.optim.Adam(model.parameters(), lr=3e-3)
for step in range(200):
    x, y = periodic_batch(64)
    lengths = torch.randint(8, L + 1, (64,))
    logits = model(x, lengths)
    keep = padding_mask(lengths, L)
    loss = F.cross_entropy(logits[keep], y[keep])
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 50 == 0 or step == 199:
        print(f"step {step:3d}  loss {loss.item():.3f}")

with torch.no_grad():
    x, y = periodic_batch(500)
    pred = model(x, torch.full((500,), L)).argmax(-1)
late = (pred[:, 8:] == y[:, 8:]).float().mean().item()
print(f"next-base accuracy after 8 bases of context: {late:.1%} (chance: 25%)")
print("example:", "".join(BASES[i] for i in x[0].tolist()), "->", "".join(BASES[i] for i in pred[0].tolist()))
