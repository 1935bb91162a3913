"""Checks of the ``transformer`` assignment: EncoderLayer and DecoderLayer (post-LN, as in the paper)."""

from __future__ import annotations

import torch

from ..nn.transformer import DecoderLayer as _RefDecoder
from ..nn.transformer import EncoderLayer as _RefEncoder
from . import catalog
from .context import Case, Context
from .guards import reference_item, shielded, torch_refused_modules
from .modules import build_module, check_deterministic
from .report import CheckReport
from .run import run_check

__all__ = ["check_encoder_layer", "check_decoder_layer"]

_ENC_CONTRACT = ("EncoderLayer(d_model, num_heads, d_ff, dropout) has self_attn (MultiHeadAttention with w_q, w_k, "
                 "w_v, w_o), ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model)), "
                 "norm1, norm2 (nn.LayerNorm(d_model)) and dropout.")
_DEC_CONTRACT = ("DecoderLayer(d_model, num_heads, d_ff, dropout) has self_attn, cross_attn (MultiHeadAttention), "
                 "ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model)), norm1, norm2, "
                 "norm3 (nn.LayerNorm(d_model)) and dropout.")


def _randn(g, *shape):
    return torch.randn(*shape, generator=g)


def _pad(lengths, L):
    return (torch.arange(L)[None, :] < torch.tensor(lengths)[:, None])[:, None, None, :]


def _encoder_sizes():
    g = torch.Generator().manual_seed(20)
    n = ("x", "mask")
    return [
        ((8, 2, 16), [
            Case("d_model=8, num_heads=2, d_ff=16, B=2, L=5, no mask", (_randn(g, 2, 5, 8),), grad=(0,), arg_names=n),
            Case("d_model=8, num_heads=2, d_ff=16, B=3, L=6, padding mask (B, 1, 1, L), lengths 6, 3, 5",
                 (_randn(g, 3, 6, 8), _pad([6, 3, 5], 6)), grad=(0,), arg_names=n),
            Case("d_model=8, num_heads=2, d_ff=16, batch 1, L=1", (_randn(g, 1, 1, 8),), grad=(0,), arg_names=n),
        ]),
        ((6, 3, 10), [
            Case("d_model=6, num_heads=3, d_ff=10, B=2, L=4, causal mask (L, L), non-contiguous x",
                 (_randn(g, 2, 6, 4).transpose(1, 2), torch.ones(4, 4, dtype=torch.bool).tril()), grad=(0,),
                 arg_names=n),
        ]),
    ]


def check_encoder_layer(impl, *, device=None, time_limit=None) -> CheckReport:
    """Check a student's ``EncoderLayer`` class (pass the class itself).

    Built at several sizes with the reference weights loaded by name, in eval mode:
    outputs and input gradients against the reference, determinism (no dropout in
    eval mode), padded positions changing nothing, permutation equivariance.
    """
    return _check_layer("encoder_layer", impl, _RefEncoder, "EncoderLayer", _encoder_sizes, _ENC_CONTRACT,
                        catalog.encoder_variants, _encoder_behaviour, device=device, time_limit=time_limit)


def _encoder_behaviour(ctx: Context, student) -> None:
    g = torch.Generator().manual_seed(21)
    with torch.no_grad():
        label = "behaviour: changing padded positions (mask False) leaves the real positions' outputs unchanged"
        lengths = [5, 2]
        x = _randn(g, 2, 5, 8)
        m = _pad(lengths, 5)
        y = x.clone()
        for b, n in enumerate(lengths):
            y[b, n:] = 50 * _randn(g, 5 - n, 8)
        o1 = ctx.call(student, ctx.to(x), ctx.to(m), case=label).cpu()
        o2 = ctx.call(student, ctx.to(y), ctx.to(m), case=label).cpu()
        ok = all(torch.allclose(o1[b, :n], o2[b, :n], atol=ctx.behaviour_atol) for b, n in enumerate(lengths))
        ctx.expect(ok, "padded positions changed the outputs of real positions", label,
                   "the mask is not passed on to the self-attention.")
        label = "behaviour: without a mask the layer is permutation-equivariant"
        x = _randn(g, 2, 5, 8)
        p = torch.randperm(5, generator=g)
        o1 = ctx.call(student, ctx.to(x), case=label).cpu()
        o2 = ctx.call(student, ctx.to(x[:, p]), case=label).cpu()
        ctx.expect(torch.allclose(o1[:, p], o2, atol=ctx.behaviour_atol),
                   "permuting the positions did not permute the output", label,
                   "the layer must not depend on the order of positions (no positional information inside).")


def _decoder_sizes():
    g = torch.Generator().manual_seed(22)
    n = ("x", "memory", "tgt_mask", "memory_mask")
    return [
        ((8, 2, 16), [
            Case("d_model=8, num_heads=2, d_ff=16, B=2, Lt=4, Ls=6, no masks",
                 (_randn(g, 2, 4, 8), _randn(g, 2, 6, 8)), grad=(0, 1), arg_names=n),
            Case("d_model=8, num_heads=2, d_ff=16, B=3, Lt=5, Ls=4, causal tgt_mask (Lt, Lt), memory_mask (B, 1, 1, Ls)"
                 " with lengths 4, 2, 3",
                 (_randn(g, 3, 5, 8), _randn(g, 3, 4, 8), torch.ones(5, 5, dtype=torch.bool).tril(), _pad([4, 2, 3], 4)),
                 grad=(0, 1), arg_names=n),
            Case("d_model=8, num_heads=2, d_ff=16, batch 1, Lt=1, Ls=1",
                 (_randn(g, 1, 1, 8), _randn(g, 1, 1, 8)), grad=(0, 1), arg_names=n),
        ]),
        ((6, 3, 10), [
            Case("d_model=6, num_heads=3, d_ff=10, B=2, Lt=3, Ls=5, causal tgt_mask, non-contiguous memory",
                 (_randn(g, 2, 3, 6), _randn(g, 2, 6, 5).transpose(1, 2), torch.ones(3, 3, dtype=torch.bool).tril()),
                 grad=(0, 1), arg_names=n),
        ]),
    ]


def check_decoder_layer(impl, *, device=None, time_limit=None) -> CheckReport:
    """Check a student's ``DecoderLayer`` class (pass the class itself).

    Outputs and gradients (target and memory) against the reference, determinism in
    eval mode, no leak from future target positions, padded memory changing nothing.
    """
    return _check_layer("decoder_layer", impl, _RefDecoder, "DecoderLayer", _decoder_sizes, _DEC_CONTRACT,
                        catalog.decoder_variants, _decoder_behaviour, device=device, time_limit=time_limit)


def _decoder_behaviour(ctx: Context, student) -> None:
    g = torch.Generator().manual_seed(23)
    with torch.no_grad():
        label = "behaviour: with a causal tgt_mask, changing target positions after t leaves outputs 0..t unchanged"
        L, t = 5, 1
        x, mem = _randn(g, 2, L, 8), _randn(g, 2, 4, 8)
        cm = torch.ones(L, L, dtype=torch.bool).tril()
        y = x.clone()
        y[:, t + 1:] = 10 * _randn(g, 2, L - t - 1, 8)
        o1 = ctx.call(student, ctx.to(x), ctx.to(mem), ctx.to(cm), case=label).cpu()
        o2 = ctx.call(student, ctx.to(y), ctx.to(mem), ctx.to(cm), case=label).cpu()
        ctx.expect(torch.allclose(o1[:, : t + 1], o2[:, : t + 1], atol=ctx.behaviour_atol),
                   "the decoder leaks the future: earlier outputs changed when only later target positions changed",
                   label, "tgt_mask must be passed to the self-attention (self_attn(x, x, x, tgt_mask)).")
        label = "behaviour: changing padded memory positions (memory_mask False) changes nothing"
        lengths = [4, 2]
        mm = _pad(lengths, 4)
        mem2 = mem.clone()
        for b, n in enumerate(lengths):
            mem2[b, n:] = 50 * _randn(g, 4 - n, 8)
        o1 = ctx.call(student, ctx.to(x), ctx.to(mem), None, ctx.to(mm), case=label).cpu()
        o2 = ctx.call(student, ctx.to(x), ctx.to(mem2), None, ctx.to(mm), case=label).cpu()
        ctx.expect(torch.allclose(o1, o2, atol=ctx.behaviour_atol), "padded memory positions changed the output", label,
                   "memory_mask must be passed to the cross-attention (cross_attn(x, memory, memory, memory_mask)).")


def _check_layer(name, impl, ref_cls, ref_name, sizes, contract, variants, behaviour, *, device, time_limit) -> CheckReport:
    """The body shared by the layer checks: at each size build the student's and the reference
    layer with the same weights, check determinism once, compare every case (naming a known
    mistake from ``variants(ref)``), then run ``behaviour(ctx, student)`` on the first size."""
    refused = torch_refused_modules() + [reference_item(ref_cls, ref_name)]

    def body(ctx: Context) -> None:
        for i, (init, cases) in enumerate(sizes()):
            student, ref = build_module(ctx, impl, ref_cls, init, contract)
            if i == 0:
                check_deterministic(ctx, student, cases[0].args, cases[0].label + " (called twice in eval mode)")
            for case in cases:
                ctx.run_case(case, student, ref, names=("output",), variants=variants(ref))
            if i == 0 and ctx.values:
                behaviour(ctx, student)

    return run_check(name, impl, shielded(body), refused=refused, device=device, time_limit=time_limit, kind="class")
