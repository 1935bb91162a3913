"""Guards that watch student code while it runs under a check.

Two things are watched:

* **Delegation.** An exercise asks students to *write* attention, an LSTM cell, ...
  so while their code runs, PyTorch's built-in versions of the whole family, and
  cs502_lib's own reference of the name being checked, are refused.

  - PyTorch's functional forms (``F.scaled_dot_product_attention``,
    ``F.multi_head_attention_forward``, ``torch._VF.lstm`` and friends) are caught
    by a :class:`torch.overrides.TorchFunctionMode`, which sees every call of a
    torch function however it was reached.
  - Python-level functions and classes (``nn.MultiheadAttention``, ``nn.LSTM``,
    ``nn.Transformer*``, the cs502_lib reference) are caught by temporarily
    swapping the ``__code__`` of their functions (``__init__`` and ``forward`` for a
    class) for code that raises. Because the code object itself is replaced, the
    refusal works however the student reached the function: ``cs502_lib.x``,
    ``from cs502_lib import x`` done long before the check, an alias, a subclass.

* **Devices.** On the ``meta`` device a student's ``torch.ones(n, n)`` silently lands
  on the CPU, and mixing it with a meta tensor does not always raise (a CPU matrix
  multiplied into a meta tensor gives a meta result). The same guard mode
  therefore refuses any single call that mixes tensors of different devices. Zero-
  dimensional CPU tensors are allowed, as PyTorch allows them on CUDA too, and so
  are the calls whose purpose is to move data between devices (``copy_``, ``to``,
  indexing).

  A copy of a meta tensor to the CPU (``lengths.cpu()``) has no data to copy. A GPU
  run would give a real CPU tensor, so the guard gives a CPU *stand-in* (zeros, never
  readable): code that then mixes it with the inputs' device, or returns a result
  built from it, fails as it would on a GPU, even on a grader without one; code whose
  Python values or shapes would come from it (``.tolist()``, ``torch.ones(n)``,
  ``x[:n]``) falls back like any value-reading code.
"""

from __future__ import annotations

import threading
import weakref
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

__all__ = ["DelegationRefused", "DeviceMismatch", "GuardMode", "MetaValuesUnreadable", "is_stand_in", "refuse_python",
           "TORCH_REFUSED_FUNCTIONS"]


class DelegationRefused(Exception):
    """Raised inside student code when it calls a refused built-in or reference."""

    def __init__(self, what: str, advice: str) -> None:
        super().__init__(f"{what} is not allowed here")
        self.what = what
        self.advice = advice


class DeviceMismatch(Exception):
    """Raised inside student code when one torch call mixes tensors of different devices."""

    def __init__(self, func_name: str, devices: list[str]) -> None:
        super().__init__(f"{func_name} received tensors on different devices: {', '.join(devices)}")
        self.func_name = func_name
        self.devices = devices


#: torch functions (by ``__name__``) that implement, in one call, what an exercise asks to write.
TORCH_REFUSED_FUNCTIONS: dict[str, str] = {
    "scaled_dot_product_attention": "torch.nn.functional.scaled_dot_product_attention",
    "_scaled_dot_product_attention_math": "torch._scaled_dot_product_attention_math",
    "_scaled_dot_product_flash_attention": "torch._scaled_dot_product_flash_attention",
    "_scaled_dot_product_efficient_attention": "torch._scaled_dot_product_efficient_attention",
    "multi_head_attention_forward": "torch.nn.functional.multi_head_attention_forward",
    "_native_multi_head_attention": "torch._native_multi_head_attention",
    "_transformer_encoder_layer_fwd": "torch._transformer_encoder_layer_fwd",
    "rnn_tanh": "torch._VF.rnn_tanh (nn.RNN)",
    "rnn_relu": "torch._VF.rnn_relu (nn.RNN)",
    "rnn_tanh_cell": "torch.rnn_tanh_cell (nn.RNNCell)",
    "rnn_relu_cell": "torch.rnn_relu_cell (nn.RNNCell)",
    "lstm": "torch._VF.lstm (nn.LSTM)",
    "lstm_cell": "torch.lstm_cell (nn.LSTMCell)",
    "gru": "torch._VF.gru (nn.GRU)",
    "gru_cell": "torch.gru_cell (nn.GRUCell)",
}

#: PyTorch modules whose ``__init__``/``forward`` are refused while student code runs.
TORCH_REFUSED_MODULES: tuple[type, ...] = (
    nn.MultiheadAttention,
    nn.Transformer,
    nn.TransformerEncoder,
    nn.TransformerDecoder,
    nn.TransformerEncoderLayer,
    nn.TransformerDecoderLayer,
    nn.RNNBase,
    nn.RNN,
    nn.LSTM,
    nn.GRU,
    nn.RNNCellBase,
    nn.RNNCell,
    nn.LSTMCell,
    nn.GRUCell,
)

#: Calls whose job is to move or gather data across devices; mixing devices there is legitimate.
_DEVICE_NEUTRAL = {"to", "copy_", "__getitem__", "__setitem__", "index_put_", "index_put", "type_as", "cpu", "cuda", "_to_copy"}

_BUILTIN_ADVICE = (
    "This exercise asks you to write that computation yourself from basic tensor operations "
    "(matrix products, softmax, sigmoid/tanh, masked_fill, ...), not to call PyTorch's ready-made version."
)


class GuardMode(TorchFunctionMode):
    """Refuse PyTorch's built-in versions of the exercises and, if ``strict_device``, device mixing.

    The first violation is also remembered in :attr:`violation`, so that a student's
    ``try: ... except Exception: pass`` cannot hide it from the grader.
    """

    def __init__(self, *, strict_device: bool) -> None:
        super().__init__()
        self.strict_device = strict_device
        self.violation: Exception | None = None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in TORCH_REFUSED_FUNCTIONS:
            err = DelegationRefused(f"PyTorch's built-in {TORCH_REFUSED_FUNCTIONS[name]}", _BUILTIN_ADVICE)
            self.violation = self.violation or err
            raise err
        if not self.strict_device:
            return func(*args, **kwargs)
        leaves = _tensors((args, kwargs))
        if name not in _DEVICE_NEUTRAL:
            counted = [leaf for leaf in leaves if not (leaf.dim() == 0 and leaf.device.type == "cpu")]
            if len({str(leaf.device) for leaf in counted}) > 1:
                devices = {"cpu (a copy your code made with `.cpu()` / `.to('cpu')`)" if is_stand_in(leaf)
                           else str(leaf.device) for leaf in counted}
                err = DeviceMismatch(_func_name(func), sorted(devices))
                self.violation = self.violation or err
                raise err
        stand_in = any(is_stand_in(leaf) for leaf in leaves)
        if stand_in and name not in _METADATA and name != "__get__" and not _shape_static(name, args, kwargs):
            # its values (zeros) would decide a Python value or a shape: what a GPU run computes is unknown here
            raise MetaValuesUnreadable(f"{_func_name(func)} reads the values of a tensor moved off the meta device")
        try:
            result = func(*args, **kwargs)
        except NotImplementedError:
            # On ``meta`` a copy to the CPU (``.cpu()``, ``.to("cpu")``, ``copy_``) has no data to copy. A GPU run
            # would give a real CPU tensor, so give a CPU stand-in whose values can never be read: code that then
            # mixes it with the inputs' device, or returns it, fails as it would on a GPU; code that only reads it
            # (``lengths.cpu().tolist()``) falls back like any value-reading code.
            if name not in _MOVES or not any(leaf.device.type == "meta" for leaf in leaves):
                raise
            result = func(*[_zeros_like_on_cpu(a) for a in args],
                          **{k: _zeros_like_on_cpu(v) for k, v in kwargs.items()})
            stand_in = True
        if stand_in:
            outs = [leaf for leaf in tree_flatten(result)[0] if isinstance(leaf, torch.Tensor)]
            if not outs and result is not None and name not in _METADATA and name != "__get__":
                raise MetaValuesUnreadable(f"{_func_name(func)} reads the values of a tensor moved off the meta device")
            for out in outs:
                _mark_stand_in(out)
        return result


class MetaValuesUnreadable(NotImplementedError):
    """Student code read the values of a CPU stand-in for a meta tensor (see :class:`GuardMode`)."""


#: Tensors that stand in, on the CPU, for meta tensors that student code moved there (no real values):
#: id -> weak reference (a WeakSet would compare tensors with ``==``).
_STAND_INS: dict[int, weakref.ref] = {}

#: Calls that copy a tensor to another device.
_MOVES = {"to", "cpu", "copy_", "type", "_to_copy"}

#: Calls that only read a tensor's metadata (shape, dtype, device): fine on a stand-in.
_METADATA = {"size", "dim", "ndimension", "numel", "nelement", "element_size", "stride", "storage_offset",
             "is_contiguous", "is_floating_point", "is_complex", "is_signed", "get_device", "__len__", "__hash__",
             "data_ptr", "__dir__", "backward", "register_hook", "retain_grad"}

#: Element-wise calls: their outputs' shapes follow from the inputs' shapes, whichever inputs are stand-ins.
_ELEMENTWISE = {
    "__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__", "lt", "le", "gt", "ge", "eq", "ne",
    "__and__", "__or__", "__xor__", "__rand__", "__ror__", "__rxor__", "__iand__", "__ior__", "__ixor__",
    "logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor",
    "__add__", "__radd__", "__iadd__", "__sub__", "__rsub__", "__isub__", "__mul__", "__rmul__", "__imul__",
    "__truediv__", "__rtruediv__", "__itruediv__", "__floordiv__", "__rfloordiv__", "__mod__", "__pow__",
    "add", "sub", "mul", "div", "add_", "sub_", "mul_", "div_", "pow", "maximum", "minimum", "clamp", "lerp",
    "masked_fill", "masked_fill_", "where", "copy_", "fill_", "type_as", "expand_as", "cat", "stack", "hstack",
    "vstack", "lt_", "le_", "gt_", "ge_", "eq_", "ne_", "logical_and_", "logical_or_",
}

#: Calls whose outputs' shapes follow from their first argument's shape (the others are not stand-ins).
_SELF_ONLY = {
    "__invert__", "__neg__", "__abs__", "logical_not", "bitwise_not", "abs", "neg", "sign", "exp", "log", "sqrt",
    "sigmoid", "tanh", "relu", "softmax", "log_softmax", "round", "floor", "ceil", "float", "double", "half",
    "long", "int", "bool", "short", "byte", "clone", "contiguous", "detach", "cpu", "to", "type", "_to_copy",
    "unsqueeze", "squeeze", "view", "reshape", "expand", "flatten", "transpose", "permute", "t", "__getitem__",
    "repeat", "tril", "triu", "sum", "any", "all", "max", "min", "amax", "amin", "mean", "prod", "cumsum",
    "cumprod", "argmax", "argmin", "sort", "argsort", "flip", "roll", "unbind", "chunk", "split", "narrow",
    "new_zeros", "new_ones", "new_full", "new_empty", "zeros_like", "ones_like", "full_like", "empty_like",
    "rand_like", "randn_like", "zero_", "requires_grad_", "clamp_min", "clamp_max", "movedim", "swapaxes",
}


def _shape_static(name: str, args: tuple, kwargs: dict) -> bool:
    """Whether the call's output shapes follow from its inputs' shapes, whatever the stand-ins' values are."""
    if name in _ELEMENTWISE:
        return name != "where" or len(args) + len(kwargs) >= 3  # torch.where(cond) lists positions
    if name == "__setitem__":  # writes into a tensor whose shape is already fixed
        return True
    if name not in _SELF_ONLY:
        return False
    return not any(is_stand_in(t) for t in _tensors((args[1:], kwargs)))


def _tensors(tree) -> list[torch.Tensor]:
    """The tensors among a call's arguments, slice bounds included (``x[:n]`` with a tensor ``n``)."""
    leaves = tree_flatten(tree)[0]
    leaves += [b for leaf in leaves if isinstance(leaf, slice) for b in (leaf.start, leaf.stop, leaf.step)]
    return [leaf for leaf in leaves if isinstance(leaf, torch.Tensor)]


def is_stand_in(t: torch.Tensor) -> bool:
    """Whether ``t`` is (or was computed from) a CPU stand-in for a meta tensor moved to the CPU by student code."""
    ref = _STAND_INS.get(id(t))
    return ref is not None and ref() is t


def _mark_stand_in(t: torch.Tensor) -> None:
    if len(_STAND_INS) > 10_000:  # forget the dead ones
        for key in [k for k, r in _STAND_INS.items() if r() is None]:
            del _STAND_INS[key]
    _STAND_INS[id(t)] = weakref.ref(t)


def _zeros_like_on_cpu(value):
    if isinstance(value, torch.Tensor) and value.device.type == "meta":
        out = torch.zeros(value.shape, dtype=value.dtype)
        _mark_stand_in(out)
        return out
    return value


def _func_name(func) -> str:
    name = getattr(func, "__name__", repr(func))
    qual = getattr(func, "__qualname__", name)
    if qual.startswith("TensorBase.") or qual.startswith("Tensor."):
        return f"Tensor.{name}"
    return f"torch.{name}" if not name.startswith("__") else f"Tensor.{name}"


# --------------------------------------------------------------------------- code swapping

_replacements: dict[int, object] = {}
_swap_lock = threading.RLock()
_swap_depth = 0


def _refusing_code(original, label: str, advice: str):
    """A code object with the same free variables as ``original`` whose body raises DelegationRefused.

    ``func.__code__`` may only be replaced by code with as many free variables as the
    function's closure, so the replacement is compiled with the same names.
    """
    key = id(original)
    if key in _replacements:
        return _replacements[key]
    freevars = original.co_freevars
    lines = ["def _outer():"]
    lines += [f"    {v} = None" for v in freevars]
    lines.append("    def _refused(*args, **kwargs):")
    if freevars:
        lines.append(f"        ({', '.join(freevars)},)")
    lines.append(
        "        raise __import__('cs502_lib.grading.guards', fromlist=['_raise'])._raise("
        f"{label!r}, {advice!r})"
    )
    lines.append("    return _refused")
    namespace: dict = {}
    exec(compile("\n".join(lines), f"<refused {label}>", "exec"), namespace)
    code = namespace["_outer"]().__code__
    _replacements[key] = code
    return code


_active_modes: list[GuardMode] = []


def _raise(label: str, advice: str):
    err = DelegationRefused(label, advice)
    for mode in _active_modes:
        mode.violation = mode.violation or err
    raise err


def _targets(obj) -> Iterator:
    """The plain functions to swap for a function or a class (its own ``__init__`` and ``forward``)."""
    if isinstance(obj, type):
        for attr in ("__init__", "forward"):
            fn = obj.__dict__.get(attr)
            if hasattr(fn, "__code__"):
                yield fn
    elif hasattr(obj, "__code__"):
        yield obj


@contextmanager
def refuse_python(items: Iterable[tuple[object, str, str]], mode: GuardMode | None = None):
    """Swap the code of each ``(function or class, label, advice)`` for refusing code, and restore it after."""
    swapped: list[tuple[object, object]] = []
    if mode is not None:
        _active_modes.append(mode)
    try:
        with _swap_lock:
            for obj, label, advice in items:
                for fn in _targets(obj):
                    original = fn.__code__
                    if any(original is code for code in _replacements.values()):  # already swapped
                        continue
                    swapped.append((fn, original))
                    fn.__code__ = _refusing_code(original, label, advice)
        yield
    finally:
        with _swap_lock:
            for fn, original in reversed(swapped):
                fn.__code__ = original
        if mode is not None:
            _active_modes.remove(mode)


def torch_refused_modules() -> list[tuple[object, str, str]]:
    """The PyTorch modules refused in every check, as ``refuse_python`` items."""
    return [(cls, f"PyTorch's built-in nn.{cls.__name__}", _BUILTIN_ADVICE) for cls in TORCH_REFUSED_MODULES]


def reference_item(obj: object, public_name: str) -> tuple[object, str, str]:
    """A ``refuse_python`` item for cs502_lib's reference of the name being checked."""
    return (
        obj,
        f"cs502_lib's reference {public_name} (the solution of this very exercise)",
        "Write it yourself; the references of *other* exercises may be used as building blocks.",
    )


def attempt(fn: Callable, *args, **kwargs) -> Callable[[], tuple[str, object]]:
    """A function that calls ``fn`` and returns ``("ok", result)`` or ``("error", exception)``.

    Run it through ``Context.call`` when the check must look at the student's exception
    itself (a ValueError that should be raised, a cause named from its type) instead of
    failing on it. Student code held by the grading worker catches there, under its guards.
    """
    def run():
        if hasattr(fn, "attempt"):
            return fn.attempt(*args, **kwargs)
        try:
            return "ok", fn(*args, **kwargs)
        except Exception as exc:  # returned so that the check can name a cause
            return "error", exc
    return run


def shielded(body: Callable) -> Callable:
    """A check's ``body(ctx)`` under which no exception but the grader's own leaves.

    Student code runs through ``Context.call``, which turns its exceptions into
    GradingErrors; but the check also reads what that code returned or built (a
    tuple to unpack, a tensor to move, a module's state). Any exception from there
    (a student object that misbehaves when it is read) becomes a GradingError too.
    """
    def run(ctx) -> None:
        try:
            body(ctx)
        except Exception as exc:
            if type(exc).__module__.startswith(__package__ or "cs502_lib.grading"):  # GradingError, the meta fallback
                raise
            text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            ctx.fail(f"the grader could not use what your code returned or built ({type(exc).__name__}: {text})",
                     cause="your code returns or builds something that does not behave like the contract's tensors "
                     "or module (a different type on some calls, a tensor subclass, an overridden nn.Module "
                     "method); return plain tensors as the contract says.")
    return run
