# %% [title]
# # Assignment 1: RNN and LSTM cells
#
# A recurrent network reads a sequence one element at a time and carries what it has seen in a hidden state, $h_t = f(h_{t-1}, x_t)$, with the same weights at every step. Chapter 2 ([Recurrent neural networks](../../book/02_rnn.ipynb)) showed why this shares parameters across positions and why its gradient vanishes over long distances; chapter 3 ([LSTMs](../../book/03_lstm.ipynb)) showed how gates and a cell state fix that. Here you write the two cells yourself and then race them on a task that needs a long memory.

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
# ## Part 1: the vanilla RNN cell
#
# Write `rnn_cell(x, h, W_xh, W_hh, b_h)`, one step of a vanilla RNN for a whole batch:
#
# $$h_{\text{new}} = \tanh(x W_{xh} + h W_{hh} + b_h)$$
#
# | argument | shape | meaning |
# |---|---|---|
# | `x` | (B, D) | the inputs of this time step, one row per sequence of the batch |
# | `h` | (B, H) | the previous hidden states |
# | `W_xh` | (D, H) | input-to-hidden weights |
# | `W_hh` | (H, H) | hidden-to-hidden weights |
# | `b_h` | (H,) | bias |
#
# Return `h_new` of shape (B, H). Use tensor operations only (no loop over the batch, no `nn.RNN`/`nn.RNNCell`:
# the grader refuses PyTorch's built-in recurrent layers), and do not modify `h` in place: the same state is
# reused when the network is unrolled and differentiated through time.

# %% [solution] rnn_cell
def rnn_cell(x, h, W_xh, W_hh, b_h):
    """One step of a vanilla RNN: tanh(x @ W_xh + h @ W_hh + b_h), (B, D), (B, H) -> (B, H)."""
    ### BEGIN SOLUTION
    return torch.tanh(x @ W_xh + h @ W_hh + b_h)
    ### END SOLUTION

# %% [check] rnn_cell

# %% [hidden] rnn_cell about="a 60-step unroll in float64, a batch of one, gradients to every weight"

# %% [markdown]
# ## Part 2: the LSTM cell
#
# Write `lstm_cell(x, h, c, W_x, W_h, b)`, one step of an LSTM for a whole batch. The four gates are computed
# by one matrix product each for the input and the state, then split into **four chunks of H columns in the
# order i, f, g, o** (PyTorch's order):
#
# $$[\,a_i \mid a_f \mid a_g \mid a_o\,] = x W_x + h W_h + b, \qquad
# i = \sigma(a_i),\; f = \sigma(a_f),\; g = \tanh(a_g),\; o = \sigma(a_o)$$
#
# $$c_{\text{new}} = f \odot c + i \odot g, \qquad h_{\text{new}} = o \odot \tanh(c_{\text{new}})$$
#
# | argument | shape | meaning |
# |---|---|---|
# | `x` | (B, D) | inputs of this step |
# | `h`, `c` | (B, H) each | previous hidden state and cell state |
# | `W_x` | (D, 4H) | input weights of the four gates, side by side |
# | `W_h` | (H, 4H) | state weights of the four gates |
# | `b` | (4H,) | biases of the four gates |
#
# Return the tuple `(h_new, c_new)`, both (B, H). `nn.LSTM`/`nn.LSTMCell` are refused by the grader.

# %% [solution] lstm_cell
def lstm_cell(x, h, c, W_x, W_h, b):
    """One LSTM step; gates in the order i, f, g, o. Returns (h_new, c_new), each (B, H)."""
    ### BEGIN SOLUTION
    hidden = h.shape[-1]
    gates = x @ W_x + h @ W_h + b
    i = torch.sigmoid(gates[:, 0 * hidden:1 * hidden])
    f = torch.sigmoid(gates[:, 1 * hidden:2 * hidden])
    g = torch.tanh(gates[:, 2 * hidden:3 * hidden])
    o = torch.sigmoid(gates[:, 3 * hidden:4 * hidden])
    c_new = f * c + i * g
    h_new = o * torch.tanh(c_new)
    return h_new, c_new
    ### END SOLUTION

# %% [check] lstm_cell

# %% [hidden] lstm_cell about="30 steps against PyTorch's nn.LSTMCell with the same weights, a batch of one"

# %% [question] why_lstm points=2
# In Part 3 below (and in chapter 3) the LSTM remembers the first input over many steps while the vanilla RNN
# does not. Explain **why**, in terms of the gradient that flows back through time: what multiplies the
# gradient at every step in the RNN, and what path does the LSTM's cell state offer instead? (4-6 sentences.)

# %% [answer] why_lstm
# In the RNN the gradient of $h_T$ with respect to $h_t$ is a product of $T-t$ Jacobians
# $\operatorname{diag}(1-h^2) W_{hh}^\top$; with $|\tanh'| \le 1$ and a typical $W_{hh}$ the product shrinks
# (or grows) geometrically, so after a few dozen steps the first input has no usable influence on the loss.
# The LSTM's cell state is updated additively, $c_t = f_t \odot c_{t-1} + i_t \odot g_t$, so
# $\partial c_t / \partial c_{t-1} = \operatorname{diag}(f_t)$: no weight matrix and no squashing non-linearity
# on that path. When the forget gate stays near 1 the gradient passes almost unchanged over many steps (the
# "constant error carousel"), and the gates learn when to write, keep and read the memory.

# %% [markdown]
# ## Part 3: your cells at work
#
# A task that needs a memory: each sequence is T = 20 random numbers, and the label is whether the **first** one
# was positive, so the networks must carry one bit through 19 distracting steps. Both networks below are built from
# *your* cells (unrolled over time with a Python loop) and trained for the same 150 steps of Adam. Run it, then try
# `T = 50`: the vanilla RNN's gradient from the last step back to the first is a product of T Jacobians and shrinks
# with T, while the LSTM's cell state offers a path without that product. With one seed and 150 steps the outcome
# of a single run is noisy; chapter 3 runs the careful experiment over seeds and lengths.

# %%
T, H, STEPS = 20, 16, 150


def make_batch(n, generator):
    x = torch.randn(n, T, 1, generator=generator)
    return x, (x[:, 0, 0] > 0).long()


def train_recurrent(kind, seed=0):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    width = H if kind == "rnn" else 4 * H
    W_x = nn.Parameter(torch.randn(1, width) * 0.5)
    W_h = nn.Parameter(torch.randn(H, width) / H**0.5)
    b = nn.Parameter(torch.zeros(width))
    if kind == "lstm":
        with torch.no_grad():
            b[H:2 * H] = 1.0  # forget gate open at the start: remember by default
    head = nn.Linear(H, 2)
    opt = torch.optim.Adam([W_x, W_h, b, *head.parameters()], lr=1e-2)

    def run(x):
        h = torch.zeros(len(x), H)
        c = torch.zeros(len(x), H)
        for t in range(T):
            if kind == "rnn":
                h = rnn_cell(x[:, t], h, W_x, W_h, b)
            else:
                h, c = lstm_cell(x[:, t], h, c, W_x, W_h, b)
        return head(h)

    for step in range(STEPS):
        x, y = make_batch(64, g)
        loss = F.cross_entropy(run(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        x, y = make_batch(1000, g)
        return (run(x).argmax(-1) == y).float().mean().item()


for kind in ("rnn", "lstm"):
    print(f"{kind:>4}: accuracy {train_recurrent(kind):.1%} on 1000 new sequences (chance: 50%)")
