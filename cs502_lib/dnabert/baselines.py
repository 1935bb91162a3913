"""Baselines for masked k-mer prediction, on the same held-out masked windows as pretraining.

* **Frequency**: predict the most frequent k-mer of the training region for every
  masked token.
* **Neighbour count**: read every base that an unmasked k-mer reveals; each remaining
  base is predicted as the most frequent centre base of the training region given up to
  ``c`` known neighbouring bases on either side (counts of all (2c+1)-mers of both
  strands, and their marginals for shorter or one-sided contexts, where a window edge or
  further unknown bases cut the context). Runs of unknown bases are filled one base at a
  time, each prediction becoming context for the next. The
  k-mer of a masked token is then read off the filled bases; it is right when all k
  bases are. An isolated masked span hides exactly one base, so this is mostly a
  (2c+1)-mer model of one base.

``python -m cs502_lib.dnabert baselines [--model DIR]`` prints both (for every c up
to ``--context``) and, with ``--model``, the accuracy of a saved DNABERT on the same
windows.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from ..bio.kmers import NUM_SPECIAL, kmer_bases
from ..bio.masking import IGNORE_INDEX
from .data import GenomeCorpus, MaskedBatch

__all__ = ["window_bases", "frequency_baseline", "CountModel", "neighbour_count_baseline", "add_arguments", "run"]


def window_bases(ids: torch.Tensor, k: int) -> torch.Tensor:
    """Bases of windows ``[CLS] k-mers [SEP]`` that the non-masked k-mers reveal.

    Args:
        ids: LongTensor (B, L), [CLS] at 0 and [SEP] at L-1, k-mers or [MASK] in between.
        k: k-mer length.

    Returns:
        LongTensor (B, L - 2 + k - 1): base codes, -1 where no visible k-mer covers the base.
        Token t (1 <= t <= L-2) covers bases t-1 ... t+k-2.
    """
    body = ids[:, 1:-1]
    n = body.shape[1]
    kb = kmer_bases(body, k)  # (B, n, k), -1 for [MASK]
    known = torch.full((ids.shape[0], n + k - 1), -1, dtype=torch.long)
    for j in range(k):
        seg = known[:, j : j + n]
        known[:, j : j + n] = torch.where(kb[..., j] >= 0, kb[..., j], seg)
    return known


def _ids_from_bases(bases: torch.Tensor, k: int) -> torch.Tensor:
    """Ids of every k-mer of base rows (B, n+k-1) -> (B, n) (bases must be 0..3)."""
    n = bases.shape[1] - k + 1
    out = torch.zeros(bases.shape[0], n, dtype=torch.long)
    for j in range(k):
        out = out * 4 + bases[:, j : j + n]
    return out + NUM_SPECIAL


def _accuracy(pred_ids: torch.Tensor, labels: torch.Tensor) -> float:
    keep = labels != IGNORE_INDEX
    return float(((pred_ids == labels) & keep).sum()) / max(int(keep.sum()), 1)


def frequency_baseline(corpus: GenomeCorpus, data: MaskedBatch) -> dict:
    """Accuracy of always predicting the training region's most frequent k-mer (both strands)."""
    k = corpus.k
    counts = np.zeros(4**k, dtype=np.int64)
    for codes in corpus.train_codes():
        idx = np.zeros(codes.size - k + 1, dtype=np.int64)
        for j in range(k):
            idx = idx * 4 + codes[j : j + idx.size]
        counts += np.bincount(idx, minlength=4**k)
    top = int(counts.argmax()) + NUM_SPECIAL
    pred = torch.full_like(data.labels, top)
    return {"accuracy": _accuracy(pred, data.labels), "kmer_id": top}


class CountModel:
    """Most frequent centre base given ``a`` bases on its left and ``b`` on its right, for all a, b <= context.

    One table of counts of all (2 * context + 1)-mers of the training sequences; the shorter
    contexts are its marginals. ``table[a, b]`` is an int array (4**a, 4**b): [left a-mer index,
    right b-mer index] -> the most frequent centre base (0..3).
    """

    def __init__(self, train_codes: list[np.ndarray], context: int) -> None:
        if not isinstance(context, int) or not 0 <= context <= 6:
            raise ValueError(f"context must be an integer in 0..6 bases per side, got {context!r}")
        self.context = c = context
        w = 2 * c + 1
        counts = np.zeros(4**w, dtype=np.int64)
        for codes in train_codes:
            idx = np.zeros(codes.size - w + 1, dtype=np.int64)
            for j in range(w):
                idx = idx * 4 + codes[j : j + idx.size]
            counts += np.bincount(idx, minlength=4**w)
        counts = counts.reshape((4,) * w)
        self.table: dict[tuple[int, int], np.ndarray] = {}
        for a in range(c + 1):
            for b in range(c + 1):
                axes = tuple(range(c - a)) + tuple(range(c + 1 + b, w))
                marginal = counts.sum(axis=axes) if axes else counts
                self.table[a, b] = marginal.reshape(4**a, 4, 4**b).argmax(axis=1)

    def fill(self, known: np.ndarray, context: int | None = None) -> np.ndarray:
        """Fill the -1 entries of one row of base codes with predictions.

        Each base uses the known (or already filled) bases next to it, at most ``context`` per
        side. A run of unknown bases is filled left to right, except one that starts the row,
        which is filled right to left (so that it always has context on one side).
        """
        c = self.context if context is None else context
        if not 0 <= c <= self.context:
            raise ValueError(f"context must be in 0..{self.context}, got {context}")
        f = known.copy()
        n = f.size
        unknown = np.flatnonzero(known < 0)
        if unknown.size == 0:
            return f
        order = list(unknown)
        if unknown[0] == 0:  # the leading run, right to left
            lead = 0
            while lead + 1 < unknown.size and unknown[lead + 1] == unknown[lead] + 1:
                lead += 1
            order = order[lead::-1] + order[lead + 1 :]
        for p in order:
            a = 0
            while a < min(c, p) and f[p - a - 1] >= 0:
                a += 1
            b = 0
            while b < min(c, n - 1 - p) and f[p + b + 1] >= 0:
                b += 1
            left = right = 0
            for x in f[p - a : p]:
                left = left * 4 + int(x)
            for x in f[p + 1 : p + 1 + b]:
                right = right * 4 + int(x)
            f[p] = self.table[a, b][left, right]
        return f


def neighbour_count_baseline(corpus: GenomeCorpus, data: MaskedBatch, context: int = 5,
                             model: CountModel | None = None) -> dict:
    """Masked-token accuracy of the neighbour-count model for every c in 1..context."""
    model = model or CountModel(corpus.train_codes(), context)
    known = window_bases(data.masked_ids, corpus.k).numpy()
    result = {}
    for c in range(1, context + 1):
        filled = np.stack([model.fill(row, c) for row in known])
        pred = torch.full_like(data.labels, -1)
        pred[:, 1:-1] = _ids_from_bases(torch.from_numpy(filled).long(), corpus.k)
        result[c] = _accuracy(pred, data.labels)
    return result


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``baselines`` subcommand's options (defaults = pretraining's evaluation set)."""
    a = p.add_argument
    a("--k", type=int, default=6)
    a("--seq-len", type=int, default=128)
    a("--eval-windows", type=int, default=512)
    a("--heldout-frac", type=float, default=0.05)
    a("--mask-prob", type=float, default=0.15)
    a("--context", type=int, default=5, help="largest number of neighbouring bases per side (default 5)")
    a("--model", type=Path, default=None, help="also evaluate a saved DNABERT (a save_pretrained directory)")
    a("--json", action="store_true", help="print one JSON object as the last line")


def run(args: argparse.Namespace) -> dict:
    from ..data import load_genome

    corpus = GenomeCorpus(load_genome(), args.k, heldout_frac=args.heldout_frac, mask_prob=args.mask_prob)
    data = corpus.heldout_set(args.eval_windows, args.seq_len)
    n_masked = int((data.labels != IGNORE_INDEX).sum())
    freq = frequency_baseline(corpus, data)
    counts = neighbour_count_baseline(corpus, data, args.context)
    best_c = max(counts, key=counts.get)
    out = {"masked_tokens": n_masked, "windows": args.eval_windows, "frequency": freq["accuracy"],
           "neighbour_count": {str(c): a for c, a in counts.items()}, "neighbour_count_best": counts[best_c],
           "neighbour_count_best_c": best_c}
    print(f"held-out masked tokens: {n_masked} in {args.eval_windows} windows of {args.seq_len} tokens (k={args.k})")
    print(f"{'frequency baseline (most frequent k-mer)':<48} {freq['accuracy']:.4%}")
    for c, a in counts.items():
        print(f"{f'neighbour count, {c} bases each side':<48} {a:.4%}")
    if args.model is not None:
        from .model import DNABertForMaskedLM
        from .pretrain import evaluate

        model = DNABertForMaskedLM.from_pretrained(args.model)
        if model.config.k != args.k:
            raise ValueError(f"the model has k={model.config.k}, but --k is {args.k}")
        res = evaluate(model, data)
        out["model"] = res["eval_acc"]
        print(f"{'DNABERT-mini (' + str(args.model) + ')':<48} {res['eval_acc']:.4%}")
    if args.json:
        print(json.dumps(out))
    return out
