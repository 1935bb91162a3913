"""Write the five nbgrader source notebooks solutions/<a>/<a>.ipynb (the single source of the assignments).

Usage::

    .venv/bin/python tools/make_assignments.py           # write every notebook
    .venv/bin/python tools/make_assignments.py --check   # exit 1 if a committed notebook differs

Edit the cells here, never the .ipynb (tests/test_assignments_source.py fails when they
disagree), then run ``make release`` and commit solutions/ and exercises/ together.

Each notebook: "How to check your work"; the motivation, linked to its chapter; per
graded name, its instructions, one solution cell (``grade_id`` = the name), an
autograded test cell that calls the matching ``cs502_lib.grading`` check through
:func:`cs502_lib.testcell.grade`, and a cell of hidden tests (edge cases, extra points);
one written question (graded by hand); a final part that puts the student's code to use.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from cs502_lib.grading import registry

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = 3

# --------------------------------------------------------------------------- cell builders


def _nbg(**kw) -> dict:
    meta = {"grade": False, "locked": False, "solution": False, "schema_version": SCHEMA, "task": False}
    meta.update(kw)
    return meta


def md(src: str):
    return nbformat.v4.new_markdown_cell(src.strip("\n"))


def code(src: str):
    return nbformat.v4.new_code_cell(src.strip("\n"))


def readonly(gid: str, src: str, markdown: bool = False):
    cell = md(src) if markdown else code(src)
    cell.metadata["nbgrader"] = _nbg(grade_id=gid, locked=True)
    cell["id"] = gid
    return cell


def solution(name: str, src: str):
    cell = code(src)
    cell.metadata["nbgrader"] = _nbg(grade_id=name, solution=True)
    cell["id"] = name
    return cell


def test(gid: str, points: int, src: str):
    cell = code(src)
    cell.metadata["nbgrader"] = _nbg(grade_id=gid, grade=True, locked=True, points=points)
    cell["id"] = gid
    return cell


def answer(gid: str, points: int, src: str):
    cell = md(src)
    cell.metadata["nbgrader"] = _nbg(grade_id=gid, grade=True, solution=True, points=points)
    cell["id"] = gid
    return cell


def check_cell(name: str):
    points = registry.item(name).points
    return test(f"test_{name}", points, f'''
# Checks your {name} ({points} points). Run this cell after the one above: it prints a short
# report, or raises a GradingError whose message says what is wrong and the likely cause.
# (The checker is reloaded from disk here, so nothing in this notebook can change how it grades.)
import importlib, cs502_lib.testcell
importlib.reload(cs502_lib.testcell).grade("{name}", {name})
''')


def hidden_cell(name: str, about: str):
    """The hidden tests of ``name``: a call of its suite in :mod:`cs502_lib.grading.hidden` (points from the registry)."""
    points = registry.item(name).hidden_points
    return test(f"hidden_{name}", points, f'''
# Hidden tests of {name} ({points} point{"s" if points > 1 else ""}), run by the autograder after you
# submit: {about}. Nothing to do here; the check above is your guide.
### BEGIN HIDDEN TESTS
import importlib, cs502_lib.testcell
importlib.reload(cs502_lib.testcell).grade_hidden("{name}", {name})
### END HIDDEN TESTS
''')


def how_to(title: str, chapter_links: str, points: str) -> list:
    return [
        md(f"# {title}\n\n{chapter_links}\n\n{points}"),
        md('''
## How to check your work

* Write your code between the lines `# YOUR CODE HERE` and the next cell, replacing
  `raise NotImplementedError()`. Keep the names and signatures as they are: the grader calls them.
* **Run the test cell under each function** (Shift+Enter). It runs `cs502_lib.grading`'s check of
  that function on many cases (on the CPU, on PyTorch's `meta` device to catch tensors created on the
  wrong device, and on a GPU when there is one) and either prints a one-line report
  (`check_... passed: N cases on cpu, meta in 0.4 s`) or raises a `GradingError` whose message says which
  case failed, what was expected, what you returned, and the most likely cause.
* Before you submit, restart the kernel and run all cells (*Kernel > Restart Kernel and Run All Cells*),
  then press nbgrader's **Validate** button, or run `.venv/bin/nbgrader validate <this notebook>` in a terminal.
* After you submit, the autograder runs the same checks, plus **hidden tests** of edge cases worth extra
  points. The written question is graded by hand.
* Do not edit the test cells (they are restored from the original when grading) and do not patch
  `cs502_lib` or `torch`: a check that finds its code changed gives no points.
'''),
    ]


def written(gid: str, points: int, question: str, model_answer: str) -> list:
    return [
        readonly(f"{gid}_question", f"### Written question ({points} points, graded by hand)\n\n{question.strip()}",
                 markdown=True),
        answer(gid, points, model_answer),
    ]


# --------------------------------------------------------------------------- assignment 1: rnn_lstm


def rnn_lstm() -> list:
    return [
        *how_to(
            "Assignment 1: RNN and LSTM cells",
            "A recurrent network reads a sequence one element at a time and carries what it has seen in a hidden "
            "state, $h_t = f(h_{t-1}, x_t)$, with the same weights at every step. Chapter 2 "
            "([Recurrent neural networks](../../book/02_rnn.ipynb)) showed why this shares parameters across "
            "positions and why its gradient vanishes over long distances; chapter 3 "
            "([LSTMs](../../book/03_lstm.ipynb)) showed how gates and a cell state fix that. Here you write the "
            "two cells yourself and then race them on a task that needs a long memory.",
            "**Points:** `rnn_cell` 3 + 1 hidden, `lstm_cell` 4 + 1 hidden, written question 2 (total 11).",
        ),
        readonly("setup", '''
import math

import torch
import torch.nn.functional as F
from torch import nn

import cs502_lib

torch.manual_seed(0)
torch.set_num_threads(1)  # the models of this notebook are tiny: one thread is the fastest (and fair on a shared server)
'''),
        md(r'''
## Part 1: the vanilla RNN cell

Write `rnn_cell(x, h, W_xh, W_hh, b_h)`, one step of a vanilla RNN for a whole batch:

$$h_{\text{new}} = \tanh(x W_{xh} + h W_{hh} + b_h)$$

| argument | shape | meaning |
|---|---|---|
| `x` | (B, D) | the inputs of this time step, one row per sequence of the batch |
| `h` | (B, H) | the previous hidden states |
| `W_xh` | (D, H) | input-to-hidden weights |
| `W_hh` | (H, H) | hidden-to-hidden weights |
| `b_h` | (H,) | bias |

Return `h_new` of shape (B, H). Use tensor operations only (no loop over the batch, no `nn.RNN`/`nn.RNNCell`:
the grader refuses PyTorch's built-in recurrent layers), and do not modify `h` in place: the same state is
reused when the network is unrolled and differentiated through time.
'''),
        solution("rnn_cell", '''
def rnn_cell(x, h, W_xh, W_hh, b_h):
    """One step of a vanilla RNN: tanh(x @ W_xh + h @ W_hh + b_h), (B, D), (B, H) -> (B, H)."""
    ### BEGIN SOLUTION
    return torch.tanh(x @ W_xh + h @ W_hh + b_h)
    ### END SOLUTION
'''),
        check_cell("rnn_cell"),
        hidden_cell("rnn_cell", "a 60-step unroll in float64, a batch of one, gradients to every weight"),
        md(r'''
## Part 2: the LSTM cell

Write `lstm_cell(x, h, c, W_x, W_h, b)`, one step of an LSTM for a whole batch. The four gates are computed
by one matrix product each for the input and the state, then split into **four chunks of H columns in the
order i, f, g, o** (PyTorch's order):

$$[\,a_i \mid a_f \mid a_g \mid a_o\,] = x W_x + h W_h + b, \qquad
i = \sigma(a_i),\; f = \sigma(a_f),\; g = \tanh(a_g),\; o = \sigma(a_o)$$

$$c_{\text{new}} = f \odot c + i \odot g, \qquad h_{\text{new}} = o \odot \tanh(c_{\text{new}})$$

| argument | shape | meaning |
|---|---|---|
| `x` | (B, D) | inputs of this step |
| `h`, `c` | (B, H) each | previous hidden state and cell state |
| `W_x` | (D, 4H) | input weights of the four gates, side by side |
| `W_h` | (H, 4H) | state weights of the four gates |
| `b` | (4H,) | biases of the four gates |

Return the tuple `(h_new, c_new)`, both (B, H). `nn.LSTM`/`nn.LSTMCell` are refused by the grader.
'''),
        solution("lstm_cell", '''
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
'''),
        check_cell("lstm_cell"),
        hidden_cell("lstm_cell", "30 steps against PyTorch's nn.LSTMCell with the same weights, a batch of one"),
        *written("why_lstm", 2, r'''
In Part 3 below (and in chapter 3) the LSTM remembers the first input over many steps while the vanilla RNN
does not. Explain **why**, in terms of the gradient that flows back through time: what multiplies the
gradient at every step in the RNN, and what path does the LSTM's cell state offer instead? (4-6 sentences.)
''', r'''
In the RNN the gradient of $h_T$ with respect to $h_t$ is a product of $T-t$ Jacobians
$\operatorname{diag}(1-h^2) W_{hh}^\top$; with $|\tanh'| \le 1$ and a typical $W_{hh}$ the product shrinks
(or grows) geometrically, so after a few dozen steps the first input has no usable influence on the loss.
The LSTM's cell state is updated additively, $c_t = f_t \odot c_{t-1} + i_t \odot g_t$, so
$\partial c_t / \partial c_{t-1} = \operatorname{diag}(f_t)$: no weight matrix and no squashing non-linearity
on that path. When the forget gate stays near 1 the gradient passes almost unchanged over many steps (the
"constant error carousel"), and the gates learn when to write, keep and read the memory.
'''),
        md(r'''
## Part 3: your cells at work

A task that needs a memory: each sequence is T = 20 random numbers, and the label is whether the **first** one
was positive, so the networks must carry one bit through 19 distracting steps. Both networks below are built from
*your* cells (unrolled over time with a Python loop) and trained for the same 150 steps of Adam. Run it, then try
`T = 50`: the vanilla RNN's gradient from the last step back to the first is a product of T Jacobians and shrinks
with T, while the LSTM's cell state offers a path without that product. With one seed and 150 steps the outcome
of a single run is noisy; chapter 3 runs the careful experiment over seeds and lengths.
'''),
        code('''
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
'''),
    ]


# --------------------------------------------------------------------------- assignment 2: attention


def attention() -> list:
    return [
        *how_to(
            "Assignment 2: scaled dot-product and multi-head attention",
            "Attention lets every position of a sequence look at every other one in a single step: queries are "
            "compared with keys, the scores become weights by a softmax, and the output is the weighted average "
            "of the values. Chapter 4 ([Self-attention](../../book/04_self_attention.ipynb)) derived "
            "$\\operatorname{softmax}(QK^\\top/\\sqrt{d_k})\\,V$ and measured why the $\\sqrt{d_k}$ is there; "
            "chapter 5 ([Multi-head attention](../../book/05_multi_head_attention.ipynb)) split the model width "
            "into heads that attend independently. Here you write both, then train a small model with your "
            "multi-head attention.",
            "**Points:** `scaled_dot_product_attention` 4 + 1 hidden, `MultiHeadAttention` 5 + 1 hidden, "
            "written question 2 (total 13).",
        ),
        readonly("setup", '''
import math

import torch
import torch.nn.functional as F
from torch import nn

import cs502_lib

torch.manual_seed(0)
torch.set_num_threads(1)  # the models of this notebook are tiny: one thread is the fastest (and fair on a shared server)
'''),
        md(r'''
## Part 1: scaled dot-product attention

Write `scaled_dot_product_attention(q, k, v, mask=None)` returning `(out, weights)`:

$$\text{weights} = \operatorname{softmax}\!\Big(\frac{q k^\top}{\sqrt{d_k}}\Big), \qquad \text{out} = \text{weights}\; v$$

| argument | shape | meaning |
|---|---|---|
| `q` | (..., Lq, d_k) | queries; `...` is any number of batch dimensions (batch, heads, ...) |
| `k` | (..., Lk, d_k) | keys |
| `v` | (..., Lk, d_v) | values ($d_v$ may differ from $d_k$) |
| `mask` | broadcastable to (..., Lq, Lk), `torch.bool` | **True = may attend**; a False entry gets weight exactly 0 |

`weights` has shape (..., Lq, Lk) (the softmax runs over the **last** dimension, the keys; each row sums to 1)
and `out` has shape (..., Lq, d_v). Hints: `k.transpose(-2, -1)` transposes the last two dimensions whatever
the batch dimensions are; `scores.masked_fill(~mask, float("-inf"))` hides keys before the softmax.
`torch.nn.functional.scaled_dot_product_attention` is refused by the grader: write it from matrix products.
'''),
        solution("scaled_dot_product_attention", '''
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
'''),
        check_cell("scaled_dot_product_attention"),
        hidden_cell("scaled_dot_product_attention", "several batch dimensions, d_v != d_k, a mask shared by the batch, large d_k"),
        md(r'''
## Part 2: multi-head attention

Write the class `MultiHeadAttention(d_model, num_heads)`, an `nn.Module`:

* `__init__` raises `ValueError` when `d_model % num_heads != 0`, sets $d_k$ = `d_model // num_heads`, and creates
  four projections **with these names**, each `nn.Linear(d_model, d_model)` with a bias:
  `self.w_q`, `self.w_k`, `self.w_v` (queries, keys, values) and `self.w_o` (output). The grader loads its
  weights into them by name.
* `forward(query, key, value, mask=None)` returns `(out, weights)`:
  1. project: `Q = self.w_q(query)` (B, Lq, d_model), `K = self.w_k(key)`, `V = self.w_v(value)` (B, Lk, d_model);
  2. split the features into heads: head $h$ uses the slice `[h*d_k:(h+1)*d_k]`; reshape to
     (B, num_heads, L, d_k) with `.view(B, L, num_heads, d_k).transpose(1, 2)`;
  3. attend in all heads at once: `scaled_dot_product_attention(Q, K, V, mask)` with `mask` broadcastable to
     (B, num_heads, Lq, Lk) (for example (Lq, Lk) or (B, 1, 1, Lk));
  4. concatenate the heads back to (B, Lq, d_model) and apply `self.w_o`.

  `out` is (B, Lq, d_model) and `weights` (B, num_heads, Lq, Lk).

You may use **`cs502_lib.scaled_dot_product_attention`** for step 3 (it is graded on its own, in Part 1), or your
own from Part 1 (then a mistake there also costs you this part). `nn.MultiheadAttention` is refused by the grader.
'''),
        solution("MultiHeadAttention", '''
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
'''),
        check_cell("MultiHeadAttention"),
        hidden_cell("MultiHeadAttention", "agreement with PyTorch's nn.MultiheadAttention, ValueError, gradients to all projections"),
        *written("why_sqrt_dk", 2, r'''
Why are the scores divided by $\sqrt{d_k}$ before the softmax? Say what happens to the scores' spread as $d_k$
grows when the entries of $q$ and $k$ have unit variance, what that does to the softmax, and why that hurts
training. (3-5 sentences.)
''', r'''
For $q, k$ with independent zero-mean unit-variance entries, $q \cdot k = \sum_{i=1}^{d_k} q_i k_i$ has variance
$d_k$, so the scores' standard deviation grows like $\sqrt{d_k}$. Large scores push the softmax into saturation:
nearly all the weight goes to the largest score (almost one-hot), and the softmax's gradient, which is
$\operatorname{diag}(w) - w w^\top$, becomes nearly zero, so the queries and keys barely learn. Dividing by
$\sqrt{d_k}$ brings the scores back to unit variance whatever the head width, keeping the softmax in its
sensitive range.
'''),
        md(r'''
## Part 3: your attention at work

A task only attention solves in one layer: in a sequence of 8 digits, every position must output the
**largest digit of the whole sequence**. The model is an embedding, *your* `MultiHeadAttention` (self-attention,
4 heads) and a linear read-out, trained for 150 steps. Then the attention weights of one head show where the
model looks.
'''),
        code('''
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
'''),
    ]


# --------------------------------------------------------------------------- assignment 3: positions_masks


def positions_masks() -> list:
    return [
        *how_to(
            "Assignment 3: positional encoding and masks",
            "Attention compares every position with every other, but it does not know **where** they are: shuffle "
            "the inputs and the outputs are shuffled the same way. Chapter 6 "
            "([Positional encoding](../../book/06_positional_encoding.ipynb)) added sinusoids of geometric "
            "frequencies to the embeddings to give each position a signature; chapter 8 "
            "([The decoder](../../book/08_decoder.ipynb)) used masks to stop a position from looking at the "
            "future (causal mask) or at padding (padding mask). Here you write the three, then check with a tiny "
            "language model that your masks really hide what they must.",
            "**Points:** `sinusoidal_positional_encoding` 3 + 1 hidden, `causal_mask` 2 + 1 hidden, "
            "`padding_mask` 2 + 1 hidden, written question 2 (total 12).",
        ),
        readonly("setup", '''
import math

import torch
import torch.nn.functional as F
from torch import nn

import cs502_lib

torch.manual_seed(0)
torch.set_num_threads(1)  # the models of this notebook are tiny: one thread is the fastest (and fair on a shared server)
'''),
        md(r'''
## Part 1: sinusoidal positional encoding

Write `sinusoidal_positional_encoding(max_len, d_model)` returning a float32 tensor `PE` of shape
(max_len, d_model) with, for position $p$ and $i = 0, 1, \dots, d_{\text{model}}/2 - 1$,

$$PE[p, 2i] = \sin\!\Big(\frac{p}{10000^{2i/d_{\text{model}}}}\Big), \qquad
PE[p, 2i+1] = \cos\!\Big(\frac{p}{10000^{2i/d_{\text{model}}}}\Big)$$

(sines in the even columns, cosines in the odd ones, interleaved as in Vaswani et al. 2017). Positions start
at 0. Raise `ValueError` when `d_model` is odd. Build it with tensor operations (`torch.arange`, broadcasting,
slicing with a step of 2), not a Python loop over positions.
'''),
        solution("sinusoidal_positional_encoding", '''
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
'''),
        check_cell("sinusoidal_positional_encoding"),
        hidden_cell("sinusoidal_positional_encoding", "a long table (5000 x 512), rows of constant norm, the shift by k as a rotation"),
        md(r'''
## Part 2: the causal mask

Write `causal_mask(n, device=None)` returning a `torch.bool` tensor of shape (n, n) with **True at [i, j] if and
only if j <= i**: query position i may attend to itself and to the positions before it, never to later ones.
Create it directly on `device` (`None` means the CPU): pass `device=device` to the tensor you create, rather than
building it on the CPU and moving it.
'''),
        solution("causal_mask", '''
def causal_mask(n, device=None):
    """BoolTensor (n, n), True at [i, j] iff j <= i, created on `device`."""
    ### BEGIN SOLUTION
    position = torch.arange(n, device=device)
    return position[None, :] <= position[:, None]
    ### END SOLUTION
'''),
        check_cell("causal_mask"),
        hidden_cell("causal_mask", "n = 1, a large n, the meta device"),
        md(r'''
## Part 3: the padding mask

Sequences of a batch have different lengths and are padded to a common `max_len`. Write
`padding_mask(lengths, max_len)`: `lengths` is an integer tensor of shape (B,) (the number of real tokens of each
sequence), the result a `torch.bool` tensor of shape (B, max_len) with **True where position < length** (a real
token). Put the result on the device of `lengths`. No Python loop over the batch: compare a row of positions with
a column of lengths (broadcasting).
'''),
        solution("padding_mask", '''
def padding_mask(lengths, max_len):
    """BoolTensor (B, max_len), True where position < lengths[b], on lengths' device."""
    ### BEGIN SOLUTION
    position = torch.arange(max_len, device=lengths.device)
    return position[None, :] < lengths[:, None]
    ### END SOLUTION
'''),
        check_cell("padding_mask"),
        hidden_cell("padding_mask", "int32 and int64 lengths, a batch of 100, lengths left unchanged"),
        *written("why_positions", 2, r'''
Without a positional encoding, what does a Transformer encoder compute when you permute its input tokens, and why
is that a problem for DNA (give an example)? Why are sinusoids of **many** frequencies used rather than a single
one? (4-6 sentences.)
''', r'''
Self-attention, the feed-forward layer and layer normalization treat positions identically, so an encoder without
positions is permutation-equivariant: permuting the input tokens just permutes the outputs, and a pooled output is
unchanged. It sees a bag of tokens. For DNA order is everything: `TATAAT` in a promoter and a shuffle of the same
bases are different signals, and a codon's meaning depends on its reading frame. A single sinusoid repeats after
one period, so distant positions would get the same code; geometric frequencies from $2\pi$ to $10000 \cdot 2\pi$
give every position a unique signature (like the digits of a clock) while nearby positions stay similar, and
$PE[p+k]$ is a fixed rotation of $PE[p]$, so relative offsets are easy to express with dot products.
'''),
        md(r'''
## Part 4: your encoding and masks at work

A tiny decoder-only language model over DNA, built from `cs502_lib.MultiHeadAttention` (graded in assignment 2)
with *your* positional encoding, causal mask and padding mask. First the masks are tested by behaviour: changing
the **future** or the **padding** must not change the outputs of earlier, real positions. Then the model learns
to continue periodic sequences such as `ACGACGACG...` (next-token prediction), which needs both the content of
the previous tokens and their order.
'''),
        code('''
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
'''),
    ]


# --------------------------------------------------------------------------- assignment 4: transformer


def transformer() -> list:
    return [
        *how_to(
            "Assignment 4: the Transformer encoder and decoder layers",
            "A Transformer layer is attention plus a position-wise feed-forward network, each wrapped in a residual "
            "connection and layer normalization (Add & Norm). Chapter 7 "
            "([The Transformer encoder](../../book/07_encoder.ipynb)) built the encoder layer; chapter 8 "
            "([The Transformer decoder](../../book/08_decoder.ipynb)) added masked self-attention and attention "
            "over the encoder's output (cross-attention), and trained a sequence-to-sequence model. Here you write "
            "both layers and train a small sequence-to-sequence model made of them.",
            "**Points:** `EncoderLayer` 5 + 1 hidden, `DecoderLayer` 5 + 1 hidden, written question 2 (total 14).",
        ),
        readonly("setup", '''
import math

import torch
import torch.nn.functional as F
from torch import nn

import cs502_lib
from cs502_lib import MultiHeadAttention, causal_mask, padding_mask, sinusoidal_positional_encoding

torch.manual_seed(0)
torch.set_num_threads(1)  # the models of this notebook are tiny: one thread is the fastest (and fair on a shared server)
'''),
        md(r'''
Both layers use `MultiHeadAttention` from `cs502_lib` (imported above; it is graded in assignment 2):
`MultiHeadAttention(d_model, num_heads)`, called as `attn(query, key, value, mask)` and returning
`(out, weights)`. Masks are `torch.bool`, **True = may attend**, broadcastable to (B, num_heads, Lq, Lk).

## Part 1: the encoder layer

Write `EncoderLayer(d_model, num_heads, d_ff, dropout=0.1)`, an `nn.Module` with **these submodules** (the grader
loads reference weights into them by name):

* `self.self_attn = MultiHeadAttention(d_model, num_heads)`
* `self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))`
* `self.norm1`, `self.norm2`: `nn.LayerNorm(d_model)`
* `self.dropout = nn.Dropout(dropout)`

`forward(x, mask=None)` with `x` (B, L, d_model) returns (B, L, d_model), **post-LN** as in the original paper:

$$x \leftarrow \text{norm}_1\big(x + \text{dropout}(\text{SelfAttn}(x, x, x, \text{mask}))\big), \qquad
x \leftarrow \text{norm}_2\big(x + \text{dropout}(\text{FFN}(x))\big)$$
'''),
        solution("EncoderLayer", '''
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
'''),
        check_cell("EncoderLayer"),
        hidden_cell("EncoderLayer", "agreement with PyTorch's nn.TransformerEncoderLayer, padding that has no effect"),
        md(r'''
## Part 2: the decoder layer

Write `DecoderLayer(d_model, num_heads, d_ff, dropout=0.1)` with submodules `self.self_attn`, `self.cross_attn`
(two `MultiHeadAttention(d_model, num_heads)`), `self.ffn` (as in the encoder), `self.norm1`, `self.norm2`,
`self.norm3` (`nn.LayerNorm(d_model)`) and `self.dropout`.

`forward(x, memory, tgt_mask=None, memory_mask=None)`: `x` (B, Lt, d_model) is the target sequence, `memory`
(B, Ls, d_model) the encoder's output. Three sublayers, each followed by Add & Norm (post-LN):

1. masked self-attention over the target: `self_attn(x, x, x, tgt_mask)`, then `norm1`;
2. cross-attention, queries from the decoder, keys and values from the memory:
   `cross_attn(x, memory, memory, memory_mask)`, then `norm2`;
3. the feed-forward network, then `norm3`.

Apply `self.dropout` to each sublayer's output before the residual sum. Return (B, Lt, d_model).
'''),
        solution("DecoderLayer", '''
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
'''),
        check_cell("DecoderLayer"),
        hidden_cell("DecoderLayer", "agreement with PyTorch's nn.TransformerDecoderLayer, causality"),
        *written("why_masks_decoder", 2, r'''
Why is the decoder's **self**-attention masked with a causal mask during training, while its **cross**-attention
over the encoder's memory is not? What would go wrong at inference time if the self-attention were not masked
during training? (3-5 sentences.)
''', r'''
During training the decoder receives the whole target sequence at once (teacher forcing) and predicts token $t+1$
at every position $t$ in parallel. Without the causal mask position $t$ could attend to token $t+1$, the very token
it must predict, and the model would learn to copy it: a near-zero training loss that does not transfer. At
inference the tokens are produced one at a time, so the future does not exist yet and the copying model fails.
The encoder's memory is the source sentence, fully known before decoding starts (both in training and at
inference), so every target position may look at all of it; only padding in the source is masked there.
'''),
        md(r'''
## Part 3: your layers at work

A sequence-to-sequence model made of one of *your* `EncoderLayer`s and one of *your* `DecoderLayer`s learns to
**reverse** a sequence of 6 symbols, trained with teacher forcing for 200 steps. Then it decodes greedily, one
symbol at a time, and we measure how many sequences come out exactly reversed.
'''),
        code('''
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
'''),
    ]


# --------------------------------------------------------------------------- assignment 5: dnabert


def dnabert() -> list:
    return [
        *how_to(
            "Assignment 5: from DNA to DNABERT's inputs",
            "DNABERT reads DNA as overlapping k-mers, learns by filling in masked spans of them, and is then "
            "fine-tuned to recognise promoters, binding sites and splice sites. Chapter 9 "
            "([Biological sequences](../../book/09_biological_sequences.ipynb)) went from DNA to RNA to protein "
            "and introduced k-mers; chapter 10 ([DNABERT](../../book/10_dnabert.ipynb)) built the vocabulary, "
            "the span masking and the pretraining. Here you write the whole input pipeline, from a template strand "
            "to a masked batch, and use it to pretrain DNABERT-mini for a few steps on a real genome.",
            "**Points:** `transcribe` 2 + 1 hidden, `translate` 3 + 1 hidden, `kmer_tokenize` 2 + 1 hidden, "
            "`build_kmer_vocab` 2 + 1 hidden, `span_mask` 4 + 1 hidden, written question 2 (total 20).",
        ),
        readonly("setup", '''
import itertools

import torch

import cs502_lib

torch.manual_seed(0)
torch.set_num_threads(1)  # the models of this notebook are tiny: one thread is the fastest (and fair on a shared server)
'''),
        md(r'''
## Part 1: transcription

Write `transcribe(template)`: the mRNA complementary to a **template** strand, base by base as in the lecture's
figure: A -> U, T -> A, C -> G, G -> C. So `transcribe("CACGTAGACTGAGGACTCCTCTTC")` is
`"GUGCAUCUGACUCCUGAGGAGAAG"`. Lower-case input is accepted (the result is upper case); any other letter raises
`ValueError` (with a message naming it).
'''),
        solution("transcribe", '''
def transcribe(template):
    """mRNA (A->U, T->A, C->G, G->C) of a DNA template strand; ValueError on other letters."""
    ### BEGIN SOLUTION
    pairs = {"A": "U", "T": "A", "C": "G", "G": "C"}
    rna = []
    for position, base in enumerate(template.upper()):
        if base not in pairs:
            raise ValueError(f"not a DNA base at position {position}: {base!r}")
        rna.append(pairs[base])
    return "".join(rna)
    ### END SOLUTION
'''),
        check_cell("transcribe"),
        hidden_cell("transcribe", "a long random strand, mixed case, letters that are not DNA"),
        md(r'''
## Part 2: translation

Write `translate(mrna)`: the protein, in one-letter amino-acid codes, that the standard genetic code gives for
`mrna`, read codon by codon **from position 0**. Translation **stops before the first stop codon** (UAA, UAG,
UGA; the stop itself is not written), and an incomplete last codon (1 or 2 leftover bases) is ignored.
Lower case is accepted; any letter other than A/C/G/U raises `ValueError`, wherever it is.
`translate("GUGCAUCUGACUCCUGAGGAGAAG")` is `"VHLTPEEK"`.

The standard code in compact form: with the bases in the order U, C, A, G, the 64 codons listed
UUU, UUC, UUA, UUG, UCU, ..., GGG (first base slowest) code for
`FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG` (`*` = stop).
'''),
        solution("translate", '''
def translate(mrna):
    """Protein (one-letter codes) of an mRNA read from 0 until the first stop codon; ValueError on non-ACGU."""
    ### BEGIN SOLUTION
    order = "UCAG"
    amino = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
    code = {"".join(codon): aa for codon, aa in zip(itertools.product(order, repeat=3), amino)}
    mrna = mrna.upper()
    for position, base in enumerate(mrna):
        if base not in order:
            raise ValueError(f"not an RNA base at position {position}: {base!r}")
    protein = []
    for start in range(0, len(mrna) - 2, 3):
        aa = code[mrna[start:start + 3]]
        if aa == "*":
            break
        protein.append(aa)
    return "".join(protein)
    ### END SOLUTION
'''),
        check_cell("translate"),
        hidden_cell("translate", "all 64 codons, a stop first, bad letters after a stop"),
        md(r'''
## Part 3: k-mer tokens

Write `kmer_tokenize(seq, k)`: the list of the **overlapping** k-mers of a DNA sequence, a window of k bases moved
one base at a time, so `len(seq) - k + 1` of them, upper-cased: `kmer_tokenize("acgtac", 3)` is
`["ACG", "CGT", "GTA", "TAC"]`. Raise `ValueError` when the sequence holds a letter other than A/C/G/T (either
case), when `k < 1`, or when `len(seq) < k`.
'''),
        solution("kmer_tokenize", '''
def kmer_tokenize(seq, k):
    """Overlapping upper-case k-mers of a DNA sequence: len(seq) - k + 1 of them."""
    ### BEGIN SOLUTION
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    seq = seq.upper()
    bad = set(seq) - set("ACGT")
    if bad:
        raise ValueError(f"not DNA bases: {sorted(bad)}")
    if len(seq) < k:
        raise ValueError(f"a sequence of {len(seq)} bases has no {k}-mer")
    return [seq[i:i + k] for i in range(len(seq) - k + 1)]
    ### END SOLUTION
'''),
        check_cell("kmer_tokenize"),
        hidden_cell("kmer_tokenize", "k equal to the length, k = 1, a long sequence, invalid arguments"),
        md(r'''
## Part 4: the vocabulary

Write `build_kmer_vocab(k)`: a `dict` from token to id with the five special tokens first,
`[PAD]` = 0, `[UNK]` = 1, `[CLS]` = 2, `[SEP]` = 3, `[MASK]` = 4, then all $4^k$ k-mers in lexicographic order over
"ACGT" from id 5 (`AA...A` = 5, `AA...C` = 6, ..., `TT...T` = $4^k + 4$). `itertools.product` enumerates them in that
order. Raise `ValueError` when `k < 1`.
'''),
        solution("build_kmer_vocab", '''
def build_kmer_vocab(k):
    """{token: id}: [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4, then the 4**k k-mers in ACGT order from 5."""
    ### BEGIN SOLUTION
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    vocab = {token: i for i, token in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])}
    for kmer in itertools.product("ACGT", repeat=k):
        vocab["".join(kmer)] = len(vocab)
    return vocab
    ### END SOLUTION
'''),
        check_cell("build_kmer_vocab"),
        hidden_cell("build_kmer_vocab", "k = 1, k = 6, ids contiguous and in order"),
        md(r'''
## Part 5: span masking

DNABERT learns by predicting masked tokens, but a single masked k-mer is trivial to recover: its overlapping
neighbours contain all of its bases. So it masks **contiguous spans of k tokens**. Write
`span_mask(input_ids, k, mask_prob=0.15, generator=None)` returning `(masked_ids, labels)`:

* `input_ids`: LongTensor (B, L) of vocabulary ids (special tokens included);
* choose random spans of k consecutive tokens so that **about `mask_prob` of the maskable tokens** end up masked
  (maskable = every token except `[PAD]` (0), `[CLS]` (2) and `[SEP]` (3), which are never masked). One way: let
  every position (including the k-1 virtual positions before the row) start a span independently with probability
  $q = 1 - (1 - p)^{1/k}$: a token is then covered by at least one of the k spans that could reach it with
  probability exactly $p$;
* `masked_ids`: a copy of `input_ids` with `[MASK]` (4) at the masked positions;
* `labels`: the original id at the masked positions and -100 everywhere else (the `ignore_index` of
  `F.cross_entropy`);
* draw the random numbers with `generator` (a `torch.Generator`, on its own device) when it is given, so the same seed
  gives the same masks; put the results on the device of `input_ids`; never modify `input_ids` itself.
'''),
        solution("span_mask", '''
def span_mask(input_ids, k, mask_prob=0.15, generator=None):
    """Mask contiguous spans of k tokens (about mask_prob of the maskable ones); returns (masked_ids, labels)."""
    ### BEGIN SOLUTION
    batch, length = input_ids.shape
    q = 1.0 - (1.0 - mask_prob) ** (1.0 / k)
    draw_device = generator.device if generator is not None else input_ids.device
    # starts[:, s] says whether a span starts at position s - (k - 1); position j is covered by starts j .. j + k - 1
    starts = torch.rand(batch, length + k - 1, generator=generator, device=draw_device) < q
    starts = starts.to(input_ids.device)
    covered = starts.unfold(1, k, 1).any(dim=-1)
    special = (input_ids == 0) | (input_ids == 2) | (input_ids == 3)
    masked = covered & ~special
    masked_ids = input_ids.masked_fill(masked, 4)
    labels = torch.where(masked, input_ids, torch.full_like(input_ids, -100))
    return masked_ids, labels
    ### END SOLUTION
'''),
        check_cell("span_mask"),
        hidden_cell("span_mask", "the masked fraction on a large batch, spans of at least k, special tokens, seeds"),
        *written("why_span_masking", 2, r'''
DNABERT masks **contiguous spans of k tokens** instead of independent single tokens as BERT does for English.
Explain why masking a single 6-mer would make the pretraining task nearly trivial, and what the model is forced to
learn when a whole span is masked. (3-5 sentences.)
''', r'''
Overlapping k-mers are redundant: the token at position $t$ shares $k-1$ bases with each neighbour, and its bases
all appear in the tokens $t-k+1, \dots, t-1$ and $t+1, \dots, t+k-1$. With a single masked 6-mer, the left
neighbour gives its first five bases and the right neighbour its last five, so the model can read the answer off
the unmasked context without learning anything about DNA. Masking k consecutive tokens hides at least one base
(the middle of the span) from every visible token, so the model must predict bases from the surrounding sequence:
motifs, composition and longer-range regularities of the genome, which is what makes the representation useful
for the downstream tasks.
'''),
        md(r'''
## Part 6: your pipeline feeds DNABERT-mini

Everything below uses *your* functions: the lecture's figure (DNA -> mRNA -> protein), then windows of the real
*E. coli* 536 genome shipped with the course, tokenized with your `kmer_tokenize`, mapped to ids with your
`build_kmer_vocab`, framed by `[CLS]` ... `[SEP]` and masked by your `span_mask`. They feed a few steps of masked-LM
pretraining of DNABERT-mini (`cs502_lib.dnabert`, a small BERT whose head predicts the k bases of every masked
k-mer). A few steps only show the pipeline at work: the loss falls from its random start to about
$\ln 4 \approx 1.39$ per base, the level of guessing every base blindly; getting below it takes thousands of steps,
which is what `python -m cs502_lib.dnabert pretrain` does (chapter 10).
'''),
        code('''
from cs502_lib.data import load_genome
from cs502_lib.dnabert import DNABertConfig, DNABertForMaskedLM, masked_lm_loss, masked_token_accuracy

template = "CACGTAGACTGAGGACTCCTCTTC"
mrna = transcribe(template)
print(f"{template} -> {mrna} -> {translate(mrna)}")

K, WINDOW, BATCH, STEPS = 3, 64, 32, 20
genome = load_genome()
vocab = build_kmer_vocab(K)
g = torch.Generator().manual_seed(0)


def genome_batch(n):
    starts = torch.randint(0, len(genome) - WINDOW, (n,), generator=g).tolist()
    rows = [[vocab["[CLS]"]] + [vocab[t] for t in kmer_tokenize(genome[s:s + WINDOW], K)] + [vocab["[SEP]"]]
            for s in starts]
    return torch.tensor(rows)


ids = genome_batch(BATCH)
print("one window as ids:", ids[0, :10].tolist(), "...")
masked_ids, labels = span_mask(ids, K, 0.15, generator=g)
print("masked:           ", masked_ids[0, :10].tolist(), "...")

torch.manual_seed(0)
model = DNABertForMaskedLM(DNABertConfig(k=K, d_model=64, num_layers=2, num_heads=4, max_len=128))
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
for step in range(STEPS):
    masked_ids, labels = span_mask(genome_batch(BATCH), K, 0.15, generator=g)
    loss = masked_lm_loss(model(masked_ids), labels)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 10 == 0 or step == STEPS - 1:
        print(f"step {step:2d}  masked-LM loss {loss.item():.3f} per base")
with torch.no_grad():
    masked_ids, labels = span_mask(genome_batch(256), K, 0.15, generator=g)
    right, total = masked_token_accuracy(model(masked_ids), labels)
print(f"masked 3-mers predicted exactly after {STEPS} steps: {right}/{total} (pretraining takes thousands of steps)")
'''),
    ]


ASSIGNMENTS = {
    "rnn_lstm": rnn_lstm,
    "attention": attention,
    "positions_masks": positions_masks,
    "transformer": transformer,
    "dnabert": dnabert,
}


def build(name: str) -> nbformat.NotebookNode:
    """The source notebook of one assignment, without outputs."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = ASSIGNMENTS[name]()
    seen = set()
    for i, cell in enumerate(nb.cells):
        if "nbgrader" not in cell.metadata:
            cell["id"] = f"{name}-{i}"
        assert cell["id"] not in seen, cell["id"]
        seen.add(cell["id"])
    nbformat.validate(nb)
    return nb


def path_of(name: str, root: Path = ROOT) -> Path:
    return root / "solutions" / name / f"{name}.ipynb"


def render(name: str) -> str:
    return nbformat.writes(build(name)) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    names = [a for a in argv if not a.startswith("--")] or list(ASSIGNMENTS)
    stale = []
    for name in names:
        path = path_of(name)
        text = render(name)
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path.relative_to(ROOT)))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("out of date (run: .venv/bin/python tools/make_assignments.py):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
