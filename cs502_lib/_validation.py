"""Argument checks shared by the reference implementations.

Every public function of :mod:`cs502_lib` validates its arguments up front and
raises :class:`ValueError` with a message that names the argument, what was
given and what was expected, instead of letting a shape error surface from deep
inside PyTorch.
"""

from __future__ import annotations

from typing import Sequence

import torch

__all__ = [
    "require_tensor",
    "require_ndim",
    "require_shape",
    "require_positive_int",
    "require_nonnegative_int",
    "require_bool_mask",
    "broadcast_shape",
]


def require_tensor(name: str, value: object) -> torch.Tensor:
    """Return ``value`` if it is a tensor, else raise ValueError naming ``name``."""
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    return value


def require_ndim(name: str, value: torch.Tensor, ndim: int | None = None, min_ndim: int | None = None) -> None:
    """Check the number of dimensions of a tensor."""
    if ndim is not None and value.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(value.shape)}")
    if min_ndim is not None and value.dim() < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimensions, got shape {tuple(value.shape)}")


def require_shape(name: str, value: torch.Tensor, expected: Sequence[int | None], meaning: str = "") -> None:
    """Check a tensor's shape; ``None`` in ``expected`` matches any size."""
    shape = tuple(value.shape)
    ok = len(shape) == len(expected) and all(e is None or s == e for s, e in zip(shape, expected))
    if not ok:
        want = "(" + ", ".join("*" if e is None else str(e) for e in expected) + ")"
        extra = f" {meaning}" if meaning else ""
        raise ValueError(f"{name} must have shape {want}{extra}, got {shape}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def require_positive_int(name: str, value: object) -> int:
    """Return ``value`` if it is an int >= 1."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def require_nonnegative_int(name: str, value: object) -> int:
    """Return ``value`` if it is an int >= 0."""
    if not _is_int(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def broadcast_shape(name: str, shape: Sequence[int], target: Sequence[int], target_meaning: str) -> None:
    """Check that ``shape`` broadcasts to ``target`` (without changing ``target``)."""
    shape, target = tuple(shape), tuple(target)
    ok = len(shape) <= len(target) and all(
        s == 1 or s == t for s, t in zip(reversed(shape), reversed(target))
    )
    if not ok:
        raise ValueError(
            f"{name} of shape {shape} cannot be broadcast to {target_meaning} {target}"
        )


def require_bool_mask(name: str, mask: object, target: Sequence[int], target_meaning: str) -> torch.Tensor:
    """Check that ``mask`` is a boolean tensor broadcastable to ``target``."""
    mask = require_tensor(name, mask)
    if mask.dtype != torch.bool:
        raise ValueError(
            f"{name} must be a torch.bool tensor (True = may attend), got dtype {mask.dtype}; "
            "convert it with mask.bool() or build it with a comparison"
        )
    broadcast_shape(name, mask.shape, target, target_meaning)
    return mask
