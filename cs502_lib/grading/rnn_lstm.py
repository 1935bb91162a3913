"""Checks of the ``rnn_lstm`` assignment: rnn_cell and lstm_cell."""

from __future__ import annotations

import torch

from ..nn.rnn import lstm_cell as _ref_lstm_cell
from ..nn.rnn import rnn_cell as _ref_rnn_cell
from . import catalog
from .context import Case, Context
from .guards import reference_item, shielded, torch_refused_modules
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
