"""The grader's side of a clean verdict: a sandboxed worker process and proxies of its objects.

:class:`Worker` starts ``python -m cs502_lib.grading.worker`` in a temporary folder with a
time limit per request, a memory limit (resident memory polled by the grader, the worker
killed above it), its standard output and error drained and capped, and a fresh start
after it dies. :class:`RemoteObject` stands for a function, class or module that lives
in the worker: the checks call it like the real thing (``ctx.call(proxy, ...)``,
``build_module``), each call becomes a request, and the answer comes back as plain data.
Exceptions of student code come back as the same exception types the checks already
handle (a builtin exception type, or a stand-in class with the student's type name;
``TimeLimitExceeded``, ``DelegationRefused``, ``DeviceMismatch``, ``SystemExit``), each
with the worker's ``where`` (the student's line).
"""

from __future__ import annotations

import builtins
import contextvars
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any

import torch

from . import wire
from .deadline import TimeLimitExceeded
from .guards import DelegationRefused, DeviceMismatch

__all__ = ["Worker", "RemoteObject", "RemoteModule", "WorkerCrashed", "RemoteError", "is_remote", "call_settings"]

#: Seconds a request may run beyond the student's time limit before the worker is killed.
GRACE = 5.0


class WorkerCrashed(Exception):
    """The worker ended while running student code (os._exit, a crash, killed for memory or time)."""


class RemoteError(Exception):
    """Stand-in for an exception class of the student's own (its name is the student's class name)."""


@dataclass
class CallSettings:
    strict_device: bool = False
    time_limit: float = 10.0
    item: str | None = None


_settings: contextvars.ContextVar[CallSettings | None] = contextvars.ContextVar("cs502_remote_settings", default=None)


class call_settings:
    """``with call_settings(...)``: the guards and time limit that the requests inside use."""

    def __init__(self, **kwargs) -> None:
        self.value = CallSettings(**kwargs)

    def __enter__(self):
        self.token = _settings.set(self.value)
        return self.value

    def __exit__(self, *exc):
        _settings.reset(self.token)


def is_remote(obj: Any) -> bool:
    return isinstance(obj, (RemoteObject, RemoteModule))


def _rebuild_exception(info: dict) -> BaseException:
    kind = info.get("kind")
    where = info.get("where")
    if kind == "timeout":
        exc: BaseException = TimeLimitExceeded()
    elif kind == "refused":
        exc = DelegationRefused(str(info.get("what", "a refused function")), str(info.get("advice", "")))
    elif kind == "device":
        exc = DeviceMismatch(str(info.get("func_name", "an operation")), [str(d) for d in info.get("devices", [])])
    elif kind == "exit":
        exc = SystemExit(info.get("code"))
    else:
        name = str(info.get("type", "Exception"))
        cls = getattr(builtins, name, None) if info.get("builtin") else None
        if not (isinstance(cls, type) and issubclass(cls, Exception)):
            cls = type(name if name.isidentifier() else "StudentException", (RemoteError,), {"__module__": "student"})
        try:
            exc = cls(str(info.get("message", "")))
        except Exception:  # a builtin exception that wants other arguments (UnicodeError subclasses)
            exc = RemoteError(f"{name}: {info.get('message', '')}")
    exc._cs502_where = where
    if info.get("forward_where"):
        exc._cs502_forward_where = info["forward_where"]
    return exc


class Worker:
    """A worker process that holds the student's cells; restarted (cells re-run) after it dies."""

    def __init__(self, setup: str, cells: list[tuple[str, str]], *, memory_mb: int = 3072,
                 output_cap: int = 64_000, cell_time_limit: float = 30.0, device: str | None = None) -> None:
        self.setup, self.cells = setup, list(cells)
        self.memory_mb, self.output_cap, self.cell_time_limit = memory_mb, output_cap, cell_time_limit
        self.device = device
        self.proc: subprocess.Popen | None = None
        self.output = bytearray()
        self.dropped = 0
        self.cell_results: list[dict] = []
        self.starts = 0
        self.item: str | None = None
        self._tmp: str | None = None

    # ---- process ------------------------------------------------------------------------

    def _drain(self, stream) -> None:
        while True:
            chunk = stream.read(4096)
            if not chunk:
                return
            room = self.output_cap - len(self.output)
            if room > 0:
                self.output += chunk[:room]
            self.dropped += max(0, len(chunk) - max(room, 0))

    def start(self) -> list[dict]:
        """Start the process and run the cells one by one; returns each cell's outcome.

        A cell that ends the process (``os._exit``, a crash, a memory bomb) is left out and the
        process started again without it; its outcome says so.
        """
        dropped: list[dict] = []
        while True:
            self._spawn()
            results = self._run_cell("setup", self.setup, setup=True)
            crashed = None
            for name, source in self.cells:
                try:
                    results += self._run_cell(name, source)
                except (WorkerCrashed, TimeLimitExceeded) as exc:
                    message = str(exc) if isinstance(exc, WorkerCrashed) else "the cell did not finish in time"
                    crashed = {"name": name, "status": "error", "error": {"kind": "crash", "message": message}}
                    break
            if crashed is None:
                self.cell_results = results + dropped
                return self.cell_results
            dropped.append(crashed)
            self.cells = [c for c in self.cells if c[0] != crashed["name"]]

    def _run_cell(self, name: str, source: str, *, setup: bool = False) -> list[dict]:
        msg = {"op": "init", "cell_time_limit": self.cell_time_limit}
        msg.update({"setup": source, "cells": []} if setup else {"cells": [[name, source]]})
        reply, _ = self.request(msg, timeout=self.cell_time_limit + 30, restart=False)
        return reply.get("cells", []) if not setup else []

    def _spawn(self) -> None:
        self.close()
        self.starts += 1
        self._tmp = tempfile.mkdtemp(prefix="cs502_worker_")
        to_worker_r, to_worker_w = os.pipe()
        from_worker_r, from_worker_w = os.pipe()
        env = {k: v for k, v in os.environ.items()
               if k in ("PATH", "LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES", "PYTHONHASHSEED", "LD_LIBRARY_PATH")}
        env.update(HOME=self._tmp, TMPDIR=self._tmp, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg")
        pkg_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = pkg_root
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cs502_lib.grading.worker", str(to_worker_r), str(from_worker_w)],
            cwd=self._tmp, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            pass_fds=(to_worker_r, from_worker_w), start_new_session=True)
        os.close(to_worker_r)
        os.close(from_worker_w)
        self._w, self._r = to_worker_w, from_worker_r
        threading.Thread(target=self._drain, args=(self.proc.stdout,), daemon=True).start()
        ready, _ = self._wait_reply(120.0)
        if not ready.get("ready"):
            raise WorkerCrashed("the worker did not start")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    os.write(self._w, b"")
                except OSError:
                    pass
                try:
                    os.killpg(self.proc.pid, 9)
                except (ProcessLookupError, PermissionError):
                    pass
            self.proc.wait()
            for fd in (self._w, self._r):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.proc = None
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _rss_mb(self) -> float:
        try:
            with open(f"/proc/{self.proc.pid}/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (OSError, ValueError, IndexError):
            return 0.0

    def _wait_reply(self, timeout: float) -> tuple[dict, bytes]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise TimeLimitExceeded()
            ready, _, _ = select.select([self._r], [], [], min(left, 0.05))
            if ready:
                try:
                    return wire.read_frame(self._r)
                except (EOFError, OSError, wire.WireError, ValueError) as exc:
                    code = self.proc.wait() if self.proc is not None else None
                    self.close()
                    how = f"it exited with status {code}" if code is not None and code >= 0 else \
                        f"it was killed by signal {-code}" if code is not None else "it stopped"
                    if isinstance(exc, wire.WireError):
                        how = f"it sent a reply that is not valid ({exc})"
                    raise WorkerCrashed(f"the Python process running your code ended ({how}): os._exit, sys.exit "
                                        "outside a function, or a crash") from None
            if self.memory_mb and self._rss_mb() > self.memory_mb:
                self.close()
                raise WorkerCrashed(f"your code used more than {self.memory_mb} MB of memory and was stopped")
            if self.proc is not None and self.proc.poll() is not None and not select.select([self._r], [], [], 0)[0]:
                code = self.proc.returncode
                self.close()
                raise WorkerCrashed(f"the Python process running your code ended (exit status {code}): os._exit, "
                                    "sys.exit outside a function, or a crash")

    def request(self, msg: dict, blobs: list[bytes] = (), *, timeout: float, restart: bool = True) -> tuple[dict, bytes]:
        if not self.alive():
            if not restart:
                raise WorkerCrashed("the worker is not running")
            self.start()
        try:
            wire.write_frame(self._w, msg, list(blobs))
        except OSError:
            self.close()
            raise WorkerCrashed("the Python process running your code ended") from None
        reply, blob = self._wait_reply(timeout)
        if not reply.get("ok"):
            raise RuntimeError(f"the grading worker failed: {reply.get('internal', 'no reason given')}")
        return reply, blob

    # ---- objects ------------------------------------------------------------------------

    def lookup(self, name: str, item: str | None = None) -> dict | None:
        reply, _ = self.request({"op": "lookup", "name": name, "item": item or name}, timeout=30)
        return None if reply.get("missing") else reply["info"]

    def proxy(self, name: str, item: str | None = None) -> "RemoteObject | None":
        """A proxy of the student's top-level ``name`` (None if the cells did not define it)."""
        info = self.lookup(name, item)
        return None if info is None else RemoteObject(self, info, name=name)

    def seed(self, seed: int) -> None:
        self.request({"op": "seed", "seed": seed}, timeout=30)

    def release(self) -> None:
        if self.alive():
            self.request({"op": "release"}, timeout=30)

    def tampering(self) -> list[list[str]]:
        reply, _ = self.request({"op": "scan"}, timeout=60)
        return reply.get("tampering", [])

    def _settings(self) -> CallSettings:
        return _settings.get() or CallSettings(item=self.item)

    def encode_args(self, values: Any) -> tuple[Any, list[bytes]]:
        def on_object(obj):
            if is_remote(obj) and obj._worker is self:
                return obj._ref()
            raise wire.WireError(f"cannot send a {type(obj).__name__} to the worker")

        enc = wire.Encoder(on_object=on_object)
        return enc.encode(values), enc.blobs

    def decode(self, value: Any, blob: bytes) -> Any:
        def on_object(body):
            if body.get("module_instance"):
                return RemoteModule(self, body)
            return RemoteObject(self, body)

        def on_tensor(t, handle):
            if handle is not None:
                t._cs502_remote = (self, self.starts, handle)

        return wire.decode(value, blob, on_object=on_object, on_tensor=on_tensor)

    def call(self, ref: dict, args: tuple, kwargs: dict, *, catch: bool = False):
        s = self._settings()
        (args_j, kwargs_j), blobs = self._encode_pair(args, kwargs)
        msg = {"op": "call", "fn": ref, "args": args_j, "kwargs": kwargs_j, "grad": torch.is_grad_enabled(),
               "strict_device": s.strict_device, "time_limit": max(s.time_limit, 0.01), "item": s.item,
               "catch": catch}
        reply, blob = self.request(msg, blobs, timeout=max(s.time_limit, 0.01) + GRACE)
        if "error" in reply:
            raise _rebuild_exception(reply["error"])
        for key, handle in reply.get("arg_handles", {}).items():
            i = int(key)
            if i < len(args) and isinstance(args[i], torch.Tensor) and handle is not None:
                args[i]._cs502_remote = (self, self.starts, handle)
        for key, value in reply.get("changed", {}).items():
            i = int(key)
            new = wire.decode(value, blob)
            if i < len(args) and isinstance(args[i], torch.Tensor) and new.shape == args[i].shape:
                with torch.no_grad():
                    args[i].copy_(new.to(args[i].device))
        if "raised" in reply:
            return ("error", _rebuild_exception(reply["raised"]))
        result = self.decode(reply["result"], blob)
        return ("ok", result) if catch else result

    def _encode_pair(self, args, kwargs):
        enc_args, blobs = self.encode_args((tuple(args), dict(kwargs)))
        return (enc_args["T"][0], enc_args["T"][1]), blobs

    def handle_of(self, t: torch.Tensor) -> int:
        info = getattr(t, "_cs502_remote", None)
        if info is None or info[0] is not self or info[1] != self.starts:
            raise WorkerCrashed("a tensor of an earlier worker run (the worker was restarted)")
        return info[2]

    def grad(self, outputs: list[torch.Tensor], inputs: list[torch.Tensor], grads: list[torch.Tensor]) -> list:
        s = self._settings()
        enc = wire.Encoder()
        grads_j = enc.encode(tuple(grads))
        msg = {"op": "grad", "outputs": [self.handle_of(o) for o in outputs],
               "inputs": [self.handle_of(i) for i in inputs], "grads": grads_j, "time_limit": max(s.time_limit, 0.01)}
        reply, blob = self.request(msg, enc.blobs, timeout=max(s.time_limit, 0.01) + GRACE)
        if "error" in reply:
            raise _rebuild_exception(reply["error"])
        return self.decode(reply["result"], blob)

    def module_op(self, ref: dict, what: str, **extra) -> Any:
        s = self._settings()
        enc = wire.Encoder()
        msg = {"op": "module", "module": ref, "what": what, "strict_device": False, "item": s.item,
               "time_limit": max(min(s.time_limit, 10.0), 0.5), "grad": torch.is_grad_enabled()}
        for key, value in extra.items():
            msg[key] = enc.encode(value) if key != "outputs" else value
        reply, blob = self.request(msg, enc.blobs, timeout=max(min(s.time_limit, 10.0), 0.5) + GRACE)
        if "error" in reply:
            raise _rebuild_exception(reply["error"])
        return self.decode(reply["result"], blob)


class RemoteObject:
    """A function, class or other object of the student's, living in the worker."""

    def __init__(self, worker: Worker, info: dict, name: str | None = None) -> None:
        self._worker, self._info, self._name = worker, info, name
        self._start = worker.starts
        self.__name__ = info.get("name") or name or info.get("type", "object")
        self.__qualname__ = self.__name__

    def _ref(self) -> dict:
        if self._start != self._worker.starts or not self._worker.alive():
            if self._name is None:
                raise WorkerCrashed("an object of an earlier worker run (the worker was restarted)")
            if not self._worker.alive():
                self._worker.start()
            info = self._worker.lookup(self._name, self._worker.item)
            if info is None:
                raise NameError(f"name {self._name!r} is not defined")
            self._info, self._start = info, self._worker.starts
        return {"ref": self._info["h"]}

    @property
    def info(self) -> dict:
        return self._info

    def __call__(self, *args, **kwargs):
        return self._worker.call(self._ref(), args, kwargs)

    def attempt(self, *args, **kwargs):
        """``("ok", result)`` or ``("error", exception)``: an exception of the student's code is returned."""
        return self._worker.call(self._ref(), args, kwargs, catch=True)

    def __repr__(self) -> str:
        return f"<{self._info.get('type', 'object')} {self.__name__} in the grading worker>"


class RemoteModule(torch.nn.Module):
    """An ``nn.Module`` instance of the student's, living in the worker (the methods the checks use)."""

    def __init__(self, worker: Worker, info: dict) -> None:
        super().__init__()
        object.__setattr__(self, "_worker", worker)
        object.__setattr__(self, "_info", info)
        object.__setattr__(self, "_start", worker.starts)

    def _ref(self) -> dict:
        if self._start != self._worker.starts:
            raise WorkerCrashed("a module of an earlier worker run (the worker was restarted)")
        return {"ref": self._info["h"]}

    def __call__(self, *args, **kwargs):
        return self._worker.call(self._ref(), args, kwargs)

    forward = __call__

    def state_dict(self, *args, **kwargs):
        return self._worker.module_op(self._ref(), "state_dict")

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        self._worker.module_op(self._ref(), "load_state_dict", state=dict(state_dict))
        return None

    def eval(self):
        self._worker.module_op(self._ref(), "eval")
        return self

    def train(self, mode: bool = True):
        self._worker.module_op(self._ref(), "train" if mode else "eval")
        return self

    def double(self):
        self._worker.module_op(self._ref(), "double")
        return self

    def float(self):
        self._worker.module_op(self._ref(), "float")
        return self

    def to(self, *args, **kwargs):
        device = kwargs.get("device", args[0] if args else None)
        self._worker.module_op(self._ref(), "to", device=torch.device(device))
        return self

    def param_grads(self, outputs: list[torch.Tensor], grads: list[torch.Tensor]) -> dict:
        """name -> gradient (or None) of every parameter, for ``sum(output * grad)``."""
        return self._worker.module_op(self._ref(), "param_grads", outputs=[self._worker.handle_of(o) for o in outputs],
                                      grads=tuple(grads))

    def __repr__(self) -> str:
        return f"<{self._info.get('type', 'Module')} instance in the grading worker>"
