"""Checks of the ``rnn_lstm`` assignment: rnn_cell and lstm_cell."""

from __future__ import annotations

import torch
from torch import nn

from ..nn.rnn import lstm_cell as _ref_lstm_cell
from ..nn.rnn import rnn_cell as _ref_rnn_cell
from . import catalog
from .context import Case, Context
from .guards import reference_item, shielded, torch_refused_modules
from .hidden import F64, seeded, tensors
from .report import CheckReport
from .run import run_check

__all__ = ["check_rnn_cell", "check_lstm_cell"]

# (B, D, H, label extra, non-contiguous weights)
_SIZES = [
    (3, 4, 5, "", False),
    (2, 6, 3, ", weights given as transposed (non-contiguous) views", True),
    (1, 1, 1, " (batch 1, D = H = 1)", False),
    (4, 3, 3, ", D = H", False),
]


_SHAPE_ERRORS = ("Dimension out of range", "must match the size", "cannot be multiplied", "values to unpack",
                 "size mismatch", "Expected 2D", "1D tensors expected", "both arguments to matmul need")


def _cell_hint(message: str, case: str) -> str | None:
    """The recurrent checks' own hint for an exception: a `.squeeze()` meeting batch size 1, or the cell's shapes."""
    if not any(p in message for p in _SHAPE_ERRORS):
        return None
    if "batch 1" in case:
        return ("this case has batch size 1 (and D = H = 1): a `.squeeze()` without a dimension removes those "
                "dimensions too, so the batch dimension is gone; squeeze only the dimension you mean, or not at all "
                "(the cell works on x (B, D) and h (B, H) whatever B is).")
    return ("the shapes: x is (B, D) and h (B, H); the weights are W_xh (D, H) and W_hh (H, H) (for the LSTM "
            "W_x (D, 4H), W_h (H, 4H)) and the bias is 1-D; this case may have D != H.")


def _weights(g, rows, cols, noncontig, scale=0.6):
    if noncontig:
        return scale * torch.randn(cols, rows, generator=g).T
    return scale * torch.randn(rows, cols, generator=g)


def _rnn_cases() -> list[Case]:
    g = torch.Generator().manual_seed(10)
    cases = []
    for B, D, H, extra, nc in _SIZES:
        args = (torch.randn(B, D, generator=g), torch.randn(B, H, generator=g), _weights(g, D, H, nc),
                _weights(g, H, H, nc), 0.5 * torch.randn(H, generator=g))
        cases.append(Case(f"B={B}, D={D}, H={H}{extra}", args, grad=(0, 1, 2, 3, 4),
                          arg_names=("x", "h", "W_xh", "W_hh", "b_h")))
    return cases


def _lstm_cases() -> list[Case]:
    g = torch.Generator().manual_seed(11)
    cases = []
    for B, D, H, extra, nc in _SIZES:
        args = (torch.randn(B, D, generator=g), torch.randn(B, H, generator=g), torch.randn(B, H, generator=g),
                _weights(g, D, 4 * H, nc), _weights(g, H, 4 * H, nc), 0.5 * torch.randn(4 * H, generator=g))
        cases.append(Case(f"B={B}, D={D}, H={H}{extra}", args, grad=(0, 1, 2, 3, 4, 5),
                          arg_names=("x", "h", "c", "W_x", "W_h", "b")))
    return cases


def _recurrence_behaviour(ctx: Context, impl, label: str, make_args, pick) -> None:
    """The new state must depend on the previous state (recurrence) and stay bounded."""
    g = torch.Generator().manual_seed(12)
    a1 = make_args(g)
    a2 = list(a1)
    a2[1] = a1[1] + 1.0
    with torch.no_grad():
        o1 = pick(ctx.call(impl, *[ctx.to(t) for t in a1], case=label)).cpu()
        o2 = pick(ctx.call(impl, *[ctx.to(t) for t in a2], case=label)).cpu()
    ctx.expect(not torch.allclose(o1, o2), "changing the previous state h did not change the new state", label,
               "no recurrence: the previous state h must enter through h @ W_hh.")


def check_rnn_cell(impl, *, device=None, time_limit=None) -> CheckReport:
    """Check a student's ``rnn_cell(x, h, W_xh, W_hh, b_h) -> tanh(x @ W_xh + h @ W_hh + b_h)``."""
    refused = torch_refused_modules() + [reference_item(_ref_rnn_cell, "rnn_cell")]

    def body(ctx: Context) -> None:
        ctx.exception_hint = _cell_hint
        for case in _rnn_cases():
            ctx.run_case(case, impl, _ref_rnn_cell, names=("h_new",), variants=catalog.rnn_cell_variants())
        if ctx.values:
            _recurrence_behaviour(
                ctx, impl, "behaviour: the new state depends on the previous state h",
                lambda g: (torch.randn(2, 3, generator=g), torch.randn(2, 4, generator=g),
                           torch.randn(3, 4, generator=g), torch.randn(4, 4, generator=g), torch.zeros(4)),
                lambda out: out)
            with torch.no_grad():
                label = "behaviour: the state stays in [-1, 1] (tanh) for large inputs"
                g = torch.Generator().manual_seed(13)
                args = (20 * torch.randn(3, 2, generator=g), torch.randn(3, 4, generator=g),
                        torch.randn(2, 4, generator=g), torch.randn(4, 4, generator=g), torch.zeros(4))
                out = ctx.call(impl, *[ctx.to(a) for a in args], case=label).cpu()
                ctx.expect(bool((out.abs() <= 1).all() and (out.min() < 0)), "the new state leaves [-1, 1] or is never "
                           "negative", label, "the nonlinearity must be tanh (values in [-1, 1]).")

    return run_check("rnn_cell", impl, shielded(body), refused=refused, device=device, time_limit=time_limit)


def check_lstm_cell(impl, *, device=None, time_limit=None) -> CheckReport:
    """Check a student's ``lstm_cell(x, h, c, W_x, W_h, b) -> (h_new, c_new)`` (gate order i, f, g, o)."""
    refused = torch_refused_modules() + [reference_item(_ref_lstm_cell, "lstm_cell")]

    def body(ctx: Context) -> None:
        ctx.exception_hint = _cell_hint
        for case in _lstm_cases():
            ctx.run_case(case, impl, _ref_lstm_cell, names=("h_new", "c_new"), as_tuple=True,
                         variants=catalog.lstm_cell_variants())
        if ctx.values:
            _recurrence_behaviour(
                ctx, impl, "behaviour: the new state depends on the previous hidden state h",
                lambda g: (torch.randn(2, 3, generator=g), torch.randn(2, 4, generator=g), torch.randn(2, 4, generator=g),
                           torch.randn(3, 16, generator=g), torch.randn(4, 16, generator=g), torch.zeros(16)),
                lambda out: out[0])

    return run_check("lstm_cell", impl, shielded(body), refused=refused, device=device, time_limit=time_limit)


# --------------------------------------------------------------------------- hidden tests
# hidden_<name>(ctx, impl): the suite of the hidden test cell hidden_<name>, run by grading.hidden.run_hidden.


def hidden_rnn_cell(ctx: Context, impl) -> None:
    g = seeded(502)
    B, D, H = 3, 5, 7
    W_xh = torch.randn(D, H, generator=g, dtype=F64) * 0.5
    W_hh = torch.randn(H, H, generator=g, dtype=F64) / H**0.5
    b_h = torch.randn(H, generator=g, dtype=F64) * 0.1
    h_you = h_ref = torch.zeros(B, H, dtype=F64)
    case = "60 steps unrolled in float64, B=3, D=5, H=7"
    for _ in range(60):
        x = torch.randn(B, D, generator=g, dtype=F64)
        with torch.no_grad():
            h_you = tensors(ctx, ctx.call(impl, x, h_you, W_xh, W_hh, b_h, case=case), 1, case, "rnn_cell")[0]
        h_ref = torch.tanh(x @ W_xh + h_ref @ W_hh + b_h)
        if tuple(h_you.shape) != (B, H):
            break
    ctx.expect(tuple(h_you.shape) == (B, H), f"after 60 steps the state has shape {tuple(h_you.shape)}, expected {(B, H)}",
               case)
    ctx.expect(h_you.dtype == F64, "float64 inputs must give a float64 state (no .float() inside)", case)
    ctx.expect(torch.allclose(h_you, h_ref, atol=1e-10),
               "unrolled over 60 steps in float64, the state drifts from tanh(x W_xh + h W_hh + b_h)", case)
    case = "a batch of one sequence (B=1)"
    one = tensors(ctx, ctx.call(impl, x[:1], h_ref[:1], W_xh, W_hh, b_h, case=case), 1, case, "rnn_cell")[0]
    ctx.expect(tuple(one.shape) == (1, H), f"a batch of one sequence must give shape (1, {H}), got {tuple(one.shape)}",
               case)
    case = "gradients reach W_xh, W_hh and b_h"
    params = [W.detach().clone().requires_grad_() for W in (W_xh, W_hh, b_h)]
    out = tensors(ctx, ctx.call(impl, x, h_ref, *params, case=case), 1, case, "rnn_cell")[0]
    grads = ctx.backward([out], params, [torch.ones_like(out)], ("W_xh", "W_hh", "b_h"), case)
    ctx.expect(all(gr is not None and bool(gr.abs().sum() > 0) for gr in grads),
               "the gradient does not reach W_xh, W_hh and b_h", case)


def hidden_lstm_cell(ctx: Context, impl) -> None:
    g = seeded(503)
    B, D, H = 4, 3, 6
    W_x = torch.randn(D, 4 * H, generator=g, dtype=F64) * 0.5
    W_h = torch.randn(H, 4 * H, generator=g, dtype=F64) * 0.5
    b = torch.randn(4 * H, generator=g, dtype=F64) * 0.5
    torch_cell = nn.LSTMCell(D, H).double()
    with torch.no_grad():
        torch_cell.weight_ih.copy_(W_x.T)
        torch_cell.weight_hh.copy_(W_h.T)
        torch_cell.bias_ih.copy_(b)
        torch_cell.bias_hh.zero_()
    h = c = h_ref = c_ref = torch.zeros(B, H, dtype=F64)
    case = "30 steps against PyTorch's nn.LSTMCell with the same weights, float64"
    with torch.no_grad():
        for _ in range(30):
            x = torch.randn(B, D, generator=g, dtype=F64)
            out = ctx.call(impl, x, h, c, W_x, W_h, b, case=case)
            ctx.expect(isinstance(out, tuple) and len(out) == 2, "lstm_cell must return the tuple (h_new, c_new)", case)
            h, c = tensors(ctx, out, 2, case, "lstm_cell")
            h_ref, c_ref = torch_cell(x, (h_ref, c_ref))
    ok = h.shape == h_ref.shape and c.shape == c_ref.shape and torch.allclose(h, h_ref, atol=1e-10) and \
        torch.allclose(c, c_ref, atol=1e-10)
    ctx.expect(ok, "over 30 steps, (h, c) differ from PyTorch's nn.LSTMCell with the same weights (gate order i, f, g, o?)",
               case)
    case = "a batch of one (B=1)"
    h1, c1 = tensors(ctx, ctx.call(impl, x[:1], h_ref[:1], c_ref[:1], W_x, W_h, b, case=case), 2, case, "lstm_cell")
    ctx.expect(tuple(h1.shape) == (1, H) and tuple(c1.shape) == (1, H), "a batch of one must give (1, H) states", case)
