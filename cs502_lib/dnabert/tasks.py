"""The three sequence-classification tasks of the DNABERT chapter, with their fixed splits and metrics.

Both the classical baselines (:mod:`.classifier_baselines`) and fine-tuning (:mod:`.finetune`)
train and evaluate on exactly the splits defined here:

| task | classes | train | evaluated on |
|---|---|---|---|
| ``promoters`` | 0 non-promoter, 1 promoter | the other folds | stratified ``promoter_folds(n_folds)`` cross-validation (10 folds by default, 106 = leave-one-out); the predictions of all folds are pooled |
| ``tfbs`` | 0 MafK, 1 Oct4 | 90 % of the training files | ``test``: the 200 sequences of the test files; ``heldout``: the fixed 10 % of the training files (:func:`~cs502_lib.data.tfbs_heldout_split`) |
| ``splice`` | 0 neither, 1 donor (EI), 2 acceptor (IE) | StatLog's first 2,000 rows | ``test``: the last 1,186 rows |

:func:`metrics` computes accuracy, macro F1 and MCC with :mod:`cs502_lib.training`;
:func:`check_not_collapsed` raises :class:`ModelCollapseError` when a model predicts one
class for every sequence of an evaluation split.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import torch

from ..data import SPLICE_CLASSES, load_promoters, load_splice, load_tfbs, promoter_folds, tfbs_heldout_split
from ..training import accuracy, f1_score, mcc

__all__ = [
    "TASKS",
    "CLASS_NAMES",
    "Split",
    "task_splits",
    "evaluation_protocol",
    "metrics",
    "ModelCollapseError",
    "check_not_collapsed",
    "subsample",
    "label_fraction",
    "print_result",
]

TASKS = ("promoters", "tfbs", "splice")

#: Class names of each task, index = label.
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "promoters": ("non-promoter", "promoter"),
    "tfbs": ("MafK", "Oct4"),
    "splice": tuple({"n": "neither", "ei": "donor (EI)", "ie": "acceptor (IE)"}[c] for c in SPLICE_CLASSES),
}


@dataclass
class Split:
    """One train/evaluate split: training sequences and labels, and named evaluation sets.

    ``evals`` maps a name (``"test"``, ``"heldout"``) to ``(seqs, labels)``.
    """

    train_seqs: list[str]
    train_labels: torch.Tensor
    evals: dict[str, tuple[list[str], torch.Tensor]] = field(default_factory=dict)


def _take(seqs: list[str], labels: torch.Tensor, idx: torch.Tensor) -> tuple[list[str], torch.Tensor]:
    return [seqs[i] for i in idx.tolist()], labels[idx]


def task_splits(task: str, folds: int = 10, seed: int = 0) -> list[Split]:
    """The fixed splits of ``task``: one :class:`Split` per fold for promoters, one otherwise.

    Args:
        task: ``"promoters"``, ``"tfbs"`` or ``"splice"``.
        folds: promoters only: number of stratified folds (106 = leave-one-out).
        seed: the seed of :func:`~cs502_lib.data.promoter_folds` and
            :func:`~cs502_lib.data.tfbs_heldout_split` (0 = the course's fixed splits).
    """
    if task == "promoters":
        seqs, labels = load_promoters()
        out = []
        for train_idx, test_idx in promoter_folds(folds, seed=seed):
            tr = _take(seqs, labels, train_idx)
            out.append(Split(tr[0], tr[1], {"test": _take(seqs, labels, test_idx)}))
        return out
    if task == "tfbs":
        seqs, labels = load_tfbs("train")
        train_idx, held_idx = tfbs_heldout_split(seed=seed)
        tr = _take(seqs, labels, train_idx)
        return [Split(tr[0], tr[1], {"test": load_tfbs("test"), "heldout": _take(seqs, labels, held_idx)})]
    if task == "splice":
        tr = load_splice("train")
        return [Split(tr[0], tr[1], {"test": load_splice("test")})]
    raise ValueError(f"task must be one of {TASKS}, got {task!r}")


def evaluation_protocol(task: str, folds: int = 10) -> str:
    """One line saying how ``task`` is evaluated (printed with the results)."""
    if task == "promoters":
        what = "leave-one-out" if folds == 106 else f"{folds}-fold stratified cross-validation"
        return f"{what} over the 106 UCI promoter sequences (predictions of all folds pooled)"
    if task == "tfbs":
        return "trained on 90% of the Oct4/MafK training files; test = the 200 test-file sequences, heldout = the fixed other 10%"
    if task == "splice":
        return "StatLog split: first 2,000 rows train, last 1,186 rows test (3 classes)"
    raise ValueError(f"task must be one of {TASKS}, got {task!r}")


def metrics(y_true: torch.Tensor, y_pred: torch.Tensor, num_classes: int) -> dict:
    """Accuracy, macro F1, MCC, the number of sequences and how often each class was predicted."""
    y_true = torch.as_tensor(y_true).long().reshape(-1)
    y_pred = torch.as_tensor(y_pred).long().reshape(-1)
    return {
        "accuracy": accuracy(y_true, y_pred),
        "f1": f1_score(y_true, y_pred, average="macro"),
        "mcc": mcc(y_true, y_pred),
        "n": int(y_true.numel()),
        "predicted_counts": torch.bincount(y_pred, minlength=num_classes).tolist(),
    }


class ModelCollapseError(RuntimeError):
    """A classifier predicted the same class for every sequence of an evaluation split."""


def check_not_collapsed(y_pred: torch.Tensor, num_classes: int, split: str = "test", hint: str = "") -> None:
    """Raise :class:`ModelCollapseError` if ``y_pred`` holds a single class (and there are several).

    The message names the class and the split and lists the usual causes.
    """
    y_pred = torch.as_tensor(y_pred).long().reshape(-1)
    counts = torch.bincount(y_pred, minlength=num_classes)
    if y_pred.numel() > 1 and int((counts > 0).sum()) == 1:
        only = int(counts.argmax())
        raise ModelCollapseError(
            f"model collapse: the classifier predicts class {only} for all {y_pred.numel()} {split} sequences, "
            "so its accuracy is just that class's share. Likely causes: a learning rate too high (the "
            "encoder's features were destroyed; try --lr 1e-4 or lower) or too low to move the classifier, "
            "unbalanced classes in the training batches, or too few epochs (try --epochs larger)."
            + (f" {hint}" if hint else "")
        )


def subsample(split: Split, max_train: int | None, max_eval: int | None, seed: int = 0) -> Split:
    """A smaller copy of ``split`` (stratified-by-shuffling, seeded): at most ``max_train``/``max_eval`` sequences.

    For quick checks and tests only; reported results always use the full splits.
    """
    g = torch.Generator().manual_seed(seed)

    def cut(seqs, labels, n):
        if n is None or n >= len(seqs):
            return seqs, labels
        idx = torch.randperm(len(seqs), generator=g)[:n].sort().values
        return _take(seqs, labels, idx)

    tr = cut(split.train_seqs, split.train_labels, max_train)
    return Split(tr[0], tr[1], {name: cut(s, y, max_eval) for name, (s, y) in split.evals.items()})


def label_fraction(split: Split, fraction: float, seed: int = 0) -> Split:
    """``split`` with a stratified ``fraction`` of its training labels (the evaluation sets unchanged).

    Each class keeps ``max(1, round(fraction * n_class))`` of its training sequences, drawn with
    ``seed`` (another seed, another subset); ``fraction=1`` returns ``split`` itself. This is the
    label-efficiency experiment's knob: the model sees fewer labelled examples, the test set stays.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    if fraction == 1.0:
        return split
    g = torch.Generator().manual_seed(10_007 * seed + 1)
    keep = []
    for c in split.train_labels.unique(sorted=True).tolist():
        idx = (split.train_labels == c).nonzero().flatten()
        n = max(1, round(fraction * len(idx)))
        keep.append(idx[torch.randperm(len(idx), generator=g)[:n]])
    tr = _take(split.train_seqs, split.train_labels, torch.cat(keep).sort().values)
    return Split(tr[0], tr[1], split.evals)


def print_result(title: str, res: dict, footer: str, *, as_json: bool = False) -> None:
    """Print a run's metrics (test split, and the held-out split when present) for the command line.

    With ``as_json`` the last line of stdout is ``res`` as one JSON object (the CLI contract).
    """
    print(title)
    print(f"  test     accuracy {res['accuracy']:.4f}  F1 {res['f1']:.4f}  MCC {res['mcc']:.4f}  (n={res['n']})")
    if "heldout" in res:
        h = res["heldout"]
        print(f"  heldout  accuracy {h['accuracy']:.4f}  F1 {h['f1']:.4f}  MCC {h['mcc']:.4f}  (n={h['n']})")
    print(f"  {footer}")
    if as_json:
        print(json.dumps(res))
