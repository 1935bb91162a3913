"""The learning-rate schedules and the weight-decay parameter groups of DNABERT-mini's training.

One owner for both, used by pretraining (:mod:`.pretrain`) and fine-tuning (:mod:`.finetune`):

* :func:`pretrain_lr_factor`: linear warm-up over ``warmup`` steps, then constant, with an optional
  linear decay to 0 over the last ``decay_frac`` of the run's progress (steps or wall time);
* :func:`finetune_lr_factor`: linear warm-up over ``warmup_frac`` of the steps, then linear decay to 0;
* :func:`param_groups`: AdamW groups, one per learning-rate scale, each split into weights that are
  decayed and biases / LayerNorm weights that are not; every group carries its ``lr_scale``.
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch

__all__ = ["pretrain_lr_factor", "finetune_lr_factor", "is_decayed", "param_groups", "set_lr"]


def pretrain_lr_factor(step: int, warmup: int, progress: float, decay_frac: float) -> float:
    """Multiplier of the peak LR at optimizer step ``step`` (1-based) and run progress in [0, 1]."""
    f = min(1.0, step / warmup) if warmup > 0 else 1.0
    if decay_frac > 0 and progress > 1.0 - decay_frac:
        f *= max(0.0, (1.0 - progress) / decay_frac)
    return f


def finetune_lr_factor(step: int, total: int, warmup_frac: float) -> float:
    """Multiplier of the peak learning rate at step ``step`` (0-based) of ``total``: warm-up, then linear decay."""
    warm = max(1, int(round(warmup_frac * total)))
    if step < warm:
        return (step + 1) / warm
    return max(0.0, (total - step) / max(1, total - warm))


def is_decayed(name: str, p: torch.Tensor) -> bool:
    """Whether weight decay applies to parameter ``name``: not to biases, LayerNorm weights or other vectors."""
    return p.dim() >= 2 and "norm" not in name


def param_groups(named_parameters: Iterable[tuple[str, torch.Tensor]], weight_decay: float,
                 lr_scale: Callable[[str], float] | None = None, *, exempt: bool = True) -> list[dict]:
    """AdamW parameter groups: per learning-rate scale (in order of first appearance), decayed then not.

    Args:
        named_parameters: ``model.named_parameters()`` (those with ``requires_grad=False`` are skipped).
        weight_decay: the decay of the decayed groups.
        lr_scale: parameter name -> factor of the peak learning rate (default 1 for all).
        exempt: keep biases and LayerNorm weights out of weight decay (:func:`is_decayed`);
            ``False`` decays every parameter.

    Returns:
        ``[{"params", "lr_scale", "weight_decay"}, ...]``, empty groups left out; apply a schedule
        with :func:`set_lr`.
    """
    groups: dict[float, dict[str, list]] = {}
    for name, p in named_parameters:
        if not p.requires_grad:
            continue
        scale = 1.0 if lr_scale is None else lr_scale(name)
        g = groups.setdefault(scale, {"decay": [], "no_decay": []})
        (g["decay"] if not exempt or is_decayed(name, p) else g["no_decay"]).append(p)
    out = []
    for scale, g in groups.items():
        for kind, params in g.items():
            if params:
                out.append({"params": params, "lr_scale": scale,
                            "weight_decay": weight_decay if kind == "decay" else 0.0})
    return out


def set_lr(optimizer: torch.optim.Optimizer, peak_lr: float, factor: float) -> None:
    """Set every group's learning rate to ``peak_lr * lr_scale * factor`` (``lr_scale`` 1 when a group has none)."""
    for group in optimizer.param_groups:
        group["lr"] = peak_lr * group.get("lr_scale", 1.0) * factor
