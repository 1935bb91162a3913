"""Running a check: :func:`run_check` runs a check's body once per device and returns the report.

A check is a function ``body(ctx)`` that builds cases (seeded CPU tensors) and runs
them through :meth:`~.context.Context.run_case` or :meth:`~.calls.CallContext.call`.
:func:`run_check` runs the body once per device (CPU, then ``meta`` under a strict
device guard, then CUDA when present) and returns a :class:`~.report.CheckReport`.

Whatever the student's code does (raises, loops forever, returns a list, NaN, a
tensor on the wrong device, calls a refused built-in), the only exception that
leaves a check is :class:`~.report.GradingError`, whose message says what failed, on
which case, expected versus got, and the most likely cause in plain words.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

import torch

from .attribution import source_files
from .calls import MetaUnsupported, type_name
from .context import Context
from .guards import GuardMode
from .report import CheckReport, GradingError

__all__ = ["run_check", "resolve_devices", "warm_up", "DEFAULT_TIME_LIMIT"]

#: Seconds of student-code time allowed per check (all cases and devices together);
#: the environment variable ``CS502_GRADING_TIME_LIMIT`` overrides it.
DEFAULT_TIME_LIMIT = 10.0


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
            what = f"an instance of {type(impl).__name__}" if isinstance(impl, torch.nn.Module) else type_name(impl)
            raise GradingError(f"{check} failed: pass your class itself (for example `{check}(MyClass)`), "
                               f"not {what}; the grader builds it at several sizes.")
        if not issubclass(impl, torch.nn.Module):
            raise GradingError(f"{check} failed: {impl.__name__} must be a subclass of torch.nn.Module.")
    elif not callable(impl) or isinstance(impl, type):
        raise GradingError(f"{check} failed: expected your function, got {type_name(impl)}.")
    devices = devices if devices is not None else resolve_devices(device)
    notes_first = []
    if any(item[0] is impl for item in refused):
        refused = [item for item in refused if item[0] is not impl]
        notes_first.append("this is cs502_lib's reference itself (checked without the delegation rule)")
    start = time.perf_counter()
    budget = [0.0]
    files = source_files(impl)
    if any(d.type == "meta" for d in devices):
        warm_up()
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
    their_type = info.get("type", "object")
    if kind == "class":
        if not info.get("is_class"):
            what = f"an instance of {their_type}" if info.get("module_instance") else f"a {their_type}"
            raise GradingError(f"{check} failed: pass your class itself (for example `{check}(MyClass)`), "
                               f"not {what}; the grader builds it at several sizes.")
        if not info.get("module_class"):
            raise GradingError(f"{check} failed: {info.get('name') or their_type} must be a subclass of torch.nn.Module.")
    elif not info.get("callable") or info.get("is_class"):
        raise GradingError(f"{check} failed: expected your function, got a {their_type}.")


_warm = False


def warm_up() -> None:
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
    except MetaUnsupported as exc:
        used.append(f"{dev} (fell back)")
        notes.append(
            f"the run on the meta device was skipped: your code cannot run there (it reads tensor values into "
            f"Python, e.g. with .item() or .tolist()) at {exc.where}; that is fine, but tensors created on the "
            "wrong device could not be looked for"
        )
    return ctx.cases
