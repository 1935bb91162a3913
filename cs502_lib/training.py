"""A small, seeded training loop with a tqdm progress bar, and classification metrics."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

__all__ = [
    "set_seed", "History", "train", "evaluate", "warmup_cosine", "train_seq2seq",
    "accuracy", "f1_score", "mcc", "confusion_matrix",
]


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and PyTorch so that a notebook's numbers are reproducible."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class History:
    """Per-epoch losses (and metric values when a validation set was given)."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_metric: list[float] = field(default_factory=list)


Batch = tuple[torch.Tensor, ...]


def _to(batch: Batch, device) -> Batch:
    return tuple(t.to(device) for t in batch)


def train(
    model: nn.Module,
    train_loader: Iterable[Batch],
    loss_fn: Callable[[nn.Module, Batch], torch.Tensor],
    *,
    epochs: int = 1,
    lr: float = 1e-3,
    optimizer: torch.optim.Optimizer | None = None,
    val_loader: Iterable[Batch] | None = None,
    metric_fn: Callable[[nn.Module, Batch], float] | None = None,
    clip_grad: float | None = 1.0,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> History:
    """Train ``model`` for ``epochs`` passes over ``train_loader``.

    ``loss_fn(model, batch)`` returns the mean loss of a batch (so the loop works
    for any task); ``metric_fn(model, batch)`` returns a batch's metric (for example
    accuracy) for the optional validation loader. Uses Adam unless an optimizer
    is given, clips the gradient norm at ``clip_grad``, and shows one tqdm bar.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    model.to(device)
    opt = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    hist = History()
    bar = tqdm(range(epochs), desc="training", disable=not progress, unit="epoch")
    for _ in bar:
        model.train()
        total, n = 0.0, 0
        for batch in train_loader:
            batch = _to(batch, device)
            loss = loss_fn(model, batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"the training loss became {loss.item()}; lower the learning rate")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip_grad is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
            opt.step()
            total += loss.item()
            n += 1
        hist.train_loss.append(total / max(n, 1))
        postfix = {"loss": f"{hist.train_loss[-1]:.4f}"}
        if val_loader is not None:
            vl, vm = evaluate(model, val_loader, loss_fn, metric_fn, device=device)
            hist.val_loss.append(vl)
            postfix["val_loss"] = f"{vl:.4f}"
            if metric_fn is not None:
                hist.val_metric.append(vm)
                postfix["val_metric"] = f"{vm:.4f}"
        bar.set_postfix(postfix)
    return hist


@torch.no_grad()
def evaluate(model, loader, loss_fn, metric_fn=None, *, device="cpu") -> tuple[float, float]:
    """Mean loss and mean metric of ``model`` over ``loader`` in eval mode."""
    model.eval()
    losses, metrics = [], []
    for batch in loader:
        batch = _to(batch, device)
        losses.append(loss_fn(model, batch).item())
        if metric_fn is not None:
            metrics.append(float(metric_fn(model, batch)))
    mean = lambda xs: sum(xs) / len(xs) if xs else math.nan  # noqa: E731
    return mean(losses), mean(metrics)


def warmup_cosine(step: int, warmup_steps: int, total_steps: int) -> float:
    """Learning-rate multiplier for optimizer step ``step`` (0-based): linear warm-up, then cosine decay.

    Rises linearly from ``1 / warmup_steps`` to 1 over the first ``warmup_steps`` steps
    (no warm-up when it is 0), then follows half a cosine down to 0 at ``total_steps``.
    """
    if warmup_steps < 0 or total_steps < 1 or warmup_steps > total_steps:
        raise ValueError(f"need 0 <= warmup_steps <= total_steps and total_steps >= 1, got {warmup_steps}, {total_steps}")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    decay = total_steps - warmup_steps
    progress = min(1.0, (step - warmup_steps) / decay) if decay > 0 else 1.0
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def train_seq2seq(
    model: nn.Module,
    src: torch.Tensor,
    tgt: torch.Tensor,
    *,
    steps: int,
    batch_size: int = 64,
    lr: float = 3e-3,
    warmup_steps: int = 0,
    label_smoothing: float = 0.0,
    clip_grad: float | None = 1.0,
    seed: int = 0,
    total_steps: int | None = None,
    progress: bool = True,
    callback: Callable[[int, nn.Module], None] | None = None,
) -> list[float]:
    """Train an encoder-decoder model with teacher forcing; returns every step's loss.

    ``src`` (N, Ls) and ``tgt`` (N, Lt) are padded id tensors, each target starting
    with <bos>; ``model(src, tgt[:, :-1])`` must return logits (B, Lt - 1, V) and
    ``model.pad_id`` name the padding id, which the loss ignores. Each step draws
    ``batch_size`` random rows (seeded by ``seed``) and takes one Adam step; the
    learning rate follows :func:`warmup_cosine` with peak ``lr`` over ``total_steps``
    (default ``steps``; a larger value runs only the beginning of a longer schedule,
    to compare the first steps of two recipes cheaply). ``label_smoothing``
    is passed to the cross-entropy; gradients are clipped at norm ``clip_grad``.
    ``callback(step, model)`` runs after each step (1-based), for example to keep a
    snapshot. ``progress=False`` hides the tqdm bar (the book does; a terminal or
    notebook run shows it).
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got {steps}, {batch_size}")
    total_steps = steps if total_steps is None else total_steps
    if total_steps < steps:
        raise ValueError(f"total_steps ({total_steps}) is smaller than steps ({steps})")
    if src.shape[0] != tgt.shape[0]:
        raise ValueError(f"src and tgt differ in rows: {src.shape[0]} and {tgt.shape[0]}")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    factor = lambda s: warmup_cosine(s, warmup_steps, total_steps)  # noqa: E731
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    loss_fn = nn.CrossEntropyLoss(ignore_index=model.pad_id,
                                  label_smoothing=label_smoothing)
    rng = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    model.train()
    bar = tqdm(range(1, steps + 1), desc="training", disable=not progress, unit="step")
    for step in bar:
        idx = torch.randint(src.shape[0], (batch_size,), generator=rng)
        s, t = src[idx], tgt[idx]
        # the decoder reads <bos> y_1 ... and predicts y_1 ... <eos>
        logits = model(s, t[:, :-1])
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), t[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip_grad is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
        opt.step()
        schedule.step()
        losses.append(loss.item())
        if callback is not None:
            callback(step, model)
    model.eval()
    return losses


def _labels(y_true, y_pred) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.as_tensor(y_true).reshape(-1).long().cpu()
    p = torch.as_tensor(y_pred).reshape(-1).long().cpu()
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have the same length, got {t.numel()} and {p.numel()}")
    if t.numel() == 0:
        raise ValueError("y_true and y_pred are empty")
    return t, p


def confusion_matrix(y_true, y_pred, num_classes: int | None = None) -> torch.Tensor:
    """C[i, j] = number of samples of true class i predicted as class j."""
    t, p = _labels(y_true, y_pred)
    k = num_classes or int(max(t.max(), p.max())) + 1
    return torch.bincount(t * k + p, minlength=k * k).reshape(k, k)


def accuracy(y_true, y_pred) -> float:
    """Fraction of exact matches."""
    t, p = _labels(y_true, y_pred)
    return (t == p).double().mean().item()


def f1_score(y_true, y_pred, average: str = "macro") -> float:
    """F1 score: binary (positive class 1) or the unweighted mean over classes (``macro``)."""
    C = confusion_matrix(y_true, y_pred).double()
    tp = C.diag()
    prec = tp / C.sum(0).clamp(min=1)
    rec = tp / C.sum(1).clamp(min=1)
    f1 = torch.where(prec + rec > 0, 2 * prec * rec / (prec + rec), torch.zeros_like(tp))
    if average == "binary":
        if C.shape[0] > 2:
            raise ValueError("average='binary' needs labels in {0, 1}")
        return f1[-1].item()
    if average == "macro":
        return f1.mean().item()
    raise ValueError(f"average must be 'binary' or 'macro', got {average!r}")


def mcc(y_true, y_pred) -> float:
    """Matthews correlation coefficient (Gorodkin's multi-class form); 0 when undefined."""
    C = confusion_matrix(y_true, y_pred).double()
    s = C.sum()
    c = C.trace()
    t, p = C.sum(1), C.sum(0)
    num = c * s - (t * p).sum()
    den = torch.sqrt((s * s - (p * p).sum()) * (s * s - (t * t).sum()))
    return 0.0 if den == 0 else (num / den).item()
