"""The time limit on student code: :func:`deadline` raises :class:`TimeLimitExceeded` inside it when time is up.

The checks (:mod:`.calls`), the grading worker (:mod:`.worker`) and the test cells'
:func:`cs502_lib.testcell.time_limit` share it.
"""

from __future__ import annotations

import ctypes
import signal
import threading
from contextlib import contextmanager

__all__ = ["TimeLimitExceeded", "deadline"]


class TimeLimitExceeded(BaseException):
    """Raised inside student code when the check's time is up (a BaseException, so ``except Exception`` cannot swallow it)."""


@contextmanager
def deadline(seconds: float):
    """Raise :class:`TimeLimitExceeded` in the running code after ``seconds``.

    In the main thread (a script, pytest, a Jupyter kernel) a ``SIGALRM`` timer
    interrupts even a tight ``while True: pass``; elsewhere a watchdog thread
    injects the exception asynchronously. Both are disarmed before returning.
    """
    if seconds <= 0:
        raise TimeLimitExceeded()
    use_signal = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    if use_signal:
        def _on_alarm(signum, frame):
            raise TimeLimitExceeded()

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
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid), ctypes.py_object(TimeLimitExceeded))

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
        raise TimeLimitExceeded()
