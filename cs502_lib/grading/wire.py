"""The wire format between the grader and the worker that runs student code (no pickle, ever).

A message is one frame: an 8-byte header length, an 8-byte blob length, a JSON header and
the binary blobs (tensor and array data) that the header points into. Decoding builds
plain values only (None, bool, int, float, str, tuple, list, dict, tensors, NumPy arrays of
plain dtypes, devices, dtypes, generators), so reading what a worker sent can never run
code: the grader never unpickles anything that came from a process where student code ran.

Objects that are not plain values stay in the process that holds them and travel as a
handle (``{"obj": ...}``); the worker describes them (type name, whether they are an
``nn.Module``), the grader wraps them in a proxy (:mod:`cs502_lib.grading.remote`).
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any, Callable

import torch

__all__ = ["Encoder", "decode", "write_frame", "read_frame", "WireError", "MAX_FRAME", "DTYPES"]

#: The largest frame accepted (bytes): a reply larger than this is refused, not read.
MAX_FRAME = 512 * 1024 * 1024
_MAX_DEPTH = 32
_MAX_ITEMS = 2_000_000

#: dtypes that may travel (by name); anything else is refused.
DTYPES = {name: getattr(torch, name) for name in (
    "float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool",
    "complex64", "complex128")}
_NP_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
              "float16", "float32", "float64")


class WireError(Exception):
    """A message that does not follow the format (or is too large)."""


# --------------------------------------------------------------------------- frames


def write_frame(fd: int, header: dict, blobs: list[bytes]) -> None:
    head = json.dumps(header).encode("utf-8")
    body = b"".join(blobs)
    data = struct.pack("<QQ", len(head), len(body)) + head + body
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _read_exact(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("the other process closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> tuple[dict, bytes]:
    head_len, body_len = struct.unpack("<QQ", _read_exact(fd, 16))
    if head_len + body_len > MAX_FRAME:
        raise WireError(f"a message of {head_len + body_len} bytes is larger than the limit ({MAX_FRAME})")
    header = json.loads(_read_exact(fd, head_len).decode("utf-8"))
    if not isinstance(header, dict):
        raise WireError("a message header is not a JSON object")
    return header, _read_exact(fd, body_len)


# --------------------------------------------------------------------------- encoding


def _tensor_bytes(t: torch.Tensor) -> bytes:
    flat = t.detach().to("cpu").contiguous().reshape(-1)
    if flat.numel() == 0:
        return b""
    return flat.view(torch.uint8).numpy().tobytes() if flat.dtype != torch.uint8 else flat.numpy().tobytes()


class Encoder:
    """Turns a value into JSON plus blobs.

    ``on_object(value) -> dict`` describes a value that is not plain (a module, a function,
    any other object); ``on_tensor(tensor) -> handle or None`` may register a tensor and
    return a handle stored with it. ``exact`` (the worker) converts subclasses of the plain
    types to their base values, so that an overridden ``__eq__`` never reaches the grader.
    """

    def __init__(self, on_object: Callable[[Any], dict] | None = None,
                 on_tensor: Callable[[torch.Tensor], int | None] | None = None, *, exact: bool = False) -> None:
        self.blobs: list[bytes] = []
        self.size = 0
        self.items = 0
        self.on_object = on_object
        self.on_tensor = on_tensor
        self.exact = exact

    def _blob(self, data: bytes) -> list[int]:
        start = self.size
        self.blobs.append(data)
        self.size += len(data)
        if self.size > MAX_FRAME:
            raise WireError(f"more than {MAX_FRAME // 2**20} MB of data")
        return [start, len(data)]

    def encode(self, value: Any, depth: int = 0) -> Any:
        self.items += 1
        if depth > _MAX_DEPTH or self.items > _MAX_ITEMS:
            raise WireError("the value is nested too deeply or holds too many items")
        t = type(value)
        if value is None or t is bool or t is str:
            return value
        if t is int:
            return value if abs(value) < 2**63 else {"bigint": str(value)}
        if t is float:
            return {"f": repr(value)}
        if isinstance(value, torch.Tensor):
            return self._tensor(value)
        if isinstance(value, bool):  # a bool subclass cannot exist; kept for clarity
            return bool(value)
        if isinstance(value, str):
            return str.__str__(value) if self.exact else value
        if isinstance(value, int):
            return self.encode(int.__int__(value), depth)
        if isinstance(value, float):
            return {"f": repr(float.__float__(value))}
        if isinstance(value, tuple):
            return {"T": [self.encode(v, depth + 1) for v in tuple.__iter__(value)]}
        if isinstance(value, list):
            return {"L": [self.encode(v, depth + 1) for v in list.__iter__(value)]}
        if isinstance(value, dict):
            return {"D": [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in dict.items(value)]}
        if isinstance(value, torch.device):
            return {"dev": str(value)}
        if isinstance(value, torch.dtype):
            return {"dt": str(value).replace("torch.", "")}
        if isinstance(value, torch.Generator):
            state = value.get_state()
            return {"gen": {"device": str(value.device), "state": self._blob(_tensor_bytes(state)),
                            "n": int(state.numel())}}
        if t.__module__ == "numpy" and t.__name__ == "ndarray" and str(value.dtype) in _NP_DTYPES:
            import numpy as np

            arr = np.ascontiguousarray(value)
            return {"np": {"dtype": str(arr.dtype), "shape": list(arr.shape), "b": self._blob(arr.tobytes())}}
        if self.on_object is not None:
            return {"obj": self.on_object(value)}
        raise WireError(f"a value of type {t.__name__} cannot be sent")

    def _tensor(self, value: torch.Tensor) -> dict:
        if isinstance(value, torch.nn.parameter.UninitializedTensorMixin):  # nn.LazyLinear before its first call
            return {"t": {"uninit": True}}
        if type(value) is not torch.Tensor:  # a subclass (nn.Parameter, or one that overrides operators)
            with torch._C.DisableTorchFunctionSubclass():
                plain = torch.Tensor.as_subclass(value, torch.Tensor)
        else:
            plain = value
        name = str(plain.dtype).replace("torch.", "")
        if name not in DTYPES:
            raise WireError(f"tensors of dtype {plain.dtype} cannot be sent")
        out = {"dtype": name, "shape": list(plain.shape), "device": str(plain.device), "rg": bool(plain.requires_grad)}
        if plain.device.type != "meta":
            out["b"] = self._blob(_tensor_bytes(plain))
            if plain.dim() and not plain.is_contiguous():  # keep the layout (a transposed view stays one)
                out["stride"] = list(plain.stride())
        if self.on_tensor is not None:
            out["h"] = self.on_tensor(value)
        return {"t": out}


# --------------------------------------------------------------------------- decoding


def _dtype(name: Any) -> torch.dtype:
    if name not in DTYPES:
        raise WireError(f"unknown dtype {name!r}")
    return DTYPES[name]


def _device(name: Any) -> torch.device:
    if not isinstance(name, str) or len(name) > 20:
        raise WireError(f"bad device {name!r}")
    return torch.device(name)


def _shape(shape: Any) -> list[int]:
    if not isinstance(shape, list) or not all(type(s) is int and 0 <= s < 2**40 for s in shape) or len(shape) > 16:
        raise WireError(f"bad shape {shape!r}")
    return shape


def _slice(blob: bytes, ref: Any) -> bytes:
    if not (isinstance(ref, list) and len(ref) == 2 and all(type(x) is int and x >= 0 for x in ref)):
        raise WireError("bad blob reference")
    start, n = ref
    if start + n > len(blob):
        raise WireError("a blob reference points outside the message")
    return blob[start:start + n]


def _tensor_from(spec: dict, blob: bytes, device_map: Callable[[torch.device], torch.device] | None) -> torch.Tensor:
    dtype, shape = _dtype(spec.get("dtype")), _shape(spec.get("shape"))
    device = _device(spec.get("device", "cpu"))
    if device_map is not None:
        device = device_map(device)
    if device.type == "meta" or "b" not in spec:
        t = torch.empty(shape, dtype=dtype, device="meta")
    else:
        data = _slice(blob, spec["b"])
        numel = 1
        for s in shape:
            numel *= s
        if len(data) != numel * torch.empty((), dtype=dtype).element_size():
            raise WireError("tensor data of the wrong size")
        if numel == 0:
            t = torch.empty(shape, dtype=dtype)
        else:
            t = torch.frombuffer(bytearray(data), dtype=torch.uint8).view(dtype).reshape(shape).clone()
        stride = spec.get("stride")
        if stride is not None:
            if not (isinstance(stride, list) and len(stride) == len(shape) and all(type(s) is int and s >= 0 for s in stride)):
                raise WireError("bad stride")
            order = sorted(range(len(shape)), key=lambda i: -stride[i])
            t = t.permute(order).contiguous().permute([order.index(i) for i in range(len(shape))])
        t = t.to(device)
    if spec.get("rg") and (t.is_floating_point() or t.is_complex()):
        t.requires_grad_(True)
    return t


def decode(value: Any, blob: bytes, *, on_object: Callable[[dict], Any] | None = None,
           on_tensor: Callable[[torch.Tensor, Any], None] | None = None,
           device_map: Callable[[torch.device], torch.device] | None = None, depth: int = 0) -> Any:
    """The plain value a JSON ``value`` (with ``blob``) stands for; objects go to ``on_object``."""
    if depth > _MAX_DEPTH:
        raise WireError("a value nested too deeply")
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value
    if not isinstance(value, dict) or len(value) != 1:
        raise WireError(f"not a wire value: {str(value)[:80]}")
    (tag, body), = value.items()
    rec = lambda v: decode(v, blob, on_object=on_object, on_tensor=on_tensor, device_map=device_map,  # noqa: E731
                           depth=depth + 1)
    if tag == "f":
        return float(body)
    if tag == "bigint":
        return int(body)
    if tag == "T":
        return tuple(rec(v) for v in body)
    if tag == "L":
        return [rec(v) for v in body]
    if tag == "D":
        out = {}
        for k, v in body:
            key = rec(k)
            if not isinstance(key, (str, int, float, bool, tuple)) and key is not None:
                raise WireError("a dict key that is not a plain value")
            out[key] = rec(v)
        return out
    if tag == "t":
        if body.get("uninit"):
            return torch.nn.parameter.UninitializedParameter()
        t = _tensor_from(body, blob, device_map)
        if on_tensor is not None:
            on_tensor(t, body.get("h"))
        return t
    if tag == "dev":
        return _device(body)
    if tag == "dt":
        return _dtype(body)
    if tag == "gen":
        gen = torch.Generator(device=_device(body.get("device", "cpu")))
        state = torch.frombuffer(bytearray(_slice(blob, body["state"])), dtype=torch.uint8).clone()
        gen.set_state(state)
        return gen
    if tag == "np":
        import numpy as np

        if body.get("dtype") not in _NP_DTYPES:
            raise WireError("bad array dtype")
        return np.frombuffer(_slice(blob, body["b"]), dtype=body["dtype"]).reshape(_shape(body["shape"])).copy()
    if tag in ("obj", "ref"):
        if on_object is None:
            raise WireError("an object reference where none is expected")
        return on_object(body if tag == "obj" else {"ref": body})
    raise WireError(f"unknown wire tag {tag!r}")
