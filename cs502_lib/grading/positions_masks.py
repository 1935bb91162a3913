"""Checks of the ``positions_masks`` assignment: sinusoidal_positional_encoding, causal_mask, padding_mask."""

from __future__ import annotations

import torch

from ..nn.positional import causal_mask as _ref_causal
from ..nn.positional import padding_mask as _ref_padding
from ..nn.positional import sinusoidal_positional_encoding as _ref_pe
from . import catalog
from .context import DEVICE, Case, Context
from .guards import reference_item, shielded, torch_refused_modules
from .report import CheckReport
from .run import run_check

__all__ = ["check_positional_encoding", "check_causal_mask", "check_padding_mask"]

_PE_SIZES = [(10, 8), (7, 6), (1, 2), (50, 64), (12, 12), (20, 512)]


def check_positional_encoding(impl, *, device=None, time_limit=None) -> CheckReport:
    """Check a student's ``sinusoidal_positional_encoding(max_len, d_model)`` (interleaved sin/cos, float32).

    The contract has no device argument, so this check runs on the CPU only.
    """
    refused = torch_refused_modules() + [reference_item(_ref_pe, "sinusoidal_positional_encoding")]

    def body(ctx: Context) -> None:
        for max_len, d_model in _PE_SIZES:
            case = Case(f"max_len={max_len}, d_model={d_model}", (max_len, d_model))
            ctx.run_case(case, impl, _ref_pe, names=("pe",), variants=catalog.pe_variants(),
                         probes=catalog.pe_probes(), out_device=torch.device("cpu"))
        ctx.expect_error(impl, 4, 5, case="max_len=4, d_model=5 (odd)",
                         cause="a missing ValueError: sin and cos come in pairs, so an odd d_model must raise "
                         "ValueError (check `d_model % 2`).")
        with torch.no_grad():
            label = "behaviour: every value lies in [-1, 1] and row 0 is (0, 1, 0, 1, ...)"
            pe = ctx.call(impl, 30, 16, case=label)
            ctx.expect(bool((pe.abs() <= 1 + 1e-6).all()), "values outside [-1, 1]", label)
            ctx.expect(torch.allclose(pe[0].double(), torch.tensor([0.0, 1.0] * 8, dtype=torch.float64), atol=1e-6),
                       "row 0 is not (0, 1, 0, 1, ...)", label,
                       "positions must start at 0 and the even columns hold sin, the odd ones cos.")

    devices = [torch.device("cpu")]
    return run_check("positional_encoding", impl, shielded(body), refused=refused, device=device, time_limit=time_limit,
                     devices=devices)


def check_causal_mask(impl, *, device=None, time_limit=None) -> CheckReport:
    """Check a student's ``causal_mask(n, device=None)``: bool (n, n), True at [i, j] iff j <= i, on ``device``."""
    refused = torch_refused_modules() + [reference_item(_ref_causal, "causal_mask")]

    def body(ctx: Context) -> None:
        for n in (4, 1, 7):
            case = Case(f"n={n}, device={ctx.device.type!r}", (n,), {"device": DEVICE})
            ctx.run_case(case, impl, _ref_causal, names=("mask",), variants=catalog.causal_variants())
        if ctx.device.type == "cpu":
            ctx.run_case(Case("n=3, device not given (default None: the CPU)", (3,)), impl, _ref_causal,
                         names=("mask",), variants=catalog.causal_variants())
            ctx.run_case(Case("n=5, device given as the string 'cpu'", (5,), {"device": "cpu"}), impl, _ref_causal,
                         names=("mask",), variants=catalog.causal_variants())

    return run_check("causal_mask", impl, shielded(body), refused=refused, device=device, time_limit=time_limit)


def check_padding_mask(impl, *, device=None, time_limit=None) -> CheckReport:
    """Check a student's ``padding_mask(lengths, max_len)``: bool (B, max_len), True where position < length."""
    refused = torch_refused_modules() + [reference_item(_ref_padding, "padding_mask")]
    cases = [
        Case("lengths [3, 1, 4], max_len=5", (torch.tensor([3, 1, 4]), 5), arg_names=("lengths", "max_len")),
        Case("lengths [5, 0, 2, 5], max_len=5 (a full and an empty row)", (torch.tensor([5, 0, 2, 5]), 5),
             arg_names=("lengths", "max_len")),
        Case("batch 1: lengths [1], max_len=1", (torch.tensor([1]), 1), arg_names=("lengths", "max_len")),
        Case("lengths [2, 6] as int32, max_len=8 (longer than every sequence)",
             (torch.tensor([2, 6], dtype=torch.int32), 8), arg_names=("lengths", "max_len")),
    ]

    def body(ctx: Context) -> None:
        for case in cases:
            ctx.run_case(case, impl, _ref_padding, names=("mask",), variants=catalog.padding_variants())

    return run_check("padding_mask", impl, shielded(body), refused=refused, device=device, time_limit=time_limit)
