"""Calling the student's code: under the guards and the time limit, every failure a :class:`GradingError`.

:class:`CallContext` is the part of a check's :class:`~.context.Context` that calls student
code (here, or in the grading worker for a clean verdict) and turns whatever goes wrong
(an exception, a refused built-in, a tensor on the wrong device, a loop that never ends,
``sys.exit``) into a GradingError with the standard layout: what failed, on which case,
where in the student's code, and the most likely cause.
"""

from __future__ import annotations

import os
import time
import traceback
from contextlib import ExitStack
from typing import Any, Callable, Sequence

import torch

from .attribution import describe_frame, hint_for, is_library, student_location
from .deadline import TimeLimitExceeded, deadline
from .guards import DelegationRefused, DeviceMismatch, GuardMode, refuse_python
from .report import GradingError

__all__ = ["CallContext", "DEVICE", "MetaUnsupported", "type_name"]


class MetaUnsupported(Exception):
    """The student's code cannot run on the meta device (it reads tensor values); the meta run falls back."""

    def __init__(self, where: str) -> None:
        super().__init__(where)
        self.where = where


class _Device:
    """Placeholder for "the device this run uses" in a case's arguments."""

    def __repr__(self) -> str:
        return "DEVICE"


#: Put ``DEVICE`` in a case's args or kwargs where the run's device must go (``causal_mask(n, device=DEVICE)``).
DEVICE = _Device()


def type_name(value: Any) -> str:
    """What a value is, for a message: ``None``, ``a list``, ``a NumPy ndarray``."""
    if value is None:
        return "None"
    t = type(value)
    if t.__module__ == "numpy":
        return f"a NumPy {t.__name__}"
    return f"a {t.__name__}"


def _is_crash(exc: BaseException) -> bool:
    """Whether ``exc`` says that the process running the student's code ended (never a meta fallback)."""
    return type(exc).__name__ == "WorkerCrashed"


class CallContext:
    """One run of a check on one device: calls student code under the guards, fails with the standard layout.

    :class:`~.context.Context` adds the comparison of its outputs with the reference.
    """

    def __init__(self, check: str, device: torch.device, *, refused: list, student_files: set[str],
                 budget: list[float], time_limit: float, remote=None) -> None:
        self.check = check
        #: the grading worker when the student's code runs in another process (a clean verdict), else None
        self.remote = remote
        self.device = device
        self.meta = device.type == "meta"
        self.values = not self.meta
        self.refused = refused
        self.student_files = student_files
        self._budget = budget  # [seconds used so far], shared by all devices of the check
        self.time_limit = time_limit
        self.cases = 0

    # ---- failing -----------------------------------------------------------------------

    def fail(self, headline: str, case: str | None = None, details: Sequence[str] = (), cause: str | None = None):
        """Raise a GradingError with the standard layout."""
        lines = [f"{self.check} failed: {headline}"]
        if case:
            lines.append(f"  case: {case} [device {self.device.type}]")
        lines += [f"  {d}" for d in details if d]
        if self.meta:
            lines.append("  (the meta device stands in for a GPU: it holds no data, so a tensor created without "
                         "`device=` shows up as being on another device)")
        if cause:
            lines.append(f"  Most likely cause: {cause}")
        raise GradingError("\n".join(lines)) from None

    # ---- tensors -----------------------------------------------------------------------

    def to(self, value: Any, grad: bool = False) -> Any:
        """A fresh copy of a CPU case argument on this run's device (strides kept, so non-contiguity stays)."""
        if value is DEVICE:
            return self.device
        if isinstance(value, torch.Tensor):
            t = value.detach().clone().to(self.device)
            if grad:
                t.requires_grad_(True)
            return t
        return value

    def tol(self, dtype: torch.dtype) -> tuple[float, float]:
        """(atol, rtol) for comparing an output of ``dtype`` on this device with a float64 reference."""
        if dtype == torch.float64:
            return 1e-7, 1e-7
        if dtype == torch.bfloat16:
            return 5e-2, 5e-2
        if dtype == torch.float16:
            return 5e-3, 5e-3
        if self.device.type != "cpu":  # CUDA may use TF32 matrix products (10-bit mantissa) for float32
            return 1e-2, 1e-2
        return 1e-4, 1e-4

    @property
    def behaviour_atol(self) -> float:
        """Tolerance of behaviour checks that compare two float32 runs of the student's own code."""
        return 1e-4 if self.device.type == "cpu" else 1e-2

    # ---- calling student code ----------------------------------------------------------

    def remaining(self) -> float:
        return self.time_limit - self._budget[0]

    def call(self, fn: Callable, *args, case: str, what: str = "your code", **kwargs) -> Any:
        """Call student code under the delegation guard, the device guard (off the CPU) and the time limit."""
        mode = GuardMode(strict_device=self.device.type != "cpu")
        start = time.perf_counter()
        try:
            with self._guards(mode):
                result = fn(*args, **kwargs)
        except TimeLimitExceeded as exc:
            self._budget[0] += time.perf_counter() - start
            self._timeout(exc, case)
        except (DelegationRefused, DeviceMismatch) as exc:
            self._budget[0] += time.perf_counter() - start
            self._violation(exc, case)
        except SystemExit as exc:
            self._budget[0] += time.perf_counter() - start
            where = student_location(exc, self.student_files)
            self.fail(f"{what} called exit() / sys.exit() (SystemExit {exc.code!r})", case,
                      [f"at {where}" if where else ""], "return a value (or raise an exception); never exit the "
                      "interpreter from a function.")
        except Exception as exc:
            self._budget[0] += time.perf_counter() - start
            if mode.violation is not None:
                self._violation(mode.violation, case, exc)
            where = student_location(exc, self.student_files)
            if self.meta and not _is_crash(exc):
                raise MetaUnsupported(where or "your code") from exc
            self._student_exception(exc, case, what, where)
        self._budget[0] += time.perf_counter() - start
        if mode.violation is not None:  # raised, then swallowed by a try/except in the student's code
            self._violation(mode.violation, case)
        return result

    def _guards(self, mode: GuardMode):
        """The guards around one call of student code: here (delegation, devices, deadline), or, when the
        code lives in the grading worker, the settings its request carries (the worker applies the guards)."""
        if self.remote is not None:
            from .remote import call_settings

            return call_settings(strict_device=self.device.type != "cpu", time_limit=self.remaining(),
                                 item=self.remote.item)
        stack = ExitStack()
        stack.enter_context(refuse_python(self.refused, mode))
        stack.enter_context(mode)
        stack.enter_context(deadline(self.remaining()))
        return stack

    def _timeout(self, exc: BaseException, case: str):
        where = student_location(exc, self.student_files)
        self.fail(
            f"your code took longer than {self.time_limit:g} s (the time limit of this check) and was stopped",
            case,
            [f"it was running {where}" if where else ""],
            "a loop that never ends (a `while` whose condition never changes, a loop over a growing list) "
            "or a very slow Python loop over every element; use tensor operations.",
        )

    def _violation(self, exc: Exception, case: str, original: BaseException | None = None):
        where = student_location(original or exc, self.student_files)
        if isinstance(exc, DelegationRefused):
            self.fail(f"your code called {exc.what}", case, [f"at {where}" if where else ""], exc.advice)
        self.fail(
            f"one operation of your code mixed tensors on different devices ({exc.func_name} got tensors on "
            f"{' and '.join(exc.devices)})",
            case,
            [f"at {where}" if where else "", "The inputs were on the device shown above; a tensor your code created "
             "was elsewhere (on the GPU this is an error)."],
            "a tensor created without `device=` (for example `torch.ones(n, n)` or `torch.arange(n)`): pass "
            "`device=x.device`, or use `torch.ones_like(x)` / `x.new_ones(...)`; in a module, register constant "
            "tensors with `self.register_buffer(...)` so that `.to(device)` moves them.",
        )

    def _student_exception(self, exc: BaseException, case: str, what: str, where: str | None):
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if isinstance(exc, NotImplementedError) and not any(
                word in message for word in ("aten::", "Could not run", "not implemented for", "meta tensor")):
            self.fail(f"{what} is not written yet: it raises NotImplementedError{': ' + message if message else ''}",
                      case, [f"at {where}" if where else ""],
                      "the exercise's placeholder `raise NotImplementedError()` is still there: replace it with your "
                      "code, run the cell, then run the check again.")
        hint = None
        check_hint = getattr(self, "exception_hint", None)  # a check's own hints: (message, case label) -> str
        if check_hint is not None:
            try:
                hint = check_hint(str(exc), case)
            except Exception:  # a hint is only a help
                hint = None
        hint = hint or hint_for(str(exc))
        self.fail(
            f"{what} raised {type(exc).__name__}: {message}",
            case,
            [f"at {where}" if where else ""],
            hint,
        )

    def backward(self, outputs: list[torch.Tensor], inputs: list[torch.Tensor], grads: list[torch.Tensor],
                 names: Sequence[str], case: str, replay: Callable[[], None] | None = None) -> list[torch.Tensor | None]:
        """Gradients of ``sum(output * grad)`` with respect to ``inputs``, through the student's graph.

        If backpropagation fails, ``replay`` (which redoes the forward and backward
        pass) is run under autograd's anomaly mode to find the student's line that
        built the failing operation.
        """
        pairs = [(o, g) for o, g in zip(outputs, grads) if o.requires_grad]
        if not pairs:
            self.fail(
                "no gradient flows from your output back to the inputs (the output does not require grad)",
                case,
                cause="the computation left PyTorch's autograd: `.detach()`, `.item()`, `.tolist()`, `.numpy()`, "
                "`torch.tensor(...)` of computed values, or `with torch.no_grad()` cut the graph.",
            )
        start = time.perf_counter()
        try:
            if self.remote is not None:
                from .remote import call_settings

                with call_settings(time_limit=self.remaining(), item=self.remote.item):
                    result = self.remote.grad([o for o, _ in pairs], inputs, [g for _, g in pairs])
            else:
                with deadline(self.remaining()):
                    result = torch.autograd.grad([o for o, _ in pairs], inputs, [g for _, g in pairs],
                                                 allow_unused=True)
        except TimeLimitExceeded as exc:
            self._budget[0] += time.perf_counter() - start
            self._timeout(exc, case)
        except Exception as exc:
            self._budget[0] += time.perf_counter() - start
            where = student_location(exc, self.student_files)
            where = f"at {where}" if where else ""
            if not where and getattr(exc, "_cs502_forward_where", None):
                where = f"the operation whose backward failed was computed at {exc._cs502_forward_where}"
            if not where and self.remote is None:
                line = self._forward_line(replay)
                where = f"the operation whose backward failed was computed at {line}" if line else ""
            text = str(exc).strip().splitlines()[0].split(" Hint:")[0] if str(exc).strip() else ""
            self.fail(
                f"backpropagation through your output failed with {type(exc).__name__}: {text}",
                case, [where],
                hint_for(str(exc)) or "an operation of your code breaks autograd (an in-place change of a tensor "
                "that is still needed, or a NumPy round trip).",
            )
        self._budget[0] += time.perf_counter() - start
        for name, g in zip(names, result):
            if g is None:
                self.fail(
                    f"no gradient reaches the input `{name}` (it is cut off from your output)",
                    case,
                    cause=f"`{name}` is used through `.detach()`, `.item()`, `.tolist()`, NumPy or `torch.tensor(...)`, "
                    "or not used at all.",
                )
        return list(result)

    def _forward_line(self, replay: Callable[[], None] | None) -> str | None:
        """The student's line whose operation failed in backward, from anomaly mode's forward traceback."""
        if replay is None:
            return None
        import re
        import warnings

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with torch.autograd.detect_anomaly(check_nan=False), deadline(max(self.remaining(), 1.0)):
                    replay()
            except BaseException:  # the failure is expected; anything else is of no use here
                pass
        pattern = re.compile(r'File "(.+?)", line (\d+), in (.+)\n\s*(.*)')
        frames = [m.groups() for w in caught for m in pattern.finditer(str(w.message))]
        files = {os.path.normcase(f) for f in self.student_files}
        mine = [f for f in frames if os.path.normcase(f[0]) in files] or [f for f in frames if not is_library(f[0])]
        if not mine:
            return None
        filename, lineno, name, text = mine[-1]
        return describe_frame(traceback.FrameSummary(filename, int(lineno), name, line=text))

    # ---- behaviour checks --------------------------------------------------------------

    def expect_error(self, fn: Callable, *args, error: type = ValueError, case: str, cause: str, **kwargs) -> None:
        """Check that student code raises ``error`` (for example ValueError on invalid arguments)."""
        def attempt():
            if hasattr(fn, "attempt"):  # student code in the grading worker: it catches there, under its guards
                status, value = fn.attempt(*args, **kwargs)
                return value if status == "error" else None
            try:
                fn(*args, **kwargs)
            except Exception as exc:  # returned, not raised, so that the guards' handling is bypassed
                return exc
            return None

        exc = self.call(attempt, case=case)
        if exc is None:
            self.fail(f"no {error.__name__} was raised", case, cause=cause)
        if not isinstance(exc, error):
            where = student_location(exc, self.student_files)
            self.fail(f"{type(exc).__name__} was raised ({str(exc).strip()[:200]}); expected {error.__name__}",
                      case, [f"at {where}" if where else ""], cause)
        self.cases += 1

    def expect(self, ok: bool, headline: str, case: str, cause: str | None = None, details: Sequence[str] = ()) -> None:
        """Count a behaviour check; fail with ``headline`` and ``cause`` unless ``ok``."""
        if not ok:
            self.fail(headline, case, details, cause)
        self.cases += 1
