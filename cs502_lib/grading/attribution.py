"""Where an error came from in the student's code, and what a common PyTorch error message most likely means.

:func:`student_location` names the student's line in a traceback (skipping torch,
cs502_lib, the standard library and site-packages); :func:`hint_for` turns an error
message into a cause in plain words, from the table :data:`HINTS`.
"""

from __future__ import annotations

import os
import sysconfig
import traceback
from typing import Any, Iterable

import torch

__all__ = ["student_location", "describe_frame", "source_files", "is_library", "HINTS", "hint_for"]

_TORCH_DIR = os.path.normcase(os.path.dirname(os.path.abspath(torch.__file__))) + os.sep
_CS502_DIR = os.path.normcase(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))) + os.sep
_STD_DIRS = tuple(
    os.path.normcase(p) + os.sep for p in {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"]} if p
)


def is_library(filename: str) -> bool:
    """Whether a traceback frame belongs to torch, cs502_lib (grader included), the standard library or site-packages."""
    f = os.path.normcase(filename)
    return f.startswith((_TORCH_DIR, _CS502_DIR) + _STD_DIRS) or filename.startswith("<refused")


def describe_frame(frame: traceback.FrameSummary) -> str:
    """A traceback frame in words: ``line 3 of your notebook cell (in f):  return x @ w``."""
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
            if not is_library(fr.filename):
                chosen = fr
    return describe_frame(chosen) if chosen is not None else None


def source_files(impl: Any) -> set[str]:
    """The files that define ``impl`` (a function, or a class and its own methods)."""
    files: set[str] = set()
    if isinstance(impl, type):
        for cls in impl.__mro__:
            for value in vars(cls).values():
                code = getattr(value, "__code__", None)
                if code is not None and not is_library(code.co_filename):
                    files.add(code.co_filename)
    else:
        code = getattr(impl, "__code__", None)
        if code is not None:
            files.add(code.co_filename)
    return files


#: (text of an error message, its most likely cause in plain words); the first match wins.
HINTS = (
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


def hint_for(message: str) -> str | None:
    """The plain-words cause of a common PyTorch error message, or None."""
    for pattern, hint in HINTS:
        if pattern in message:
            return hint
    return None
