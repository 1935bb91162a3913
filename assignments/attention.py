# %% [title]
# # Assignment 2: scaled dot-product and multi-head attention
#
# Attention lets every position of a sequence look at every other one in a single step: queries are compared with keys, the scores become weights by a softmax, and the output is the weighted average of the values. Chapter 4 ([Self-attention](../../book/04_self_attention.ipynb)) derived $\operatorname{softmax}(QK^\top/\sqrt{d_k})\,V$ and measured why the $\sqrt{d_k}$ is there; chapter 5 ([Multi-head attention](../../book/05_multi_head_attention.ipynb)) split the model width into heads that attend independently. Here you write both, then train a small model with your multi-head attention.

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
# ## Part 1: scaled dot-product attention
#
# Write `scaled_dot_product_attention(q, k, v, mask=None)` returning `(out, weights)`:
#
# $$\text{weights} = \operatorname{softmax}\!\Big(\frac{q k^\top}{\sqrt{d_k}}\Big), \qquad \text{out} = \text{weights}\; v$$
#
# | argument | shape | meaning |
# |---|---|---|
# | `q` | (..., Lq, d_k) | queries; `...` is any number of batch dimensions (batch, heads, ...) |
# | `k` | (..., Lk, d_k) | keys |
# | `v` | (..., Lk, d_v) | values ($d_v$ may differ from $d_k$) |
# | `mask` | broadcastable to (..., Lq, Lk), `torch.bool` | **True = may attend**; a False entry gets weight exactly 0 |
#
# `weights` has shape (..., Lq, Lk) (the softmax runs over the **last** dimension, the keys; each row sums to 1)
# and `out` has shape (..., Lq, d_v). Hints: `k.transpose(-2, -1)` transposes the last two dimensions whatever
# the batch dimensions are; `scores.masked_fill(~mask, float("-inf"))` hides keys before the softmax.
# `torch.nn.functional.scaled_dot_product_attention` is refused by the grader: write it from matrix products.

# %% [solution] scaled_dot_product_attention
def scaled_dot_product_attention(q, k, v, mask=None):
    """softmax(q k^T / sqrt(d_k)) v; returns (out (..., Lq, d_v), weights (..., Lq, Lk)). mask: True = attend."""
    ### BEGIN SOLUTION
    d_k = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights
    ### END SOLUTION

# %% [check] scaled_dot_product_attention

# %% [hidden] scaled_dot_product_attention about="several batch dimensions, d_v != d_k, a mask shared by the batch, large d_k"

# %% [markdown]
# ## Part 2: multi-head attention
#
# Write the class `MultiHeadAttention(d_model, num_heads)`, an `nn.Module`:
#
# * `__init__` raises `ValueError` when `d_model % num_heads != 0`, sets $d_k$ = `d_model // num_heads`, and creates
#   four projections **with these names**, each `nn.Linear(d_model, d_model)` with a bias:
#   `self.w_q`, `self.w_k`, `self.w_v` (queries, keys, values) and `self.w_o` (output). The grader loads its
#   weights into them by name.
# * `forward(query, key, value, mask=None)` returns `(out, weights)`:
#   1. project: `Q = self.w_q(query)` (B, Lq, d_model), `K = self.w_k(key)`, `V = self.w_v(value)` (B, Lk, d_model);
#   2. split the features into heads: head $h$ uses the slice `[h*d_k:(h+1)*d_k]`; reshape to
#      (B, num_heads, L, d_k) with `.view(B, L, num_heads, d_k).transpose(1, 2)`;
#   3. attend in all heads at once: `scaled_dot_product_attention(Q, K, V, mask)` with `mask` broadcastable to
#      (B, num_heads, Lq, Lk) (for example (Lq, Lk) or (B, 1, 1, Lk));
#   4. concatenate the heads back to (B, Lq, d_model) and apply `self.w_o`.
#
#   `out` is (B, Lq, d_model) and `weights` (B, num_heads, Lq, Lk).
#
# You may use **`cs502_lib.scaled_dot_product_attention`** for step 3 (it is graded on its own, in Part 1), or your
# own from Part 1 (then a mistake there also costs you this part). `nn.MultiheadAttention` is refused by the grader.

# %% [solution] MultiHeadAttention
class MultiHeadAttention(nn.Module):
    """Multi-head attention with projections w_q, w_k, w_v, w_o (each nn.Linear(d_model, d_model))."""

    def __init__(self, d_model, num_heads):
        super().__init__()
        ### BEGIN SOLUTION
        if d_model % num_heads != 0:
            raise ValueError(f"d_model={d_model} must be divisible by num_heads={num_heads}")
        self.d_model = d_model
        self.num_heads = num_heads
        self.d_k = d_model // num_heads
        self.w_q = nn.Linear(d_model, d_model)
        self.w_k = nn.Linear(d_model, d_model)
        self.w_v = nn.Linear(d_model, d_model)
        self.w_o = nn.Linear(d_model, d_model)
        ### END SOLUTION

    def forward(self, query, key, value, mask=None):
        """query (B, Lq, d_model), key/value (B, Lk, d_model) -> (out (B, Lq, d_model), weights (B, h, Lq, Lk))."""
        ### BEGIN SOLUTION
        batch = query.shape[0]

        def heads(x):
            return x.reshape(batch, x.shape[1], self.num_heads, self.d_k).transpose(1, 2)

        q, k, v = heads(self.w_q(query)), heads(self.w_k(key)), heads(self.w_v(value))
        out, weights = cs502_lib.scaled_dot_product_attention(q, k, v, mask)
        out = out.transpose(1, 2).reshape(batch, query.shape[1], self.d_model)
        return self.w_o(out), weights
        ### END SOLUTION

# %% [check] MultiHeadAttention

# %% [hidden] MultiHeadAttention about="agreement with PyTorch's nn.MultiheadAttention, ValueError, gradients to all projections"

# %% [question] why_sqrt_dk points=2
# Why are the scores divided by $\sqrt{d_k}$ before the softmax? Say what happens to the scores' spread as $d_k$
# grows when the entries of $q$ and $k$ have unit variance, what that does to the softmax, and why that hurts
# training. (3-5 sentences.)

# %% [answer] why_sqrt_dk
# For $q, k$ with independent zero-mean unit-variance entries, $q \cdot k = \sum_{i=1}^{d_k} q_i k_i$ has variance
# $d_k$, so the scores' standard deviation grows like $\sqrt{d_k}$. Large scores push the softmax into saturation:
# nearly all the weight goes to the largest score (almost one-hot), and the softmax's gradient, which is
# $\operatorname{diag}(w) - w w^\top$, becomes nearly zero, so the queries and keys barely learn. Dividing by
# $\sqrt{d_k}$ brings the scores back to unit variance whatever the head width, keeping the softmax in its
# sensitive range.

# %% [markdown]
# ## Part 3: your attention at work
#
# A task only attention solves in one layer: in a sequence of 8 digits, every position must output the
# **largest digit of the whole sequence**. The model is an embedding, *your* `MultiHeadAttention` (self-attention,
# 4 heads) and a linear read-out, trained for 150 steps. Then the attention weights of one head show where the
# model looks.

# %%
torch.manual_seed(0)
L, VOCAB, D_MODEL = 8, 10, 32


class MaxModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, D_MODEL)
        self.attn = MultiHeadAttention(D_MODEL, 4)
        self.out = nn.Linear(2 * D_MODEL, VOCAB)

    def forward(self, tokens):
        x = self.embed(tokens)
        y, weights = self.attn(x, x, x)
        return self.out(torch.cat([x, y], dim=-1)), weights


model = MaxModel()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
for step in range(150):
    tokens = torch.randint(0, VOCAB, (64, L))
    target = tokens.max(dim=1, keepdim=True).values.expand(-1, L)
    logits, _ = model(tokens)
    loss = F.cross_entropy(logits.reshape(-1, VOCAB), target.reshape(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 50 == 0 or step == 149:
        print(f"step {step:3d}  loss {loss.item():.3f}")

with torch.no_grad():
    tokens = torch.randint(0, VOCAB, (1000, L))
    logits, weights = model(tokens)
    acc = (logits.argmax(-1) == tokens.max(dim=1, keepdim=True).values).float().mean().item()
print(f"accuracy on 1000 new sequences: {acc:.1%} (a constant guess of 9 scores about 57%)")
print("sequence:", tokens[0].tolist())
print("head 0, weights of query 0 over the keys:", [round(w, 2) for w in weights[0, 0, 0].tolist()])
