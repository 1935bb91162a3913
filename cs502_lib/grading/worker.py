"""The worker: the only process of a clean verdict where student code runs.

Started by :class:`cs502_lib.grading.remote.Worker` as ``python -m cs502_lib.grading.worker
READ_FD WRITE_FD`` in a temporary folder, with its output drained and capped by the grader.
It executes the release's setup cell and the student's graded solution cells, then only
answers requests: call this function / class / module on these inputs (under the
delegation guard, the device guard and a time limit), give the gradients of these
outputs, read or load a state dict. Results travel back as plain data
(:mod:`cs502_lib.grading.wire`); the grader compares them and decides the points.

Nothing here is trusted by the grader: student code can change anything in this
process. It can make its own function look right only by computing right outputs (or by
delegating, which the guard refuses and the grader's source scan flags).
"""

from __future__ import annotations

import builtins
import linecache
import os
import re
import sys
import time
import traceback
import warnings

import torch

from . import wire
from .attribution import describe_frame, student_location
from .deadline import TimeLimitExceeded, deadline
from .guards import DelegationRefused, DeviceMismatch, GuardMode, refuse_python, reference_item, torch_refused_modules
from .registry import item as registry_item

CELL_PREFIX = "<cell "


class _Worker:
    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd, self.wfd = rfd, wfd
        self.ns: dict = {"__name__": "__student__", "__builtins__": builtins}
        self.objects: dict[int, object] = {}
        self.pinned: set[int] = set()
        self.next_handle = 1
        self.files: set[str] = set()
        self.produced_by: dict[int, tuple] = {}  # output handle -> (fn, args, kwargs) of the call that made it

    # ---- handles ------------------------------------------------------------------------

    def keep(self, obj) -> int:
        h = self.next_handle
        self.next_handle += 1
        self.objects[h] = obj
        return h

    def describe(self, obj) -> dict:
        t = type(obj)
        return {"h": self.keep(obj), "type": getattr(t, "__name__", "object"), "module": getattr(t, "__module__", ""),
                "module_instance": isinstance(obj, torch.nn.Module), "callable": callable(obj),
                "is_class": isinstance(obj, type),
                "module_class": isinstance(obj, type) and issubclass(obj, torch.nn.Module),
                "name": str(getattr(obj, "__name__", ""))[:80] if isinstance(getattr(obj, "__name__", None), str) else ""}

    def resolve(self, body: dict):
        if "ref" in body:
            h = body["ref"]
            if h not in self.objects:
                raise KeyError(f"unknown handle {h}")
            return self.objects[h]
        raise wire.WireError("objects can only be sent back by handle")

    def encode(self, value, *, keep_tensors: bool = False):
        enc = wire.Encoder(on_object=self.describe, on_tensor=(self.keep if keep_tensors else None), exact=True)
        return enc.encode(value), enc

    def decode(self, value, blob: bytes):
        return wire.decode(value, blob, on_object=self.resolve)

    # ---- replies ------------------------------------------------------------------------

    def reply(self, header: dict, blobs: list[bytes] = ()) -> None:
        wire.write_frame(self.wfd, header, list(blobs))

    def error_info(self, exc: BaseException) -> dict:
        where = student_location(exc, self.files)
        if isinstance(exc, TimeLimitExceeded):
            return {"kind": "timeout", "where": where}
        if isinstance(exc, DelegationRefused):
            return {"kind": "refused", "what": exc.what, "advice": exc.advice, "where": where}
        if isinstance(exc, DeviceMismatch):
            return {"kind": "device", "func_name": exc.func_name, "devices": list(exc.devices), "where": where}
        if isinstance(exc, SystemExit):
            return {"kind": "exit", "code": repr(exc.code)[:100], "where": where}
        try:
            message = str(exc)
        except Exception:  # a student exception whose __str__ fails
            message = ""
        return {"kind": "exception", "type": type(exc).__name__[:80], "message": message[:2000], "where": where,
                "builtin": getattr(builtins, type(exc).__name__, None) is type(exc)}

    # ---- operations ---------------------------------------------------------------------

    def op_init(self, msg: dict, blob: bytes) -> dict:
        torch.set_num_threads(1)
        if "setup" in msg:
            from .run import warm_up

            warm_up()  # PyTorch's one-time costs of the meta device, outside the student's time
        results = []
        setup = [("setup", msg["setup"])] if "setup" in msg else []
        for name, source in setup + [tuple(c) for c in msg.get("cells", [])]:
            filename = f"{CELL_PREFIX}{name}>"
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            if name != "setup":
                self.files.add(filename)
            try:
                code = compile(source, filename, "exec")
                with deadline(float(msg.get("cell_time_limit", 30))):
                    exec(code, self.ns)  # noqa: S102 - this process exists to run student code
                results.append({"name": name, "status": "ok"})
            except BaseException as exc:  # noqa: BLE001 - a cell may raise anything, even SystemExit
                results.append({"name": name, "status": "error", "error": self.error_info(exc)})
        return {"cells": results}

    def op_lookup(self, msg: dict, blob: bytes) -> dict:
        name = msg["name"]
        if name not in self.ns:
            return {"missing": True}
        obj = self.ns[name]
        info = self.describe(obj)
        self.pinned.add(info["h"])
        try:
            ref = registry_item(msg.get("item", name)).reference_object()
            info["is_reference"] = obj is ref
        except Exception:  # noqa: BLE001
            info["is_reference"] = False
        return {"info": info}

    def refused(self, item_name: str | None) -> list:
        items = torch_refused_modules()
        if item_name:
            it = registry_item(item_name)
            items.append(reference_item(it.reference_object(), it.name))
        return items

    def guarded(self, msg: dict, fn, *args, **kwargs):
        """Run ``fn`` as ``ctx.call`` does: guards, deadline; returns (result, error dict or None)."""
        mode = GuardMode(strict_device=bool(msg.get("strict_device")))
        try:
            with torch.set_grad_enabled(bool(msg.get("grad", True))):
                with refuse_python(self.refused(msg.get("item")), mode), mode, deadline(float(msg.get("time_limit", 10))):
                    result = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001
            if mode.violation is not None and not isinstance(exc, (TimeLimitExceeded, SystemExit)):
                exc = mode.violation if isinstance(exc, Exception) else exc
            return None, self.error_info(exc)
        if mode.violation is not None:  # raised, then swallowed by the student's own try/except
            return None, self.error_info(mode.violation)
        return result, None

    def op_call(self, msg: dict, blob: bytes):
        fn = self.resolve(msg["fn"])
        args = self.decode(msg.get("args", {"T": []}), blob)
        kwargs = self.decode(msg.get("kwargs", {"D": []}), blob)
        tensors = {i: a for i, a in enumerate(args) if isinstance(a, torch.Tensor)}
        for a in tensors.values():  # the grader may ask for gradients with respect to them
            a._cs502_handle = self.keep(a)
        snapshots = {i: a.detach().clone() for i, a in tensors.items() if a.device.type != "meta"}
        if msg.get("catch"):
            def attempt():
                try:
                    return ("ok", fn(*args, **kwargs))
                except Exception as exc:  # noqa: BLE001 - returned so that the grader can name a cause
                    return ("error", exc)
            result, error = self.guarded(msg, attempt)
            if error is None and result[0] == "error":
                return {"raised": self.error_info(result[1])}, []
            if error is None:
                result = result[1]
        else:
            result, error = self.guarded(msg, fn, *args, **kwargs)
        if error is not None:
            return {"error": error}, []
        header, enc = self.encode(result, keep_tensors=True)
        for value in (result if isinstance(result, tuple) else (result,)):
            if isinstance(value, torch.Tensor):
                self.produced_by[id(value)] = (fn, msg, blob)
        changed = {}
        for i, snap in snapshots.items():
            now = tensors[i].detach()
            if now.shape != snap.shape or not torch.equal(now, snap):
                changed[str(i)] = enc.encode(now)
        handles = {str(i): getattr(a, "_cs502_handle", None) for i, a in tensors.items()}
        return {"result": header, "changed": changed, "arg_handles": handles}, enc.blobs

    def op_grad(self, msg: dict, blob: bytes):
        outputs = [self.objects[h] for h in msg["outputs"]]
        inputs = [self.objects[h] for h in msg["inputs"]]
        grads = self.decode(msg["grads"], blob)
        try:
            with deadline(float(msg.get("time_limit", 10))):
                result = torch.autograd.grad(outputs, inputs, list(grads), allow_unused=True)
        except BaseException as exc:  # noqa: BLE001
            info = self.error_info(exc)
            if info.get("kind") == "exception" and not info.get("where"):
                info["forward_where"] = self.forward_line(outputs[0], list(grads)[0])
            return {"error": info}, []
        header, enc = self.encode(list(result))
        return {"result": header}, enc.blobs

    def forward_line(self, output, grad) -> str | None:
        """The student's line whose operation failed in backward (replayed under anomaly mode)."""
        made = self.produced_by.get(id(output))
        if made is None:
            return None
        fn, msg, blob = made
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                args = self.decode(msg.get("args", {"T": []}), blob)
                kwargs = self.decode(msg.get("kwargs", {"D": []}), blob)
                with torch.autograd.detect_anomaly(check_nan=False), deadline(5.0):
                    out = fn(*args, **kwargs)
                    out = out[0] if isinstance(out, tuple) else out
                    leaves = [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad]
                    torch.autograd.grad([out], leaves or [out], allow_unused=True,
                                        grad_outputs=[torch.ones_like(out)])
            except BaseException:  # noqa: BLE001 - the failure is expected
                pass
        pattern = re.compile(r'File "(.+?)", line (\d+), in (.+)\n\s*(.*)')
        frames = [m.groups() for w in caught for m in pattern.finditer(str(w.message))]
        mine = [f for f in frames if f[0] in self.files]
        if not mine:
            return None
        filename, lineno, name, text = mine[-1]
        return describe_frame(traceback.FrameSummary(filename, int(lineno), name, line=text))

    def op_module(self, msg: dict, blob: bytes):
        module = self.resolve(msg["module"])
        op = msg["what"]
        if op == "state_dict":
            result, error = self.guarded(msg, lambda: dict(module.state_dict()))
        elif op == "load_state_dict":
            state = self.decode(msg["state"], blob)
            result, error = self.guarded(msg, lambda: (module.load_state_dict(state, strict=False), None)[1])
        elif op in ("eval", "train", "double", "float"):
            result, error = self.guarded(msg, lambda: (getattr(module, op)(), None)[1])
        elif op == "to":
            device = self.decode(msg["device"], blob)
            result, error = self.guarded(msg, lambda: (module.to(device), None)[1])
        elif op == "param_grads":
            outputs = [self.objects[h] for h in msg["outputs"]]
            grads = list(self.decode(msg["grads"], blob))

            def run():
                named = list(module.named_parameters())
                got = torch.autograd.grad(outputs, [p for _, p in named], grads, allow_unused=True)
                return {n: g for (n, _), g in zip(named, got)}
            result, error = self.guarded(msg, run)
        else:
            raise ValueError(f"unknown module operation {op!r}")
        if error is not None:
            return {"error": error}, []
        header, enc = self.encode(result)
        return {"result": header}, enc.blobs

    def op_seed(self, msg: dict, blob: bytes) -> dict:
        torch.manual_seed(int(msg.get("seed", 0)))
        return {}

    def op_release(self, msg: dict, blob: bytes) -> dict:
        self.objects = {h: o for h, o in self.objects.items() if h in self.pinned}
        self.produced_by.clear()
        return {}

    def op_scan(self, msg: dict, blob: bytes) -> dict:
        from .tampering import tampering

        return {"tampering": [list(f) for f in tampering()][:50]}

    # ---- loop ---------------------------------------------------------------------------

    def serve(self) -> None:
        while True:
            try:
                msg, blob = wire.read_frame(self.rfd)
            except EOFError:
                return
            op = msg.get("op")
            if op == "exit":
                return
            handler = getattr(self, f"op_{op}", None)
            try:
                if handler is None:
                    raise ValueError(f"unknown operation {op!r}")
                out = handler(msg, blob)
                header, blobs = out if isinstance(out, tuple) else (out, [])
                header["ok"] = True
                self.reply(header, blobs)
            except BaseException as exc:  # noqa: BLE001 - report, keep serving
                try:
                    self.reply({"ok": False, "internal": f"{type(exc).__name__}: {exc}"[:2000]})
                except BaseException:  # noqa: BLE001
                    return


def main(argv: list[str]) -> int:
    rfd, wfd = int(argv[0]), int(argv[1])
    os.set_inheritable(rfd, False)
    os.set_inheritable(wfd, False)
    started = time.perf_counter()
    worker = _Worker(rfd, wfd)
    worker.reply({"ok": True, "ready": True, "pid": os.getpid(), "startup_s": time.perf_counter() - started})
    worker.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
