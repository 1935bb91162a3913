"""Classical baselines for the three classification tasks, on the fixed splits of :mod:`.tasks`.

What a fine-tuned DNABERT has to beat:

* ``kmer-lr``: **bag of k-mers + logistic regression.** Each sequence becomes the
  frequencies of its 4**k overlapping k-mers (counts divided by the number of k-mers),
  standardized with the training set's mean and spread; a multinomial logistic regression
  with an L2 penalty is fitted to them (full batch, L-BFGS). Order and position are gone:
  only *which* words occur counts.
* ``onehot-lr``: **one-hot + logistic regression.** The sequence as an (L, 4) one-hot matrix,
  flattened: one weight per (position, base), a position weight matrix learned
  discriminatively. Position is kept, interactions between positions are not.
* ``cnn``: **a small convolutional network on the one-hot sequence.** Convolution filters
  (learned motifs), ReLU, *local* max pooling, then a linear layer over the flattened pooled
  map, so the classifier still knows roughly *where* each motif fired (what splice sites
  need); ``--pool global`` takes one maximum per filter over the whole sequence instead.

Everything is seeded and single-model (no ensembles), and the metrics come from
:mod:`cs502_lib.training`. Run ``python -m cs502_lib.dnabert classifier-baseline --task T --model M``
(the masked-LM baselines of pretraining are in :mod:`.mlm_baselines`).
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from ..bio.kmers import NUM_SPECIAL, KmerTokenizer
from ..bio.sequences import dna_codes
from .tasks import (CLASS_NAMES, TASKS, Split, check_not_collapsed, evaluation_protocol, label_fraction, metrics, subsample,
                    task_splits)

__all__ = [
    "MODELS",
    "kmer_frequencies",
    "one_hot",
    "fit_logistic_regression",
    "OneHotCNN",
    "fit_cnn",
    "run_baseline",
]

MODELS = ("kmer-lr", "onehot-lr", "cnn")

#: CNN shape per task: TF binding is about *which* motifs occur (wide filters, global pooling);
#: splice sites and promoters are about *where* (narrower filters, local pooling keeps position).
CNN_DEFAULTS: dict[str, dict] = {
    "tfbs": {"pool": "global", "width": 21},
    "splice": {"pool": "local", "width": 9},
    "promoters": {"pool": "local", "width": 9},
}


# ---- features ---------------------------------------------------------------------------------


def kmer_frequencies(seqs: list[str], k: int = 6) -> torch.Tensor:
    """Bag of k-mers: (B, 4**k) float32, row b = counts of each k-mer in ``seqs[b]`` / number of k-mers."""
    ids, real = KmerTokenizer(k).encode_batch(seqs, add_special_tokens=False)  # (B, n), padding -> False
    idx = (ids - NUM_SPECIAL).clamp_min(0)
    counts = torch.zeros(len(seqs), 4**k)
    counts.scatter_add_(1, idx, real.float())
    return counts / real.sum(1, keepdim=True).float()


def one_hot(seqs: list[str]) -> torch.Tensor:
    """One-hot bases: (B, 4, L) float32 with channels A, C, G, T (all sequences the same length)."""
    lengths = {len(s) for s in seqs}
    if len(lengths) != 1:
        raise ValueError(f"one_hot needs sequences of one length, got lengths {sorted(lengths)[:5]}")
    codes = torch.from_numpy(dna_codes("".join(seqs), "seqs").astype("int64")).view(len(seqs), -1)
    return F.one_hot(codes, 4).float().transpose(1, 2).contiguous()


# ---- logistic regression ----------------------------------------------------------------------


class _Standardize:
    """z-scores with the training set's statistics (features that never vary stay 0)."""

    def __init__(self, x: torch.Tensor) -> None:
        self.mean = x.mean(0)
        self.std = x.std(0).clamp_min(1e-6)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def fit_logistic_regression(x: torch.Tensor, y: torch.Tensor, num_classes: int, l2: float = 1e-2,
                            max_iter: int = 200, seed: int = 0) -> nn.Linear:
    """Multinomial logistic regression by full-batch L-BFGS.

    Minimizes ``mean cross-entropy + l2 / 2 * ||W||^2`` (the bias is not penalized).

    Args:
        x: (N, D) features; y: (N,) labels in ``0..num_classes-1``.
        l2: strength of the L2 penalty on the weights.
        max_iter: L-BFGS iterations.

    Returns:
        The fitted ``nn.Linear(D, num_classes)``.
    """
    torch.manual_seed(seed)
    model = nn.Linear(x.shape[1], num_classes)
    nn.init.zeros_(model.weight)
    nn.init.zeros_(model.bias)
    opt = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=max_iter, history_size=20,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-6, tolerance_change=1e-9)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y) + 0.5 * l2 * model.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return model


# ---- CNN ------------------------------------------------------------------------------------


class OneHotCNN(nn.Module):
    """Conv1d(4 -> channels, width) + ReLU + max pooling + dropout + Linear, on one-hot DNA (B, 4, L).

    ``pool="local"`` max-pools windows of ``pool_size`` positions and flattens the result
    (position kept at that resolution); ``pool="global"`` keeps one maximum per filter.
    """

    def __init__(self, length: int, num_classes: int, channels: int = 64, width: int = 9,
                 pool: str = "local", pool_size: int = 4, dropout: float = 0.3) -> None:
        super().__init__()
        if pool not in ("local", "global"):
            raise ValueError(f"pool must be 'local' or 'global', got {pool!r}")
        self.pool, self.pool_size = pool, pool_size
        self.conv = nn.Conv1d(4, channels, width, padding=width // 2)
        n_out = channels * (length // pool_size) if pool == "local" else channels
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(n_out, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv(x))  # (B, C, L)
        if self.pool == "local":
            h = F.max_pool1d(h, self.pool_size).flatten(1)
        else:
            h = h.amax(-1)
        return self.out(self.dropout(h))


def fit_cnn(x: torch.Tensor, y: torch.Tensor, num_classes: int, *, epochs: int = 15, lr: float = 2e-3,
            batch_size: int = 64, weight_decay: float = 1e-3, seed: int = 0, pool: str = "local",
            channels: int = 64, width: int = 9, min_steps: int = 0) -> OneHotCNN:
    """Train :class:`OneHotCNN` with AdamW on one-hot inputs ``x`` (N, 4, L) and labels ``y`` (N,).

    ``min_steps``: at least this many optimizer steps (more epochs on a small training set).
    """
    torch.manual_seed(seed)
    model = OneHotCNN(x.shape[-1], num_classes, channels=channels, width=width, pool=pool)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    g = torch.Generator().manual_seed(seed)
    model.train()
    epochs = max(epochs, math.ceil(min_steps / math.ceil(len(y) / batch_size)))
    for _ in range(epochs):
        for idx in torch.randperm(len(y), generator=g).split(batch_size):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


# ---- running a baseline on a task -----------------------------------------------------------------


def _predict_split(model_name: str, split: Split, num_classes: int, *, k: int, l2: float, epochs: int,
                   seed: int, pool: str, width: int, min_steps: int = 0) -> dict[str, torch.Tensor]:
    """Fit on ``split``'s training part; predicted labels of each evaluation set."""
    if model_name == "kmer-lr":
        feats = lambda s: kmer_frequencies(s, k)  # noqa: E731
    else:
        feats = lambda s: one_hot(s)  # noqa: E731
    x = feats(split.train_seqs)
    y = split.train_labels
    if model_name == "cnn":
        model = fit_cnn(x, y, num_classes, epochs=epochs, seed=seed, pool=pool, width=width, min_steps=min_steps)
        with torch.no_grad():
            return {name: model(feats(s)).argmax(-1) for name, (s, _) in split.evals.items()}
    x = x.flatten(1)
    scale = _Standardize(x)
    lin = fit_logistic_regression(scale(x), y, num_classes, l2=l2, seed=seed)
    with torch.no_grad():
        return {name: lin(scale(feats(s).flatten(1))).argmax(-1) for name, (s, _) in split.evals.items()}


def run_baseline(task: str, model: str, *, k: int = 6, l2: float | None = None, epochs: int | None = None,
                 seed: int = 0, folds: int = 10, pool: str | None = None, width: int | None = None,
                 max_train: int | None = None, max_eval: int | None = None, check_collapse: bool = True,
                 fraction: float = 1.0, split_seed: int = 0, min_steps: int = 0) -> dict:
    """Fit and evaluate one baseline on one task; returns a JSON-ready dict.

    Args:
        task: one of :data:`~.tasks.TASKS`; model: one of :data:`MODELS`.
        k: k-mer length of ``kmer-lr``.
        l2: L2 strength of the logistic regressions (default 1e-2 for k-mers, 1e-1 for one-hot).
        epochs: CNN epochs over the training set (default 15, splice 30).
        folds: promoters: number of cross-validation folds (106 = leave-one-out).
        pool, width: CNN pooling (``"local"``: position kept, or ``"global"``) and filter width
            (default: :data:`CNN_DEFAULTS` of the task).
        max_train, max_eval: subsample the splits (quick checks and tests only).
        check_collapse: raise :class:`~.tasks.ModelCollapseError` on single-class predictions.
        fraction: train on this stratified fraction of the training labels (drawn with ``seed``).
        split_seed: promoters: the seed of the cross-validation folds (repeated cross-validation).
        min_steps: the CNN trains for at least this many optimizer steps.

    Returns:
        ``{"task", "model", "protocol", "accuracy", "f1", "mcc", "n", "predicted_counts", "seconds", ...}``
        with the test-split metrics at the top level and, for tfbs, ``"heldout": {...}`` too.
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if l2 is None:
        l2 = 1e-2 if model == "kmer-lr" else 1e-1
    num_classes = len(CLASS_NAMES[task])
    epochs = epochs or (30 if task == "splice" else 15)
    pool = pool or CNN_DEFAULTS[task]["pool"]
    width = width or CNN_DEFAULTS[task]["width"]
    t0 = time.perf_counter()
    preds: dict[str, list[torch.Tensor]] = {}
    truth: dict[str, list[torch.Tensor]] = {}
    for split in task_splits(task, folds=folds, seed=split_seed if task == "promoters" else 0):
        split = label_fraction(subsample(split, max_train, max_eval, seed=seed), fraction, seed=seed)
        for name, p in _predict_split(model, split, num_classes, k=k, l2=l2, epochs=epochs, seed=seed, pool=pool,
                                      width=width, min_steps=min_steps).items():
            preds.setdefault(name, []).append(p)
            truth.setdefault(name, []).append(split.evals[name][1])
    result = {"task": task, "model": model, "protocol": evaluation_protocol(task, folds)}
    params = {"k": k, "l2": l2} if model == "kmer-lr" else {"l2": l2} if model == "onehot-lr" else {"epochs": epochs, "pool": pool, "width": width}
    result["params"] = (params | {"seed": seed} | ({"folds": folds, "split_seed": split_seed} if task == "promoters" else {})
                        | ({"fraction": fraction} if fraction != 1.0 else {}) | ({"min_steps": min_steps} if min_steps else {}))
    for name in preds:
        p, t = torch.cat(preds[name]), torch.cat(truth[name])
        m = metrics(t, p, num_classes)
        if name == "test":
            result.update(m)
        else:
            result[name] = m
        if check_collapse:
            check_not_collapsed(p, num_classes, split=name, hint="For a baseline, also check the features (--k, --l2).")
    result["seconds"] = round(time.perf_counter() - t0, 2)
    return result

