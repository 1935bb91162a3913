"""What the test cells of the assignments call: run a grading check on a fresh, untampered grader.

A test cell of an assignment notebook reads::

    import importlib, cs502_lib.testcell
    importlib.reload(cs502_lib.testcell).grade("causal_mask", causal_mask)

:func:`grade` runs ``cs502_lib.grading.check_causal_mask`` on the student's function
and prints its one-line :class:`~cs502_lib.grading.CheckReport`, or raises :class:`~cs502_lib.grading.GradingError` with the check's message
only (no traceback through the grader).

Because a notebook can change any Python object, the grader is protected here, in
the one module every test cell reloads from disk:

1. **Tampering is detected.** Every function reachable from a ``cs502_lib`` module
   (and from ``torch``, ``torch.nn.functional``, ``torch.Tensor``, ``torch.nn.Module``,
   ``torch.overrides``, ``math`` and ``builtins``) must still be code from those
   packages' own files; a replaced ``check_*``, a patched ``run_check``, a reference
   swapped for the student's own function, a ``torch.allclose = lambda *a, **k: True``
   is found, and the checks it touches fail with "the grading code was modified"
   (a replaced ``check_x`` touches check ``x`` only; anything else touches every check).
2. **The grader is re-executed from its files** (``importlib.reload`` of every
   ``cs502_lib.grading`` module, engine first), so changed constants or tables
   (a longer time limit, an emptied list of refused built-ins) are restored.
"""

from __future__ import annotations

import importlib
import sys
import types
from contextlib import contextmanager

__all__ = ["grade", "grade_hidden", "untouched", "time_limit", "tampering", "CHECKS"]

#: Graded name -> the name of its check in :mod:`cs502_lib.grading` (from the registry of graded items).
from cs502_lib.grading.registry import CHECKS  # noqa: E402
from cs502_lib.grading.deadline import TimeLimitExceeded, deadline  # noqa: E402 - the checks' own time limit

import cs502_lib.grading.tampering as _tampering_module  # noqa: E402 - one owner of the scan, shared with the worker

# re-executed from its file with this module, so that a notebook cannot have replaced the scan itself
tampering = importlib.reload(_tampering_module).tampering

def _seen_tampering() -> list[tuple[str, str]]:
    """Every tampering found so far in this kernel, current or already undone by a reload.

    Kept on the ``cs502_lib`` package (which is never reloaded): once a check's code was
    found replaced, that check does not count again until the kernel restarts.
    """
    import cs502_lib

    seen = cs502_lib.__dict__.setdefault("_testcell_tampering", [])
    for finding in tampering():
        if finding not in seen:
            seen.append(finding)
    return list(seen)


def _touches(finding: tuple[str, str], check_name: str) -> bool:
    """A replaced ``check_x`` touches check ``x`` only; any other change touches every check."""
    _, attr = finding
    if attr.startswith("check_") and attr in CHECKS.values():
        return attr == check_name
    return True


def _fresh_grading():
    """Re-execute every loaded ``cs502_lib.grading`` module from its file, the engine first."""
    import cs502_lib.grading  # noqa: F401 - loads the package if the notebook has not

    engine = ["registry", "guards", "report", "deadline", "attribution", "calls", "context", "modules", "run", "catalog",
              "hidden"]
    order = [f"cs502_lib.grading.{name}" for name in engine]  # each after the modules it imports from
    loaded = sorted(n for n in sys.modules if n.startswith("cs502_lib.grading.") and n not in order)
    for name in order + loaded + ["cs502_lib.grading"]:
        module = sys.modules.get(name)
        if isinstance(module, types.ModuleType):
            importlib.reload(module)
    return sys.modules["cs502_lib.grading"]


def grade(name: str, impl: object, *, device=None, show: bool = True):
    """Run the check of the graded ``name`` on the student's ``impl``; print its report (or return it).

    With ``show=True`` (the test cells) the one-line report is printed and nothing is returned:
    nbgrader reads a test cell's displayed *value* as partial credit, so a test cell shows text only.
    With ``show=False`` the :class:`~cs502_lib.grading.CheckReport` is returned.

    Raises:
        GradingError: the check failed (its message says what, on which case and why), or the
            grading code was modified in this notebook.
    """
    return _run(name, impl, hidden=False, device=device, show=show)


def grade_hidden(name: str, impl: object, *, show: bool = True):
    """Run the hidden tests of the graded ``name`` (its suite ``hidden_<name>``, next to its check) on ``impl``,
    as :func:`grade`."""
    return _run(name, impl, hidden=True, device=None, show=show)


def _run(name: str, impl: object, *, hidden: bool, device, show: bool):
    if name not in CHECKS:
        raise KeyError(f"no check for {name!r}; graded names: {', '.join(CHECKS)}")
    check_name = CHECKS[name]
    what = f"the hidden tests of {name}" if hidden else check_name
    touched = [f for f in _seen_tampering() if _touches(f, check_name)]
    grading = _fresh_grading()
    error_cls = grading.GradingError
    if touched:
        where = ", ".join(f"{w}.{a}" for w, a in touched[:5]) + (" and more" if len(touched) > 5 else "")
        raise error_cls(
            f"{what} did not run: the grading code was modified in this notebook ({where} was replaced). "
            "Checks only count when they run unchanged; remove the code that patches cs502_lib or torch, "
            "restart the kernel and run all cells again."
        ) from None
    import cs502_lib

    if impl is not None and impl is getattr(cs502_lib, name, None):
        raise error_cls(
            f"{what} did not run on cs502_lib's own {name}: this exercise asks you to write {name} yourself "
            "(the references of the *other* exercises may be used as building blocks)."
        )
    if hidden:
        import cs502_lib.grading.hidden as hidden_suites

        run = lambda: hidden_suites.run_hidden(name, impl)  # noqa: E731
    else:
        check = getattr(grading, check_name, None)
        if check is None:
            raise error_cls(f"{check_name} is not available in this version of cs502_lib; update the course package.")
        run = lambda: check(impl, device=device)  # noqa: E731
    try:
        report = run()
    except error_cls as exc:
        message = str(exc)
    else:
        if not show:
            return report
        print(report)
        return None
    raise error_cls(message) from None  # the message only, not a traceback through the grader


def untouched(name: str | None = None) -> None:
    """Raise AssertionError when anything the tests of ``name`` rely on was replaced (anything at all if None).

    The hidden tests call it first: their plain asserts rely on torch being torch. A replaced
    ``check_x`` only concerns the tests of ``x``.
    """
    check_name = CHECKS.get(name, "") if name else ""
    found = [f for f in _seen_tampering() if not check_name or _touches(f, check_name)]
    if found:
        where = ", ".join(f"{w}.{a}" for w, a in found[:5])
        raise AssertionError(
            f"the grading code was modified in this notebook ({where} was replaced); tests only count when "
            "they run unchanged. Remove the code that patches cs502_lib or torch."
        )


@contextmanager
def time_limit(seconds: float = 10.0, what: str = "this test"):
    """Stop the code inside after ``seconds`` with an AssertionError (an infinite loop costs one test only).

    The checks' own deadline (:func:`cs502_lib.grading.deadline.deadline`): a ``SIGALRM`` timer in the
    main thread (a notebook cell, a script), a watchdog thread elsewhere.
    """
    try:
        with deadline(seconds):
            yield
    except TimeLimitExceeded:
        raise AssertionError(
            f"{what} did not finish within {seconds:g} s: your code is far too slow or never ends "
            "(look for a loop whose condition never becomes false)."
        ) from None
