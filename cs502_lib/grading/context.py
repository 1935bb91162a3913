"""The context of one run of a check: :class:`Case` (one call of the student's code) and :class:`Context`.

:meth:`Context.run_case` calls the student's code on a case (through :class:`~.calls.CallContext`),
then checks the return type, dtypes, shapes and devices, the values against a float64
reference (naming the likely mistake when they differ), the gradients, and that the
inputs were left unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from .calls import DEVICE, CallContext, type_name
from .guards import is_stand_in

__all__ = ["Case", "Context", "DEVICE"]


@dataclass
class Case:
    """One call of the student's code: a label for messages, the (CPU) arguments, which get gradients."""

    label: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    grad: tuple[int, ...] = ()  # positions in ``args`` of tensors that get requires_grad
    arg_names: tuple[str, ...] = ()  # names of ``args`` for messages ("q", "k", ...)


class Context(CallContext):
    """One run of a check on one device: calls student code under the guards, compares with the reference."""

    # ---- checking outputs --------------------------------------------------------------

    def structure(self, got: Any, expected: list[torch.Tensor], names: Sequence[str], case: str,
                  as_tuple: bool, out_device: torch.device | None = None) -> list[torch.Tensor]:
        """Check the return type, then each output's dtype, shape and device; returns the outputs as a list."""
        import numpy as np

        n = len(expected)
        if as_tuple:
            want = f"a tuple ({', '.join(names)})"
            if isinstance(got, torch.Tensor):
                self.fail(f"your code returned a single tensor of shape {tuple(got.shape)}; expected {want}", case,
                          cause=f"return both values: `return {', '.join(names)}`.")
            if isinstance(got, list):
                self.fail(f"your code returned a list; expected {want}", case,
                          cause=f"return a tuple: `return {', '.join(names)}` (not `[...]`).")
            if not isinstance(got, tuple):
                self.fail(f"your code returned {type_name(got)}; expected {want}", case,
                          cause="a missing `return` statement." if got is None else None)
            if len(got) != n:
                self.fail(f"your code returned a tuple of {len(got)} values; expected {want}", case)
            outputs = list(got)
        else:
            outputs = [got]
        for name, out, exp in zip(names, outputs, expected):
            if isinstance(out, np.ndarray):
                self.fail(f"`{name}` is a NumPy array; expected a torch.Tensor", case,
                          cause="a NumPy round trip (`.numpy()` / `np.` functions): keep the computation in torch, "
                          "which also keeps gradients and the GPU working.")
            if isinstance(out, tuple) and not as_tuple:
                self.fail(f"your code returned a tuple of {len(out)} values; expected one torch.Tensor of shape "
                          f"{tuple(exp.shape)}", case, cause="return only the output tensor, not a tuple.")
            if isinstance(out, list):
                self.fail(f"`{name}` is a list; expected a torch.Tensor of shape {tuple(exp.shape)}", case,
                          cause="building the result as a Python list; use tensor operations (or `torch.stack`).")
            if not isinstance(out, torch.Tensor):
                cause = None
                if out is None:
                    cause = (f"`{name}` must be returned as a tensor, not None." if as_tuple
                             else "a missing `return` statement.")
                self.fail(f"`{name}` is {type_name(out)}; expected a torch.Tensor of shape {tuple(exp.shape)}", case,
                          cause=cause)
            if tuple(out.shape) != tuple(exp.shape):
                self._shape_mismatch(name, tuple(out.shape), tuple(exp.shape), case)
            if out.dtype != exp.dtype:
                cause = None
                if exp.dtype == torch.bool:
                    cause = ("a mask built with numbers (`torch.ones(...)`, `.float()`, `.int()`) instead of a comparison "
                             "or `dtype=torch.bool`; masks are torch.bool, True = may attend / real token.")
                elif out.dtype == torch.float64 and exp.dtype == torch.float32:
                    cause = "computing in float64 (fine) without casting the result back: end with `.float()` / `.to(x.dtype)`."
                self.fail(f"`{name}` has dtype {out.dtype}; expected {exp.dtype}", case, cause=cause)
            want_device = out_device or self.device
            if out.device != want_device and not (out.device.type == want_device.type and want_device.index is None):
                cause = ("a tensor created without `device=`: build new tensors on the inputs' device "
                         "(`device=x.device`, `torch.zeros_like(x)`, `x.new_ones(...)`) or on the `device` argument.")
                if out.device.type == "cpu" and want_device.type != "cpu":
                    cause = cause[:-1] + "; or a tensor moved to the CPU (`.cpu()`, `.to('cpu')`): keep it where it is."
                if is_stand_in(out):
                    cause = ("your code moved a tensor to the CPU (`.cpu()`, `.to('cpu')`) and built the result "
                             "there: on a GPU the result would be on the CPU too; keep every tensor on the inputs' "
                             "device (drop the `.cpu()`).")
                self.fail(f"`{name}` is on device {out.device}; expected {want_device}", case, cause=cause)
        return outputs

    def _shape_mismatch(self, name: str, got: tuple, exp: tuple, case: str):
        cause = None
        if len(got) == len(exp) and got == exp[::-1] or (len(got) >= 2 and len(got) == len(exp)
                                                          and got[:-2] == exp[:-2] and got[-2:] == exp[-2:][::-1]):
            cause = "the result is transposed (the last two dimensions are swapped)."
        elif len(got) == len(exp) + 1 and any(got[:i] + got[i + 1:] == exp and got[i] == 1 for i in range(len(got))):
            cause = "an extra dimension of size 1 (an `unsqueeze` or a batch dimension too many); remove it."
        elif len(got) < len(exp) and _drops_only_ones(got, exp):
            cause = ("a `.squeeze()` removed a dimension of size 1 (this case has size 1 there, e.g. batch size 1): "
                     "keep the shape the contract gives; squeeze only a dimension you added yourself, or not at all.")
        elif len(got) == len(exp) - 1 and any(got == exp[:i] + exp[i + 1:] for i in range(len(exp))):
            dropped = [i for i in range(len(exp)) if got == exp[:i] + exp[i + 1:]][0]
            cause = (f"dimension {dropped} (size {exp[dropped]}) was reduced away (a mean or sum over it, "
                     "e.g. the heads' weights averaged); keep it.")
        self.fail(f"`{name}` has shape {got}; expected {exp}", case, cause=cause)

    def close(self, got: torch.Tensor, exp: torch.Tensor) -> bool:
        """Whether a student output matches a (float64, CPU) expected value under this run's tolerances."""
        g = got.detach().to("cpu")
        if not exp.is_floating_point():
            return g.shape == exp.shape and bool(torch.equal(g.to(exp.dtype), exp))
        if g.shape != exp.shape:
            return False
        atol, rtol = self.tol(got.dtype)
        g = g.double()
        e = exp.detach().double()
        same_nan = torch.isnan(g) == torch.isnan(e)
        diff = (g - e).abs()
        ok = (diff <= atol + rtol * e.abs()) | (torch.isnan(g) & torch.isnan(e)) | (g == e)
        return bool(same_nan.all() and ok.all())

    def mismatch_details(self, name: str, got: torch.Tensor, exp: torch.Tensor) -> list[str]:
        """Expected versus got at the worst position, in words."""
        g = got.detach().to("cpu")
        if not exp.is_floating_point():
            bad = (g.to(exp.dtype) != exp).nonzero()
            idx = tuple(bad[0].tolist()) if len(bad) else ()
            return [f"`{name}` differs at {int((g.to(exp.dtype) != exp).sum())} of {exp.numel()} positions; "
                    f"first at index {idx}: expected {exp[idx].item()}, got {g[idx].item()}",
                    f"expected:\n{_indent(exp)}", f"got:\n{_indent(g)}"] if exp.numel() <= 64 else [
                    f"`{name}` differs at {int((g.to(exp.dtype) != exp).sum())} of {exp.numel()} positions; "
                    f"first at index {idx}: expected {exp[idx].item()}, got {g[idx].item()}"]
        g = g.double()
        nonfinite = ~torch.isfinite(g) & torch.isfinite(exp)
        if nonfinite.any():
            idx = tuple(nonfinite.nonzero()[0].tolist())
            return [f"`{name}` contains {g[idx].item()} at index {idx} (and {int(nonfinite.sum())} such values "
                    f"in all) where {_fmt(exp[idx].item())} was expected; no query of this case has all its keys masked"]
        diff = (g - exp).abs()
        diff = torch.where(torch.isnan(diff), torch.full_like(diff, float("inf")), diff)
        idx = tuple(torch.nonzero(diff == diff.max())[0].tolist())
        return [f"`{name}` differs from the expected values: largest difference {_fmt(diff.max().item())} at index "
                f"{idx}: expected {_fmt(exp[idx].item())}, got {_fmt(g[idx].item())}"]

    # ---- the standard case -------------------------------------------------------------

    def run_case(
        self,
        case: Case,
        student: Callable,
        reference: Callable,
        *,
        names: Sequence[str],
        as_tuple: bool = False,
        variants: Sequence[tuple[str, Callable]] = (),
        probes: Sequence[Callable] = (),
        dtype: torch.dtype = torch.float32,
        check_inplace: bool = True,
        out_device: torch.device | None = None,
    ) -> list[torch.Tensor]:
        """Run one case: call, check structure, values (diagnosing a mismatch), gradients, inputs unchanged.

        ``reference`` and each variant get the case's arguments cast to float64 (on the
        CPU) and must return the expected outputs (float outputs are compared with
        tolerances for ``dtype`` on this device). ``variants`` are known mistakes
        ``(cause, fn)``: the first whose output matches the student's names the cause.
        ``probes`` get the student's outputs (CPU) and the float64 args and may return a cause.
        Returns the student's outputs (on this run's device).
        """
        dev_args = [self.to(a, grad=(i in case.grad and self.values)) for i, a in enumerate(case.args)]
        dev_kwargs = {k: self.to(v) for k, v in case.kwargs.items()}
        snapshots = {i: a.detach().clone() for i, a in enumerate(dev_args)
                     if isinstance(a, torch.Tensor) and self.values}
        got = self.call(student, *dev_args, case=case.label, **dev_kwargs)

        d_args = [_double(a) for a in case.args]
        d_kwargs = {k: (torch.device("cpu") if v is DEVICE else _double(v)) for k, v in case.kwargs.items()}
        expected = reference(*d_args, **d_kwargs)
        expected = list(expected) if as_tuple else [expected]
        expected_typed = [e.to(dtype) if e.is_floating_point() else e for e in expected]
        outputs = self.structure(got, expected_typed, names, case.label, as_tuple, out_device)

        if self.values:
            for name, out, exp in zip(names, outputs, expected):
                if not self.close(out, exp):
                    self._diagnose(case, names, outputs, expected, d_args, d_kwargs, variants, probes, name, out, exp)
            if case.grad:
                self._check_grads(case, dev_args, outputs, expected, d_args, d_kwargs, reference, names, as_tuple,
                                  student)
            if check_inplace:
                self._check_unchanged(case, dev_args, snapshots, student)
        self.cases += 1
        return outputs

    def _diagnose(self, case, names, outputs, expected, d_args, d_kwargs, variants, probes, name, out, exp):
        cpu_outputs = [o.detach().to("cpu") for o in outputs]
        cause = None
        for variant_cause, fn in variants:
            try:
                v = fn(*d_args, **d_kwargs)
            except Exception:  # a variant that does not apply to this case
                continue
            v = list(v) if isinstance(v, (tuple, list)) else [v]
            try:
                same = len(v) == len(cpu_outputs) and all(
                    o.shape == vv.shape and self.close(o, vv) for o, vv in zip(cpu_outputs, v))
            except Exception:  # a variant that gives nothing comparable for this case
                same = False
            if same:
                cause = variant_cause
                break
        if cause is None:
            for probe in probes:
                try:
                    cause = probe(cpu_outputs, d_args, d_kwargs)
                except Exception:
                    cause = None
                if cause:
                    break
        if cause is None and exp.is_floating_point():
            got = out.detach().to("cpu").double()
            if bool((~torch.isfinite(got) & torch.isfinite(exp)).any()):
                cause = ("NaN or inf where the expected values are finite: a division by zero (or 0/0), the log of "
                         "0, inf - inf (for example in a softmax written by hand over scores filled with -inf), or "
                         "an overflow; every query of this case has at least one key it may attend to.")
        details = self.mismatch_details(name, out, exp)
        self.fail(f"wrong values in `{name}`", case.label, details, cause)

    def _check_grads(self, case, dev_args, outputs, expected, d_args, d_kwargs, reference, names, as_tuple, student):
        gen = torch.Generator().manual_seed(1234)
        float_idx = [i for i, e in enumerate(expected) if e.is_floating_point()]
        ups = [torch.randn(expected[i].shape, generator=gen, dtype=torch.float64) for i in float_idx]
        inputs = [dev_args[i] for i in case.grad]
        in_names = [_arg_name(case, i) for i in case.grad]
        up_dev = [u.to(device=self.device, dtype=outputs[i].dtype) for u, i in zip(ups, float_idx)]

        def replay():
            args = [self.to(a, grad=(i in case.grad)) for i, a in enumerate(case.args)]
            out = student(*args, **{k: self.to(v) for k, v in case.kwargs.items()})
            out = list(out) if isinstance(out, (tuple, list)) else [out]
            torch.autograd.grad([out[i] for i in float_idx], [args[i] for i in case.grad], up_dev, allow_unused=True)

        got_grads = self.backward([outputs[i] for i in float_idx], inputs, up_dev, in_names, case.label, replay)
        r_args = [a.detach().clone().requires_grad_(True) if i in case.grad else a for i, a in enumerate(d_args)]
        r_out = reference(*r_args, **d_kwargs)
        r_out = list(r_out) if as_tuple else [r_out]
        ref_grads = torch.autograd.grad([r_out[i] for i in float_idx], [r_args[i] for i in case.grad], ups,
                                        allow_unused=True)
        atol, rtol = self.tol(outputs[float_idx[0]].dtype)
        for name, g, r in zip(in_names, got_grads, ref_grads):
            r = torch.zeros_like(d_args[case.grad[in_names.index(name)]]) if r is None else r
            gc = g.detach().to("cpu").double()
            if gc.shape != r.shape or not bool(((gc - r).abs() <= 10 * atol + 10 * rtol * r.abs()).all()):
                diff = (gc - r).abs().max().item() if gc.shape == r.shape else float("nan")
                self.fail(
                    f"the outputs are right but the gradient with respect to `{name}` is wrong "
                    f"(largest difference {_fmt(diff)})",
                    case.label,
                    cause="part of the computation is hidden from autograd (`.detach()`, `.data`, a NumPy round trip, "
                    "`torch.tensor(...)` of computed values) or an in-place operation changed a saved tensor.",
                )

    def _check_unchanged(self, case, dev_args, snapshots, student):
        for i, snap in snapshots.items():
            now = dev_args[i].detach()
            if now.shape != snap.shape or not bool(torch.equal(now, snap)):
                name = _arg_name(case, i)
                self.fail(
                    f"your code modified its input `{name}` in place",
                    case.label,
                    cause="an in-place operation on an argument (`x /= ...`, `x += ...`, `masked_fill_`, `x[...] = ...`); "
                    "the caller's tensors must stay unchanged: compute into a new tensor (`x = x / ...`).",
                )


def _drops_only_ones(got: tuple, exp: tuple) -> bool:
    """Whether shape ``got`` is ``exp`` with some dimensions of size 1 removed (what a `.squeeze()` does)."""
    rest = list(got)
    for d in exp:
        if rest and rest[0] == d:
            rest.pop(0)
        elif d != 1:
            return False
    return not rest


def _arg_name(case: Case, i: int) -> str:
    names = getattr(case, "arg_names", None)
    if names and i < len(names):
        return names[i]
    return f"argument {i + 1}"


def _double(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        v = value.detach().clone()
        return v.double() if v.is_floating_point() else v
    return value


def _indent(t: torch.Tensor) -> str:
    return "\n".join("      " + line for line in str(t.int() if t.dtype == torch.bool else t).splitlines())


def _fmt(x: float) -> str:
    """A number for a message: four significant digits."""
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return f"{x:.4g}" if isinstance(x, float) else str(x)
