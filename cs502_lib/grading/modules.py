"""The student's ``nn.Module`` under a check: built like the reference, with the reference's weights.

:func:`build_module` instantiates the student's class and the reference with the same
arguments, checks the parameters' names and shapes against the contract and copies the
reference weights in; :func:`check_deterministic` checks that eval mode turns dropout off.
"""

from __future__ import annotations

import copy

import torch

from .context import Context

__all__ = ["build_module", "check_deterministic"]


def build_module(ctx: Context, impl: type, ref_cls: type, args: tuple, contract: str):
    """Instantiate the student's class and the reference with the same arguments; copy the reference weights.

    Returns ``(student on ctx.device in eval mode, reference in float64 on the CPU in eval mode)``.
    """
    label = f"{impl.__name__}{args}"
    torch.manual_seed(sum(args) + 17)
    ref = ref_cls(*args).eval()
    student = ctx.call(impl, *args, case=label, what=f"{impl.__name__}{args} (your __init__)")
    if not isinstance(student, torch.nn.Module):
        ctx.fail(f"{impl.__name__}{args} did not build an nn.Module", label)
    try:
        mine = student.state_dict()
    except Exception as exc:
        ctx.fail(f"the state_dict of your {impl.__name__} could not be read ({exc})", label)
    theirs = ref.state_dict()
    try:
        names = [str(k) for k in mine]
        missing = [k for k in theirs if k not in mine]
    except Exception as exc:
        ctx.fail(f"the state_dict of your {impl.__name__} could not be read ({type(exc).__name__}: {exc})", label,
                 cause="`state_dict()` must return the module's parameters by name: do not override it.")
    if missing:
        ctx.fail(
            f"your {impl.__name__} has no parameter {', '.join(repr(k) for k in missing[:6])}"
            + (" ..." if len(missing) > 6 else ""),
            label,
            [f"its parameters are: {', '.join(names) or '(none)'}"],
            _missing_cause(missing, names, contract),
        )
    for k, v in theirs.items():
        try:
            lazy = torch.nn.parameter.is_lazy(mine[k])
            shape = None if lazy else tuple(mine[k].shape)
        except Exception as exc:
            ctx.fail(f"your parameter {k!r} could not be read ({type(exc).__name__}: {exc})", label,
                     cause=f"the contract: {contract}")
        if lazy:
            ctx.fail(f"your parameter {k!r} is not initialized (a lazy layer such as nn.LazyLinear: its shape is only "
                     "known after a first call)", label,
                     cause=f"create the layers with explicit sizes, as the contract asks: {contract}")
        if shape != tuple(v.shape):
            ctx.fail(f"your parameter {k!r} has shape {shape}; expected {tuple(v.shape)}", label,
                     cause=f"the contract: {contract}")
    try:
        with torch.no_grad():
            student.load_state_dict(theirs, strict=False)
    except Exception as exc:
        ctx.fail(f"the reference weights could not be loaded into your {impl.__name__} ({exc})", label,
                 cause=f"the contract: {contract}")
    try:
        student.eval()
    except Exception as exc:
        ctx.fail(f"your {impl.__name__} could not be put in eval mode ({type(exc).__name__}: {exc})", label,
                 cause="a method of yours named `eval` or `train` hides nn.Module's own; rename it.")
    try:
        student.to(ctx.device)
    except Exception as exc:
        ctx.fail(f"your {impl.__name__} could not be moved to {ctx.device} ({exc})", label)
    return student, copy.deepcopy(ref).double().eval()


def _missing_cause(missing: list[str], names: list[str], contract: str) -> str:
    """Why the reference's parameters ``missing`` are not among the student's ``names``."""
    for key in missing:
        owner, _, param = key.rpartition(".")
        theirs = [n[len(owner) + 1:] for n in names if owner and n.startswith(owner + ".")]
        if theirs and param in ("weight", "bias"):
            what = f"`{owner}` has the parameters {', '.join(theirs[:4])}, not `weight` and `bias`"
            if owner.rpartition(".")[2].startswith("norm"):
                return (f"{what}: a layer norm written by hand (as in the Annotated Transformer)? The contract asks "
                        "for nn.LayerNorm(d_model), whose parameters are `weight` and `bias`, and which also differs "
                        "in its numbers: it divides by the biased standard deviation (unbiased=False) with eps added "
                        "inside the square root. Use nn.LayerNorm.")
            return f"{what}: the contract: {contract}"
    return f"the grader loads the reference weights by the contract's attribute names: {contract}"


def check_deterministic(ctx: Context, module: torch.nn.Module, args: tuple, case: str) -> None:
    """In eval mode two calls on the same input must agree exactly (no dropout)."""
    if not ctx.values:
        return
    dev = [ctx.to(a) for a in args]
    with torch.no_grad():
        a = ctx.call(module, *dev, case=case)
        b = ctx.call(module, *dev, case=case)
    ta = a[0] if isinstance(a, tuple) else a
    tb = b[0] if isinstance(b, tuple) else b
    if isinstance(ta, torch.Tensor) and isinstance(tb, torch.Tensor) and ta.shape == tb.shape:
        ctx.expect(
            bool(torch.allclose(ta, tb, atol=1e-6, rtol=1e-6)), "two calls in eval mode on the same input gave different outputs", case,
            "dropout active in eval mode: use the module `self.dropout` (an nn.Dropout, which turns itself off "
            "after `.eval()`) or `F.dropout(x, p, training=self.training)`, never a plain `F.dropout(x, p)`.",
        )

