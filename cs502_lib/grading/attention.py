"""Checks of the ``attention`` assignment: scaled_dot_product_attention and MultiHeadAttention."""

from __future__ import annotations

import torch
from torch import nn

from ..nn.attention import MultiHeadAttention as _RefMHA
from ..nn.attention import scaled_dot_product_attention as _ref_sdpa
from . import catalog
from .attribution import student_location
from .context import Case, Context
from .guards import attempt, reference_item, shielded, torch_refused_modules
from .hidden import F64, copy_mha, param_grads, seeded, tensors
from .modules import build_module, check_deterministic
from .report import CheckReport, GradingError
from .run import run_check

__all__ = ["check_scaled_dot_product_attention", "check_multi_head_attention"]

_MHA_CONTRACT = ("MultiHeadAttention(d_model, num_heads) has w_q, w_k, w_v, w_o, each nn.Linear(d_model, d_model) "
                 "with bias.")


#: Devices on which a bfloat16 case is added (GPU code is often run in bfloat16).
_BF16_DEVICES = {"cuda"}


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(g, *shape):
    return torch.randn(*shape, generator=g)


def _mixed_mask(g, *shape) -> torch.Tensor:
    """A random mask where every row keeps at least one key and hides at least one (if it has two)."""
    m = torch.rand(*shape, generator=g) > 0.5
    m[..., 0] = True
    if shape[-1] > 1:
        m[..., -1] = False
    return m


def _key_padding(lengths, Lk, extra_dims=1):
    m = torch.arange(Lk)[None, :] < torch.tensor(lengths)[:, None]
    return m.view(len(lengths), *([1] * extra_dims), Lk)


def _sdpa_cases() -> list[Case]:
    g = _gen(0)
    names = ("q", "k", "v", "mask")
    cases = []

    def add(label, q, k, v, mask=None):
        args = (q, k, v) if mask is None else (q, k, v, mask)
        cases.append(Case(label, args, grad=(0, 1, 2), arg_names=names))

    add("B=2, Lq=Lk=5, d_k=d_v=8, no mask", _randn(g, 2, 5, 8), _randn(g, 2, 5, 8), _randn(g, 2, 5, 8))
    add("B=2, Lq=4, Lk=6, d_k=4, d_v=3, no mask", _randn(g, 2, 4, 4), _randn(g, 2, 6, 4), _randn(g, 2, 6, 3))
    add("B=3, Lq=4, Lk=5, d_k=d_v=6, causal mask of shape (Lq, Lk) broadcast over the batch",
        _randn(g, 3, 4, 6), _randn(g, 3, 5, 6), _randn(g, 3, 5, 6),
        torch.ones(4, 5, dtype=torch.bool).tril())
    add("B=3, Lq=Lk=6, d_k=4, d_v=5, key padding mask of shape (B, 1, Lk), lengths 5, 2, 4",
        _randn(g, 3, 6, 4), _randn(g, 3, 6, 4), _randn(g, 3, 6, 5), _key_padding([5, 2, 4], 6))
    add("extra batch dims (2, 3), Lq=3, Lk=4, d_k=2, d_v=5, full mask (2, 3, 3, 4)",
        _randn(g, 2, 3, 3, 2), _randn(g, 2, 3, 4, 2), _randn(g, 2, 3, 4, 5), _mixed_mask(g, 2, 3, 3, 4))
    add("batch 1, Lq=1, Lk=1, d_k=d_v=1 (a single key)", _randn(g, 1, 1, 1), _randn(g, 1, 1, 1), _randn(g, 1, 1, 1))
    add("d_k=1, B=2, Lq=3, Lk=5, d_v=2", _randn(g, 2, 3, 1), _randn(g, 2, 5, 1), _randn(g, 2, 5, 2))
    add("non-contiguous q, k, v (transposed views), B=2, Lq=5, Lk=3, d_k=4, d_v=6",
        _randn(g, 2, 4, 5).transpose(1, 2), _randn(g, 2, 4, 3).transpose(1, 2), _randn(g, 2, 6, 3).transpose(1, 2))
    add("no batch dimension: q (Lq=3, d_k=4), k (Lk=5, 4), v (5, 2), mask (3, 5)",
        _randn(g, 3, 4), _randn(g, 5, 4), _randn(g, 5, 2), _mixed_mask(g, 3, 5))
    return cases


def _weights_of(out):
    return out[1] if isinstance(out, tuple) and len(out) == 2 else None


def _sdpa_behaviour(ctx: Context, impl) -> None:
    """Rows sum to 1, causal masks leak nothing, padded keys change nothing, permutation equivariance."""
    g = _gen(1)
    call = lambda *a, case: ctx.call(impl, *[ctx.to(t) for t in a], case=case)  # noqa: E731
    with torch.no_grad():
        # rows sum to 1
        label = "behaviour: attention weights sum to 1 over the keys (B=2, Lq=4, Lk=7, random mask)"
        q, k, v, m = _randn(g, 2, 4, 3), _randn(g, 2, 7, 3), _randn(g, 2, 7, 3), _mixed_mask(g, 2, 4, 7)
        w = _weights_of(call(q, k, v, m, case=label)).cpu().double()
        ctx.expect(torch.allclose(w.sum(-1), torch.ones(2, 4, dtype=torch.float64), atol=ctx.behaviour_atol),
                   "the attention weights of a query do not sum to 1", label,
                   "the softmax must run over the keys (dim=-1), after masking.")
        # causal: changing the future leaves the past unchanged
        label = "behaviour: with a causal mask, changing keys/values after position t leaves outputs 0..t unchanged"
        L, t = 6, 2
        q, k, v = _randn(g, 2, L, 4), _randn(g, 2, L, 4), _randn(g, 2, L, 4)
        cm = torch.ones(L, L, dtype=torch.bool).tril()
        out1 = call(q, k, v, cm, case=label)[0].cpu()
        k2, v2 = k.clone(), v.clone()
        k2[:, t + 1:] = 10 * _randn(g, 2, L - t - 1, 4)
        v2[:, t + 1:] = 10 * _randn(g, 2, L - t - 1, 4)
        out2 = call(q, k2, v2, cm, case=label)[0].cpu()
        ctx.expect(torch.allclose(out1[:, : t + 1], out2[:, : t + 1], atol=ctx.behaviour_atol),
                   "the causal mask leaks the future: outputs at positions <= t changed when only later keys changed",
                   label, catalog.MASK_CAUSES["ignored"])
        # padding: padded keys change nothing
        label = "behaviour: changing padded keys/values (mask False) changes nothing"
        lengths = [4, 2]
        pm = _key_padding(lengths, 5)
        q, k, v = _randn(g, 2, 3, 4), _randn(g, 2, 5, 4), _randn(g, 2, 5, 4)
        o1, w1 = call(q, k, v, pm, case=label)
        k2, v2 = k.clone(), v.clone()
        for b, n in enumerate(lengths):
            k2[b, n:] = 100 * _randn(g, 5 - n, 4)
            v2[b, n:] = 100 * _randn(g, 5 - n, 4)
        o2 = call(q, k2, v2, pm, case=label)[0]
        ctx.expect(torch.allclose(o1.cpu(), o2.cpu(), atol=ctx.behaviour_atol) and
                   bool((w1.cpu().masked_select(~pm.expand(2, 3, 5)) == 0).all()),
                   "padded keys influence the result", label, catalog.MASK_CAUSES["ignored"])
        # permutation equivariance without a mask
        label = "behaviour: without positions, attention is permutation-equivariant (queries) and -invariant (keys)"
        q, k, v = _randn(g, 2, 5, 4), _randn(g, 2, 6, 4), _randn(g, 2, 6, 3)
        pq, pk = torch.randperm(5, generator=g), torch.randperm(6, generator=g)
        o1 = call(q, k, v, case=label)[0].cpu()
        o2 = call(q[:, pq], k[:, pk], v[:, pk], case=label)[0].cpu()
        ctx.expect(torch.allclose(o1[:, pq], o2, atol=ctx.behaviour_atol),
                   "permuting the queries (and, together, the keys and values) did not simply permute the output",
                   label, "the result depends on the order of the positions, e.g. a mask or bias built from positions "
                   "that was not asked for, or a reduction over the wrong dimension.")


def check_scaled_dot_product_attention(impl, *, device=None, time_limit=None) -> CheckReport:
    """Check a student's ``scaled_dot_product_attention(q, k, v, mask=None) -> (out, weights)``.

    Runs seeded cases (batch 1, length 1, Lq != Lk, d_k = 1, d_k != d_v, extra batch dims,
    non-contiguous inputs, broadcast masks) against the reference, their gradients,
    the behaviours attention must have, on the CPU, on ``meta`` (device placement) and on
    CUDA when present. Raises :class:`GradingError` naming the likely mistake.
    """
    refused = torch_refused_modules() + [reference_item(_ref_sdpa, "scaled_dot_product_attention")]

    def body(ctx: Context) -> None:
        for case in _sdpa_cases():
            q, k, v = case.args[:3]
            ctx.run_case(case, impl, _ref_sdpa, names=("out", "weights"), as_tuple=True,
                         variants=catalog.sdpa_variants(q.shape[-1], v.shape[-1]), probes=catalog.attention_probes())
        if ctx.device.type in _BF16_DEVICES:
            g = _gen(4)
            case = Case("bfloat16 inputs, B=2, Lq=4, Lk=6, d_k=8, d_v=4, key padding mask (B, 1, Lk)",
                        (_randn(g, 2, 4, 8).bfloat16(), _randn(g, 2, 6, 8).bfloat16(), _randn(g, 2, 6, 4).bfloat16(),
                         _key_padding([6, 3], 6)), arg_names=("q", "k", "v", "mask"))
            ctx.run_case(case, impl, _ref_sdpa, names=("out", "weights"), as_tuple=True, dtype=torch.bfloat16,
                         variants=catalog.sdpa_variants(8, 4))
        if ctx.values:
            _sdpa_behaviour(ctx, impl)

    return run_check("scaled_dot_product_attention", impl, shielded(body), refused=refused, device=device,
                     time_limit=time_limit)


# --------------------------------------------------------------------------- MultiHeadAttention


def _mha_cases():
    """(init args, [cases]) for the sizes the grader builds."""
    g = _gen(2)
    names = ("query", "key", "value", "mask")
    out = []
    cases = [
        Case("d_model=8, num_heads=2, B=3, Lq=Lk=5, distinct query/key/value, no mask",
             (_randn(g, 3, 5, 8), _randn(g, 3, 5, 8), _randn(g, 3, 5, 8)), grad=(0, 1, 2), arg_names=names),
    ]
    x = _randn(g, 2, 4, 8)
    cases.append(Case("d_model=8, num_heads=2, self-attention (query = key = value), B=2, L=4, causal mask (L, L)",
                      (x, x, x, torch.ones(4, 4, dtype=torch.bool).tril()), grad=(0, 1, 2), arg_names=names))
    out.append(((8, 2), cases))
    cases = [
        Case("d_model=12, num_heads=3, B=3, Lq=3, Lk=6, key padding mask (B, 1, 1, Lk), lengths 6, 2, 4",
             (_randn(g, 3, 3, 12), _randn(g, 3, 6, 12), _randn(g, 3, 6, 12), _key_padding([6, 2, 4], 6, 2)),
             grad=(0, 1, 2), arg_names=names),
        Case("d_model=12, num_heads=3, per-head mask (B, num_heads, Lq, Lk), B=2, Lq=4, Lk=5",
             (_randn(g, 2, 4, 12), _randn(g, 2, 5, 12), _randn(g, 2, 5, 12), _mixed_mask(g, 2, 3, 4, 5)),
             grad=(0, 1, 2), arg_names=names),
        Case("d_model=12, num_heads=3, non-contiguous query/key/value (transposed views), B=2, Lq=3, Lk=4",
             (_randn(g, 2, 12, 3).transpose(1, 2), _randn(g, 2, 12, 4).transpose(1, 2),
              _randn(g, 2, 12, 4).transpose(1, 2)), grad=(0, 1, 2), arg_names=names),
    ]
    out.append(((12, 3), cases))
    cases = [
        Case("d_model=4, num_heads=4 (d_k=1), B=2, Lq=3, Lk=5, causal mask (Lq, Lk)",
             (_randn(g, 2, 3, 4), _randn(g, 2, 5, 4), _randn(g, 2, 5, 4), torch.ones(3, 5, dtype=torch.bool).tril()),
             grad=(0, 1, 2), arg_names=names),
    ]
    out.append(((4, 4), cases))
    cases = [
        Case("d_model=6, num_heads=1, batch 1, Lq=1, Lk=1", (_randn(g, 1, 1, 6), _randn(g, 1, 1, 6), _randn(g, 1, 1, 6)),
             grad=(0, 1, 2), arg_names=names),
    ]
    out.append(((6, 1), cases))
    return out


def check_multi_head_attention(impl, *, device=None, time_limit=None) -> CheckReport:
    """Check a student's ``MultiHeadAttention`` class (pass the class itself).

    The grader builds it at several sizes, loads the reference's weights into
    ``w_q, w_k, w_v, w_o`` and compares outputs, per-head weights and gradients,
    plus the ValueError for ``d_model % num_heads != 0``, eval-mode determinism,
    rows summing to 1 and permutation equivariance.
    """
    refused = torch_refused_modules() + [reference_item(_RefMHA, "MultiHeadAttention")]

    def body(ctx: Context) -> None:
        # The ValueError is looked at first but reported with the values' verdict: a missing ValueError alone
        # says so and that every value was right; with wrong values, it is added to that failure.
        no_error = _value_error_verdict(ctx, impl) if ctx.device.type == "cpu" else None
        try:
            for i, (init, cases) in enumerate(_mha_cases()):
                student, ref = build_module(ctx, impl, _RefMHA, init, _MHA_CONTRACT)
                if i == 0:
                    check_deterministic(ctx, student, cases[0].args, cases[0].label + " (called twice)")
                for case in cases:
                    ctx.run_case(case, student, ref, names=("out", "weights"), as_tuple=True,
                                 variants=catalog.mha_variants(ref), probes=catalog.attention_probes())
                if i == 0 and ctx.values:
                    _mha_behaviour(ctx, student)
        except GradingError as exc:
            if no_error is None:
                raise
            raise GradingError(f"{exc}\n  Also: {no_error[0]}: {no_error[1]}") from None
        if no_error is not None:
            ctx.fail(f"{no_error[0]}, but every value was right", _VALUE_ERROR_CASE,
                     [f"your outputs, attention weights and gradients match the reference in all {ctx.cases} other "
                      "cases on this device: only the check of the arguments is missing"], no_error[1])

    return run_check("multi_head_attention", impl, shielded(body), refused=refused, device=device,
                     time_limit=time_limit, kind="class")


_VALUE_ERROR_CASE = "MultiHeadAttention(d_model=10, num_heads=3)"


def _value_error_verdict(ctx: Context, impl) -> tuple[str, str] | None:
    """None if ``impl(10, 3)`` raises ValueError, else (what happened, the cause); a blank class fails at once."""
    status, value = ctx.call(attempt(impl, 10, 3), case=_VALUE_ERROR_CASE)
    if status == "error" and isinstance(value, ValueError):
        ctx.cases += 1
        return None
    if status == "error" and isinstance(value, NotImplementedError):
        ctx._student_exception(value, _VALUE_ERROR_CASE, f"{impl.__name__}(10, 3) (your __init__)",
                               student_location(value, ctx.student_files))
    if status == "error" and isinstance(value, AssertionError):
        return ("AssertionError instead of ValueError for d_model=10, num_heads=3",
                "an `assert d_model % num_heads == 0`: the contract asks for a ValueError (`if d_model % num_heads: "
                "raise ValueError(...)`); an assert is no ValueError and is skipped under `python -O`.")
    if status == "error":
        return (f"{type(value).__name__} instead of ValueError for d_model=10, num_heads=3 "
                f"({str(value).strip()[:120]})",
                "check `d_model % num_heads` at the start of __init__ and raise ValueError with a clear message, "
                "before anything can fail on the uneven split.")
    return ("no ValueError for d_model=10, num_heads=3",
            "a missing ValueError: d_model must be divisible by num_heads; check `d_model % num_heads` in __init__ "
            "and raise ValueError with a clear message.")


def _mha_behaviour(ctx: Context, student) -> None:
    g = _gen(3)
    with torch.no_grad():
        label = "behaviour: MultiHeadAttention without a mask is permutation-equivariant"
        x = _randn(g, 2, 5, 8)
        p = torch.randperm(5, generator=g)
        o1, w1 = ctx.call(student, *(ctx.to(x),) * 3, case=label)
        o2, _ = ctx.call(student, *(ctx.to(x[:, p]),) * 3, case=label)
        ctx.expect(torch.allclose(o1.cpu()[:, p], o2.cpu(), atol=ctx.behaviour_atol),
                   "permuting the input positions did not simply permute the output", label,
                   "the result depends on the order of positions although no mask or positional encoding was given.")
        ones = torch.ones(2, 2, 5, dtype=torch.float64)
        ctx.expect(torch.allclose(w1.cpu().double().sum(-1), ones, atol=ctx.behaviour_atol),
                   "the attention weights of a query do not sum to 1", label,
                   "the softmax must run over the keys (dim=-1).")


# --------------------------------------------------------------------------- hidden tests
# hidden_<name>(ctx, impl): the suite of the hidden test cell hidden_<name>, run by grading.hidden.run_hidden.


def hidden_scaled_dot_product_attention(ctx: Context, impl) -> None:
    g = seeded(504)
    q = torch.randn(2, 3, 4, 5, 16, generator=g, dtype=F64)
    k = torch.randn(2, 3, 4, 7, 16, generator=g, dtype=F64)
    v = torch.randn(2, 3, 4, 7, 9, generator=g, dtype=F64)
    mask = torch.rand(5, 7, generator=g) > 0.4
    mask[:, 0] = True  # every query keeps at least one key
    case = "three batch dimensions, d_v=9, a (Lq, Lk) mask, float64"
    with torch.no_grad():
        out, w = tensors(ctx, ctx.call(impl, q, k, v, mask, case=case), 2, case, "scaled_dot_product_attention")
    ctx.expect(tuple(out.shape) == (2, 3, 4, 5, 9) and tuple(w.shape) == (2, 3, 4, 5, 7),
               f"with three batch dimensions and d_v=9 the shapes are {tuple(out.shape)} and {tuple(w.shape)}, "
               "expected (2, 3, 4, 5, 9) and (2, 3, 4, 5, 7)", case)
    w_ref = (q @ k.transpose(-2, -1) / 4.0).masked_fill(~mask, float("-inf")).softmax(-1)
    ctx.expect(torch.allclose(w, w_ref, atol=1e-10) and torch.allclose(out, w_ref @ v, atol=1e-10),
               "wrong values with several batch dimensions and a (Lq, Lk) mask", case)
    ctx.expect(bool((w[..., ~mask] == 0).all()), "masked keys must get a weight of exactly 0", case)
    case = "d_k=512 and large values (float32)"
    big_q = torch.randn(2, 6, 512, generator=g) * 4
    with torch.no_grad():
        out, w = tensors(ctx, ctx.call(impl, big_q, big_q, big_q, case=case), 2, case, "scaled_dot_product_attention")
    ctx.expect(bool(torch.isfinite(out).all()) and w.shape == (2, 6, 6)
               and torch.allclose(w.sum(-1), torch.ones(2, 6), atol=1e-5),
               "with d_k=512 and large values the result is not finite or its rows do not sum to 1", case)


def _torch_mha(ref: nn.Module, d_model: int, heads: int) -> nn.MultiheadAttention:
    """PyTorch's nn.MultiheadAttention (float64) with the weights of a cs502_lib MultiHeadAttention."""
    theirs = nn.MultiheadAttention(d_model, heads, batch_first=True).double()
    copy_mha(ref, theirs)
    return theirs.eval()


_MHA_HIDDEN_CONTRACT = "MultiHeadAttention(d_model, num_heads) has w_q, w_k, w_v, w_o, each nn.Linear(d_model, d_model)."


def hidden_MultiHeadAttention(ctx: Context, impl) -> None:
    ctx.expect_error(impl, 10, 3, case="MultiHeadAttention(10, 3)",
                     cause="MultiHeadAttention(10, 3) must raise ValueError (10 is not divisible by 3).")
    torch.manual_seed(505)
    student, ref = build_module(ctx, impl, _RefMHA, (12, 3), _MHA_HIDDEN_CONTRACT)
    student = student.double()
    theirs = _torch_mha(ref, 12, 3)
    g = seeded(505)
    x = torch.randn(2, 5, 12, generator=g, dtype=F64)
    mem = torch.randn(2, 8, 12, generator=g, dtype=F64)
    keep = torch.ones(2, 8, dtype=torch.bool)
    keep[1, 6:] = False
    case = "cross-attention with a key padding mask (B, 1, 1, Lk) against nn.MultiheadAttention, float64"
    out, w = tensors(ctx, ctx.call(student, x, mem, mem, keep[:, None, None, :], case=case), 2, case,
                     "MultiHeadAttention")
    ref_out, w_ref = theirs(x, mem, mem, key_padding_mask=~keep, average_attn_weights=False)
    ctx.expect(out.shape == ref_out.shape and w.shape == w_ref.shape and torch.allclose(out.detach(), ref_out, atol=1e-10)
               and torch.allclose(w.detach(), w_ref, atol=1e-10),
               "cross-attention with a key padding mask differs from nn.MultiheadAttention with the same weights", case)
    grads = param_grads(ctx, student, out, case + ", backward")
    missing = [n for n, gr in grads.items() if gr is None or not bool(gr.abs().sum() > 0)]
    ctx.expect(not missing, f"no gradient reaches {missing}", case + ", backward")
