"""Checks of the ``positions_masks`` assignment: sinusoidal_positional_encoding, causal_mask, padding_mask."""

from __future__ import annotations

import torch

from ..nn.positional import causal_mask as _ref_causal
from ..nn.positional import padding_mask as _ref_padding
from ..nn.positional import sinusoidal_positional_encoding as _ref_pe
from . import catalog
from .context import DEVICE, Case, Context
from .guards import reference_item, shielded, torch_refused_modules
from .hidden import F64, seeded, tensors
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


# --------------------------------------------------------------------------- hidden tests
# hidden_<name>(ctx, impl): the suite of the hidden test cell hidden_<name>, run by grading.hidden.run_hidden.


def hidden_sinusoidal_positional_encoding(ctx: Context, impl) -> None:
    case = "sinusoidal_positional_encoding(5000, 512)"
    pe = tensors(ctx, ctx.call(impl, 5000, 512, case=case), 1, case, "sinusoidal_positional_encoding")[0]
    ctx.expect(tuple(pe.shape) == (5000, 512) and pe.dtype == torch.float32,
               "sinusoidal_positional_encoding(5000, 512) must be a float32 (5000, 512) tensor", case)
    p = torch.arange(5000, dtype=F64)[:, None]
    angles = p / 10000.0 ** (torch.arange(0, 512, 2, dtype=F64) / 512)
    ctx.expect(torch.allclose(pe[:, 0::2].double(), angles.sin(), atol=2e-3)
               and torch.allclose(pe[:, 1::2].double(), angles.cos(), atol=2e-3),
               "values are off for far positions (up to 4999)", case)
    norms = pe.double().norm(dim=1)
    ctx.expect(torch.allclose(norms, torch.full_like(norms, 16.0), atol=1e-3),
               "every row must have norm sqrt(d_model / 2) (sin^2 + cos^2 = 1 per pair)", case)
    case = "sinusoidal_positional_encoding(40, 8): PE[p + 7] is a rotation of PE[p]"
    small = tensors(ctx, ctx.call(impl, 40, 8, case=case), 1, case, "sinusoidal_positional_encoding")[0]
    ctx.expect(tuple(small.shape) == (40, 8), f"sinusoidal_positional_encoding(40, 8) has shape {tuple(small.shape)}",
               case)
    small = small.double()
    theta = 7 / 10000.0 ** (torch.arange(0, 8, 2, dtype=F64) / 8)
    sin_k, cos_k = theta.sin(), theta.cos()
    s, c = small[:-7, 0::2], small[:-7, 1::2]
    shifted = torch.stack([s * cos_k + c * sin_k, c * cos_k - s * sin_k], dim=-1).reshape(33, 8)
    ctx.expect(torch.allclose(small[7:], shifted, atol=1e-5), "PE[p + 7] is not a rotation of PE[p] pair by pair", case)


def hidden_causal_mask(ctx: Context, impl) -> None:
    case = "causal_mask(1)"
    one = tensors(ctx, ctx.call(impl, 1, case=case), 1, case, "causal_mask")[0]
    ctx.expect(one.dtype == torch.bool and one.tolist() == [[True]], "causal_mask(1) must be [[True]]", case)
    case = "causal_mask(300)"
    big = tensors(ctx, ctx.call(impl, 300, case=case), 1, case, "causal_mask")[0]
    ctx.expect(tuple(big.shape) == (300, 300) and int(big.sum()) == 300 * 301 // 2 and bool(big.diagonal().all()),
               "causal_mask(300): wrong number of True entries or a False diagonal", case)
    ctx.expect(not bool(big.triu(1).any()), "causal_mask(300): a position may not attend to a later one", case)
    case = "causal_mask(6, device=meta)"
    meta = tensors(ctx, ctx.call(impl, 6, device=torch.device("meta"), case=case), 1, case, "causal_mask")[0]
    ctx.expect(meta.device.type == "meta" and tuple(meta.shape) == (6, 6) and meta.dtype == torch.bool,
               "causal_mask(6, device=meta) must be created on the meta device", case)


def hidden_padding_mask(ctx: Context, impl) -> None:
    g = seeded(506)
    lengths = torch.randint(0, 21, (100,), generator=g)
    case = "a batch of 100 lengths from 0 to 20, max_len=20"
    given = lengths.clone()
    m = tensors(ctx, ctx.call(impl, given, 20, case=case), 1, case, "padding_mask")[0]
    ctx.expect(m.dtype == torch.bool and tuple(m.shape) == (100, 20), "wrong dtype or shape for a batch of 100", case)
    ctx.expect(torch.equal(m.sum(1), lengths.clamp(max=20)) and torch.equal(given, lengths),
               "each row must hold exactly `length` True values (and lengths must not be modified)", case)
    case = "int32 lengths"
    m32 = tensors(ctx, ctx.call(impl, lengths.int(), 20, case=case), 1, case, "padding_mask")[0]
    ctx.expect(m32.shape == m.shape and torch.equal(m32, m), "int32 lengths must give the same mask", case)
    ctx.expect(bool(m[:, 0].eq(lengths > 0).all()), "position 0 is a real token whenever the length is positive", case)
