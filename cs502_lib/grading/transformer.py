"""Checks of the ``transformer`` assignment: EncoderLayer and DecoderLayer (post-LN, as in the paper)."""

from __future__ import annotations

import torch
from torch import nn

from ..nn.transformer import DecoderLayer as _RefDecoder
from ..nn.transformer import EncoderLayer as _RefEncoder
from . import catalog
from .context import Case, Context
from .guards import reference_item, shielded, torch_refused_modules
from .hidden import F64, copy_mha, seeded, tensors
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


# --------------------------------------------------------------------------- hidden tests
# hidden_<name>(ctx, impl): the suite of the hidden test cell hidden_<name>, run by grading.hidden.run_hidden.


_ENC_HIDDEN = "EncoderLayer(d_model, num_heads, d_ff, dropout) with self_attn, ffn, norm1, norm2 and dropout."
_DEC_HIDDEN = ("DecoderLayer(d_model, num_heads, d_ff, dropout) with self_attn, cross_attn, ffn, norm1, norm2, norm3, "
               "dropout.")


def _copy_layers(pairs) -> None:
    with torch.no_grad():
        for mine, ref in pairs:
            ref.weight.copy_(mine.weight)
            ref.bias.copy_(mine.bias)


def _against_torch(ctx: Context, impl, ref_cls, args: tuple, contract: str, theirs: nn.Module, attention: dict,
                   norms: int):
    """The student's layer (float64, eval) with the reference weights, and ``theirs`` (PyTorch's layer) given the
    same weights: ``attention`` maps our attention blocks to theirs; ``norms`` layer norms norm1.. are copied."""
    student, ref = build_module(ctx, impl, ref_cls, args, contract)
    theirs.double().eval()
    for mine, their in attention.items():
        copy_mha(getattr(ref, mine), getattr(theirs, their))
    pairs = [(ref.ffn[0], theirs.linear1), (ref.ffn[2], theirs.linear2)]
    pairs += [(getattr(ref, f"norm{i}"), getattr(theirs, f"norm{i}")) for i in range(1, norms + 1)]
    _copy_layers(pairs)
    return student.double().eval()


def hidden_EncoderLayer(ctx: Context, impl) -> None:
    torch.manual_seed(507)
    theirs = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True)
    student = _against_torch(ctx, impl, _RefEncoder, (16, 4, 32, 0.0), _ENC_HIDDEN, theirs,
                             {"self_attn": "self_attn"}, 2)
    g = seeded(507)
    x = torch.randn(3, 7, 16, generator=g, dtype=F64)
    keep = torch.arange(7)[None, :] < torch.tensor([7, 5, 2])[:, None]
    case = "against nn.TransformerEncoderLayer (post-LN, ReLU) with the same weights and a padding mask, float64"
    with torch.no_grad():
        out = tensors(ctx, ctx.call(student, x, keep[:, None, None, :], case=case), 1, case, "EncoderLayer")[0]
        ref_out = theirs(x, src_key_padding_mask=~keep)
    ctx.expect(out.shape == ref_out.shape and torch.allclose(out[keep], ref_out[keep], atol=1e-8),
               "differs from nn.TransformerEncoderLayer (post-LN, ReLU) with the same weights and a padding mask", case)
    case = "the padding (set to 100) changes nothing at the real tokens"
    noisy = x.clone()
    noisy[~keep] = 100.0
    with torch.no_grad():
        out2 = tensors(ctx, ctx.call(student, noisy, keep[:, None, None, :], case=case), 1, case, "EncoderLayer")[0]
    ctx.expect(torch.allclose(out[keep], out2[keep], atol=1e-8),
               "the padding changes the outputs of the real tokens (is the mask passed to self_attn?)", case)


def hidden_DecoderLayer(ctx: Context, impl) -> None:
    torch.manual_seed(508)
    theirs = nn.TransformerDecoderLayer(16, 2, 24, dropout=0.0, batch_first=True)
    student = _against_torch(ctx, impl, _RefDecoder, (16, 2, 24, 0.0), _DEC_HIDDEN, theirs,
                             {"self_attn": "self_attn", "cross_attn": "multihead_attn"}, 3)
    g = seeded(508)
    x = torch.randn(2, 6, 16, generator=g, dtype=F64)
    memory = torch.randn(2, 9, 16, generator=g, dtype=F64)
    tgt = torch.ones(6, 6, dtype=torch.bool).tril()
    case = "against nn.TransformerDecoderLayer (post-LN) with the same weights and a causal mask, float64"
    with torch.no_grad():
        out = tensors(ctx, ctx.call(student, x, memory, tgt_mask=tgt, case=case), 1, case, "DecoderLayer")[0]
        ref_out = theirs(x, memory, tgt_mask=~tgt)
    ctx.expect(out.shape == ref_out.shape and torch.allclose(out, ref_out, atol=1e-8),
               "differs from nn.TransformerDecoderLayer (post-LN) with the same weights and a causal mask", case)
    case = "with a causal tgt_mask, changing positions 4 and 5 leaves earlier outputs unchanged"
    future = x.clone()
    future[:, 4:] = 0.0
    with torch.no_grad():
        out2 = tensors(ctx, ctx.call(student, future, memory, tgt_mask=tgt, case=case), 1, case, "DecoderLayer")[0]
    ctx.expect(torch.allclose(out[:, :4], out2[:, :4], atol=1e-8),
               "with a causal tgt_mask, changing positions 4 and 5 changes earlier outputs", case)
