"""The engine every check shares: errors, the report, the case runner, the time limit, error attribution.

A check is a function ``body(ctx)`` that builds cases (seeded CPU tensors) and runs
them through :meth:`Context.run_case` or :meth:`Context.call`. :func:`run_check`
runs the body once per device (CPU, then ``meta`` under a strict device guard,
then CUDA when present) and returns a :class:`CheckReport`.

Whatever the student's code does (raises, loops forever, returns a list, NaN, a
tensor on the wrong device, calls a refused built-in), the only exception that
leaves a check is :class:`GradingError`, whose message says what failed, on which
case, expected versus got, and the most likely cause in plain words.
"""

from __future__ import annotations

import ctypes
import html
import math
import os
import signal
import sysconfig
import threading
import time
import traceback
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import torch

from .guards import DelegationRefused, DeviceMismatch, GuardMode, is_stand_in, refuse_python

__all__ = ["GradingError", "CheckReport", "Case", "Context", "run_check", "DEVICE", "DEFAULT_TIME_LIMIT"]

#: Seconds of student-code time allowed per check (all cases and devices together);
#: the environment variable ``CS502_GRADING_TIME_LIMIT`` overrides it.
DEFAULT_TIME_LIMIT = 10.0


class GradingError(AssertionError):
    """A check failed: the message says what, on which case, expected versus got, and the likely cause."""


class _TimeLimitExceeded(BaseException):
    """Raised inside student code when the check's time is up (a BaseException, so ``except Exception`` cannot swallow it)."""


class _MetaUnsupported(Exception):
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


# --------------------------------------------------------------------------- report


@dataclass
class CheckReport:
    """What a passed check did: ``print(report)`` gives one line; Jupyter renders it as a small green box."""

    name: str
    cases: int
    devices: list[str]
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return True

    def __str__(self) -> str:
        """One line: the cases passed, the devices and the seconds (the notes are in ``.notes`` and the HTML)."""
        return f"{self.name} passed: {self.cases} cases on {', '.join(self.devices)} in {self.seconds:.2f} s"

    def __repr__(self) -> str:
        return (
            f"CheckReport(name={self.name!r}, cases={self.cases}, devices={self.devices!r}, "
            f"seconds={self.seconds:.3f}, notes={self.notes!r})"
        )

    def _repr_html_(self) -> str:
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return (
            '<div style="border-left:4px solid #2e7d32;background:#edf7ed;padding:6px 10px;'
            'font-family:sans-serif;color:#1b3d1f">'
            f"<b>&#10004; {html.escape(self.name)} passed</b>: {self.cases} cases on "
            f"{html.escape(', '.join(self.devices))} in {self.seconds:.2f} s"
            + (f'<ul style="margin:4px 0 0 0">{notes}</ul>' if notes else "")
            + "</div>"
        )


# --------------------------------------------------------------------------- time limit


@contextmanager
def _deadline(seconds: float):
    """Raise :class:`_TimeLimitExceeded` in the running code after ``seconds``.

    In the main thread (a script, pytest, a Jupyter kernel) a ``SIGALRM`` timer
    interrupts even a tight ``while True: pass``; elsewhere a watchdog thread
    injects the exception asynchronously. Both are disarmed before returning.
    """
    if seconds <= 0:
        raise _TimeLimitExceeded()
    use_signal = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    if use_signal:
        def _on_alarm(signum, frame):
            raise _TimeLimitExceeded()

        try:
            previous = signal.signal(signal.SIGALRM, _on_alarm)
        except (ValueError, OSError):
            use_signal = False
    if use_signal:
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
        return

    tid = threading.get_ident()
    lock = threading.Lock()
    state = {"active": True, "fired": False}

    def _fire():
        with lock:
            if state["active"]:
                state["fired"] = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid), ctypes.py_object(_TimeLimitExceeded))

    timer = threading.Timer(seconds, _fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            state["active"] = False
            timer.cancel()
            fired = state["fired"]
        if fired:  # clear an exception that may still be pending, then report the timeout ourselves
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid), None)
    if fired:
        raise _TimeLimitExceeded()


# --------------------------------------------------------------------------- error attribution

_TORCH_DIR = os.path.normcase(os.path.dirname(os.path.abspath(torch.__file__))) + os.sep
_CS502_DIR = os.path.normcase(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))) + os.sep
_STD_DIRS = tuple(
    os.path.normcase(p) + os.sep for p in {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"]} if p
)


def _is_library(filename: str) -> bool:
    """Whether a traceback frame belongs to torch, cs502_lib (grader included), the standard library or site-packages."""
    f = os.path.normcase(filename)
    return f.startswith((_TORCH_DIR, _CS502_DIR) + _STD_DIRS) or filename.startswith("<refused")


def _describe_frame(frame: traceback.FrameSummary) -> str:
    name = frame.filename
    if "ipykernel" in name or name.startswith("<ipython-input"):
        where = f"line {frame.lineno} of your notebook cell"
    elif name.startswith("<cell ") and name.endswith(">"):  # a solution cell run by the grading worker
        where = f"line {frame.lineno} of your cell `{name[6:-1]}`"
    else:
        where = f"line {frame.lineno} of {os.path.basename(name)}"
    if frame.name and frame.name != "<module>":
        where += f" (in {frame.name})"
    text = (frame.line or "").strip()
    return f"{where}:  {text}" if text else where


def student_location(exc: BaseException, student_files: Iterable[str]) -> str | None:
    """Where in the student's code ``exc`` came from: the innermost frame of their own files.

    Falls back to the innermost frame outside torch, cs502_lib, the standard
    library and site-packages (a helper in another notebook cell); None if there is none.
    """
    if getattr(exc, "_cs502_where", None):  # located by the grading worker, where the code ran
        return exc._cs502_where
    frames = traceback.extract_tb(exc.__traceback__)
    files = {os.path.normcase(f) for f in student_files}
    chosen = None
    for fr in frames:
        if os.path.normcase(fr.filename) in files:
            chosen = fr
    if chosen is None:
        for fr in frames:
            if not _is_library(fr.filename):
                chosen = fr
    return _describe_frame(chosen) if chosen is not None else None


def source_files(impl: Any) -> set[str]:
    """The files that define ``impl`` (a function, or a class and its own methods)."""
    files: set[str] = set()
    if isinstance(impl, type):
        for cls in impl.__mro__:
            for value in vars(cls).values():
                code = getattr(value, "__code__", None)
                if code is not None and not _is_library(code.co_filename):
                    files.add(code.co_filename)
    else:
        code = getattr(impl, "__code__", None)
        if code is not None:
            files.add(code.co_filename)
    return files


_HINTS = (
    ("view size is not compatible", "an input of this case is not contiguous in memory (a transposed tensor): "
     "`.view` needs contiguous memory, use `.reshape` instead (or `.contiguous().view`)."),
    ("on the same device", "create new tensors on the inputs' device: `torch.ones(n, n, device=x.device)`, "
     "`torch.zeros_like(x)` or `x.new_ones(...)`."),
    ("cannot be multiplied", "the shapes do not fit the matrix product: check which dimensions you multiply "
     "(this case may have Lq != Lk, d_k != d_v or D != H) and which tensor needs a transpose."),
    ("must match the size", "two tensors do not have matching sizes: this case may have Lq != Lk, d_k != d_v or "
     "extra leading batch dimensions; index dimensions from the end (-1, -2) rather than assuming 3-D inputs."),
    ("Bool", "the mask is a torch.bool tensor (True = may attend): use `~mask`, `masked_fill` or `torch.where` "
     "instead of arithmetic such as `1 - mask`."),
    ("bool tensor is not supported", "the mask is a torch.bool tensor (True = may attend): use `~mask`, "
     "`masked_fill` or `torch.where` instead of arithmetic such as `1 - mask`."),
    ("modified by an inplace operation", "an in-place operation (`+=`, `masked_fill_`, `x[...] = ...`, `relu_`) "
     "overwrote a tensor that backpropagation still needs; use the out-of-place form (`masked_fill`, `x = x + y`)."),
    ("leaf Variable that requires grad", "your code modifies one of its inputs in place; work on a new tensor instead."),
    ("must be a 3D tensor", "`torch.bmm` (and `baddbmm`) need exactly 3-D tensors, and this case has no batch "
     "dimension or extra leading batch dimensions: use `@` / `torch.matmul`, which broadcasts over them."),
    ("Dimension out of range", "index dimensions from the end (`transpose(-2, -1)`, `size(-1)`): this case may have "
     "no batch dimension or extra leading batch dimensions."),
    ("too many values to unpack", "check what you unpack: the function returns a tuple whose size the contract fixes."),
    ("not enough values to unpack", "check what you unpack: this case may have extra leading batch dimensions."),
    ("before Module.__init__() call", "call `super().__init__()` first in your `__init__`, before assigning "
     "layers or parameters to `self`."),
    ("uninitialized parameter", "a lazy layer (`nn.LazyLinear`) whose shape is not known yet: the contract asks "
     "for `nn.Linear(d_model, d_model)` with explicit sizes."),
)


def _hint_for(message: str) -> str | None:
    for pattern, hint in _HINTS:
        if pattern in message:
            return hint
    return None


# --------------------------------------------------------------------------- cases and the context


@dataclass
class Case:
    """One call of the student's code: a label for messages, the (CPU) arguments, which get gradients."""

    label: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    grad: tuple[int, ...] = ()  # positions in ``args`` of tensors that get requires_grad
    arg_names: tuple[str, ...] = ()  # names of ``args`` for messages ("q", "k", ...)


def _fmt(x: float) -> str:
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def _type_name(value: Any) -> str:
    if value is None:
        return "None"
    t = type(value)
    if t.__module__ == "numpy":
        return f"a NumPy {t.__name__}"
    return f"a {t.__name__}"


class Context:
    """One run of a check on one device: calls student code under the guards, compares with the reference."""

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
        except _TimeLimitExceeded as exc:
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
                raise _MetaUnsupported(where or "your code") from exc
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
        stack.enter_context(_deadline(self.remaining()))
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
        hint = hint or _hint_for(str(exc))
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
                with _deadline(self.remaining()):
                    result = torch.autograd.grad([o for o, _ in pairs], inputs, [g for _, g in pairs],
                                                 allow_unused=True)
        except _TimeLimitExceeded as exc:
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
                _hint_for(str(exc)) or "an operation of your code breaks autograd (an in-place change of a tensor "
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
                with torch.autograd.detect_anomaly(check_nan=False), _deadline(max(self.remaining(), 1.0)):
                    replay()
            except BaseException:  # the failure is expected; anything else is of no use here
                pass
        pattern = re.compile(r'File "(.+?)", line (\d+), in (.+)\n\s*(.*)')
        frames = [m.groups() for w in caught for m in pattern.finditer(str(w.message))]
        files = {os.path.normcase(f) for f in self.student_files}
        mine = [f for f in frames if os.path.normcase(f[0]) in files] or [f for f in frames if not _is_library(f[0])]
        if not mine:
            return None
        filename, lineno, name, text = mine[-1]
        return _describe_frame(traceback.FrameSummary(filename, int(lineno), name, line=text))

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
                self.fail(f"your code returned {_type_name(got)}; expected {want}", case,
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
                self.fail(f"`{name}` is {_type_name(out)}; expected a torch.Tensor of shape {tuple(exp.shape)}", case,
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


def build_module(ctx: Context, impl: type, ref_cls: type, args: tuple, contract: str):
    """Instantiate the student's class and the reference with the same arguments; copy the reference weights.

    Returns ``(student on ctx.device in eval mode, reference in float64 on the CPU in eval mode)``.
    """
    import copy

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


# --------------------------------------------------------------------------- running a check


def resolve_devices(device: str | torch.device | None) -> list[torch.device]:
    """The devices a check runs on (see the module docs); ``device`` beats ``CS502_GRADING_DEVICE``."""
    if device is None:
        choice = os.environ.get("CS502_GRADING_DEVICE", "auto").strip().lower() or "auto"
    else:
        choice = str(device).strip().lower()
    if choice == "auto":
        devices = [torch.device("cpu"), torch.device("meta")]
        if torch.cuda.is_available():
            devices.append(torch.device("cuda"))
        return devices
    if choice == "cpu":
        return [torch.device("cpu")]
    if choice == "meta":
        return [torch.device("cpu"), torch.device("meta")]
    if choice.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"the grading device {choice!r} was asked for (device= or CS502_GRADING_DEVICE), but CUDA is not "
                "available here; use 'auto' or 'cpu'"
            )
        return [torch.device("cpu"), torch.device(choice)]
    raise ValueError(f"unknown grading device {choice!r}; use 'auto', 'cpu' or 'cuda'")


def _time_limit(value: float | None) -> float:
    if value is not None:
        return float(value)
    env = os.environ.get("CS502_GRADING_TIME_LIMIT")
    if env:
        try:
            return float(env)
        except ValueError:
            raise ValueError(f"CS502_GRADING_TIME_LIMIT must be a number of seconds, got {env!r}") from None
    return DEFAULT_TIME_LIMIT


def run_check(
    name: str,
    impl: Any,
    body: Callable[[Context], None],
    *,
    refused: list,
    device: str | torch.device | None = None,
    time_limit: float | None = None,
    kind: str = "function",
    devices: list[torch.device] | None = None,
) -> CheckReport:
    """Run ``body`` once per device and return the report (or raise GradingError)."""
    check = name if name.startswith(("check_", "hidden tests")) else f"check_{name}"
    limit = _time_limit(time_limit)
    remote = getattr(impl, "_worker", None) if hasattr(impl, "info") else None
    if remote is not None:
        _check_remote_kind(check, impl.info, kind)
    elif kind == "class":
        if not isinstance(impl, type):
            what = f"an instance of {type(impl).__name__}" if isinstance(impl, torch.nn.Module) else _type_name(impl)
            raise GradingError(f"{check} failed: pass your class itself (for example `{check}(MyClass)`), "
                               f"not {what}; the grader builds it at several sizes.")
        if not issubclass(impl, torch.nn.Module):
            raise GradingError(f"{check} failed: {impl.__name__} must be a subclass of torch.nn.Module.")
    elif not callable(impl) or isinstance(impl, type):
        raise GradingError(f"{check} failed: expected your function, got {_type_name(impl)}.")
    devices = devices if devices is not None else resolve_devices(device)
    notes_first = []
    if any(item[0] is impl for item in refused):
        refused = [item for item in refused if item[0] is not impl]
        notes_first.append("this is cs502_lib's reference itself (checked without the delegation rule)")
    start = time.perf_counter()
    budget = [0.0]
    files = source_files(impl)
    if any(d.type == "meta" for d in devices):
        _warm_up()
    total, used, notes = 0, [], notes_first
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the cases are tiny: threads only add overhead (and suffer badly on a busy machine)
    try:
        for dev in devices:
            total += _run_on(check, dev, body, refused, files, budget, limit, used, notes, remote)
    finally:
        torch.set_num_threads(threads)
        if remote is not None:
            try:
                remote.release()
            except Exception:  # a dead worker holds nothing; the next check starts a new one
                pass
    return CheckReport(check, total, used, time.perf_counter() - start, notes)


def _check_remote_kind(check: str, info: dict, kind: str) -> None:
    """The checks of :func:`run_check` on what was passed, for an object that lives in the grading worker."""
    type_name = info.get("type", "object")
    if kind == "class":
        if not info.get("is_class"):
            what = f"an instance of {type_name}" if info.get("module_instance") else f"a {type_name}"
            raise GradingError(f"{check} failed: pass your class itself (for example `{check}(MyClass)`), "
                               f"not {what}; the grader builds it at several sizes.")
        if not info.get("module_class"):
            raise GradingError(f"{check} failed: {info.get('name') or type_name} must be a subclass of torch.nn.Module.")
    elif not info.get("callable") or info.get("is_class"):
        raise GradingError(f"{check} failed: expected your function, got a {type_name}.")


def _is_crash(exc: BaseException) -> bool:
    """Whether ``exc`` says that the process running the student's code ended (never a meta fallback)."""
    return type(exc).__name__ == "WorkerCrashed"


_warm = False


def _warm_up() -> None:
    """Pay PyTorch's one-time costs (meta kernels import torch._dynamo lazily) outside the students' time budget."""
    global _warm
    if _warm:
        return
    try:
        with GuardMode(strict_device=True):
            x = torch.zeros(2, 2, device="meta")
            torch.softmax(torch.tanh(x @ x + 1).masked_fill(x > 0, 0.0), -1)
    except Exception:  # only an optimisation: the checks work without it
        pass
    _warm = True


def _run_on(check, dev, body, refused, files, budget, limit, used, notes, remote=None) -> int:
    """Run the body on one device; a meta run that cannot read values falls back (noted in the report)."""
    ctx = Context(check, dev, refused=refused, student_files=files, budget=budget, time_limit=limit, remote=remote)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            if remote is not None:
                remote.seed(0)
            body(ctx)
        used.append(str(dev))
    except _MetaUnsupported as exc:
        used.append(f"{dev} (fell back)")
        notes.append(
            f"the run on the meta device was skipped: your code cannot run there (it reads tensor values into "
            f"Python, e.g. with .item() or .tolist()) at {exc.where}; that is fine, but tensors created on the "
            "wrong device could not be looked for"
        )
    return ctx.cases
