"""The hidden tests: how they run, and the helpers their suites share.

Each graded item's hidden suite is a function ``hidden_<name>(ctx, impl)`` written next to its
public check, in the module the registry names (:attr:`~cs502_lib.grading.registry.GradedItem.module_name`).
:func:`run_hidden` finds it there through the registry, so no table lists the suites.

A suite runs on the CPU under the same guards as the public checks (delegation refused, a
time limit, every exception turned into a :class:`GradingError`), so that the same code
decides in the student's kernel (the notebook's hidden test cell calls
:func:`cs502_lib.testcell.grade_hidden`) and in a clean verdict, where ``impl`` is a proxy of
the student's code running in the grading worker. Feedback shows their messages, never their code.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .context import Context
from .guards import attempt, reference_item, torch_refused_modules
from .registry import item as _item
from .report import CheckReport
from .run import run_check

__all__ = ["run_hidden", "F64", "seeded", "tensors", "raises", "param_grads", "copy_mha", "equal", "seeded_dna"]

_CPU = [torch.device("cpu")]
F64 = torch.float64


def run_hidden(name: str, impl, *, time_limit: float | None = None) -> CheckReport:
    """Run the hidden tests of the graded ``name`` on ``impl`` (CPU only); raises GradingError on a failure."""
    it = _item(name)
    body = it.hidden_suite()
    refused = torch_refused_modules() + [reference_item(it.reference_object(), name)]
    return run_check(f"hidden tests of {name}", impl, lambda ctx: body(ctx, impl), refused=refused,
                     devices=_CPU, time_limit=time_limit, kind=it.kind)


# --------------------------------------------------------------------------- helpers of the suites


def seeded(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed``."""
    return torch.Generator().manual_seed(seed)


def tensors(ctx: Context, got: Any, n: int, case: str, what: str) -> list[torch.Tensor]:
    """``got`` as a list of ``n`` tensors, or a failure that says what came back instead."""
    values = list(got) if isinstance(got, tuple) and n > 1 else [got]
    if len(values) != n or not all(isinstance(v, torch.Tensor) for v in values):
        shape = f"a tuple of {n} tensors" if n > 1 else "a tensor"
        ctx.fail(f"{what} returned {type(got).__name__}; expected {shape}", case)
    return values


def raises(ctx: Context, fn, *args, case: str, headline: str) -> None:
    """The call must raise ValueError."""
    status = ctx.call(attempt(fn, *args), case=case)
    ctx.expect(status[0] == "error" and isinstance(status[1], ValueError), headline, case)


def param_grads(ctx: Context, module, out: torch.Tensor, case: str) -> dict:
    """name -> gradient of ``out.sum()`` for every parameter of the student's module."""
    up = torch.ones_like(out)
    if ctx.remote is not None:
        from .remote import call_settings

        def run():
            with call_settings(time_limit=ctx.remaining(), item=ctx.remote.item):
                return module.param_grads([out], [up])
    else:
        def run():
            named = list(module.named_parameters())
            grads = torch.autograd.grad([out], [p for _, p in named], [up], allow_unused=True)
            return {n: g for (n, _), g in zip(named, grads)}
    return ctx.call(run, case=case, what="backpropagation through your module")


def copy_mha(ours: nn.Module, theirs: nn.MultiheadAttention) -> None:
    """Give PyTorch's ``nn.MultiheadAttention`` the weights of a cs502_lib MultiHeadAttention."""
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.cat([ours.w_q.weight, ours.w_k.weight, ours.w_v.weight]))
        theirs.in_proj_bias.copy_(torch.cat([ours.w_q.bias, ours.w_k.bias, ours.w_v.bias]))
        theirs.out_proj.weight.copy_(ours.w_o.weight)
        theirs.out_proj.bias.copy_(ours.w_o.bias)


def seeded_dna(seed: int, n: int) -> str:
    """``n`` random bases (A, C, G, T) drawn with the generator :func:`seeded` (``seed``)."""
    return "".join("ACGT"[i] for i in torch.randint(0, 4, (n,), generator=seeded(seed)).tolist())


def equal(ctx: Context, got: Any, want: Any, headline: str, case: str) -> None:
    """``got`` must be ``want``, of the same type; the failure shows the start of what came back."""
    ctx.expect(type(got) is type(want) and got == want, headline, case,
               details=[f"got {str(got)[:120]!r}" if not isinstance(got, str) else f"got {got[:120]!r}"])
