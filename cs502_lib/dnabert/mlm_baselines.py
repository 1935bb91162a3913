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

:func:`mlm_baselines` computes both (for every c up to ``context``) and, with ``model``, the
accuracy of a saved DNABERT on the same windows; ``python -m cs502_lib.dnabert mlm-baselines
[--model DIR]`` prints them. (The classifiers' baselines of fine-tuning are in
:mod:`.classifier_baselines`.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..bio.kmers import NUM_SPECIAL, kmer_bases
from ..bio.masking import IGNORE_INDEX
from .data import GenomeCorpus, MaskedBatch

__all__ = ["window_bases", "frequency_baseline", "CountModel", "neighbour_count_baseline", "mlm_baselines"]


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



def mlm_baselines(*, k: int = 6, seq_len: int = 128, eval_windows: int = 512, heldout_frac: float = 0.05,
                  mask_prob: float = 0.15, context: int = 5, model: str | Path | None = None,
                  genome: str | None = None) -> dict:
    """Both baselines (and a saved DNABERT, with ``model``) on pretraining's held-out masked windows.

    The defaults are pretraining's evaluation set (:class:`~.pretrain.PretrainSettings`); ``genome``
    replaces the shipped E. coli genome.

    Returns:
        ``{"masked_tokens", "windows", "frequency", "neighbour_count": {"1": acc, ...},
        "neighbour_count_best", "neighbour_count_best_c"}`` and ``"model"`` (its accuracy) with ``model``.
    """
    if genome is None:
        from ..data import load_genome

        genome = load_genome()
    corpus = GenomeCorpus(genome, k, heldout_frac=heldout_frac, mask_prob=mask_prob)
    data = corpus.heldout_set(eval_windows, seq_len)
    n_masked = int((data.labels != IGNORE_INDEX).sum())
    freq = frequency_baseline(corpus, data)
    counts = neighbour_count_baseline(corpus, data, context)
    best_c = max(counts, key=counts.get)
    out = {"masked_tokens": n_masked, "windows": eval_windows, "frequency": freq["accuracy"],
           "neighbour_count": {str(c): a for c, a in counts.items()}, "neighbour_count_best": counts[best_c],
           "neighbour_count_best_c": best_c}
    if model is not None:
        from .model import DNABertForMaskedLM
        from .pretrain import evaluate

        dnabert = DNABertForMaskedLM.from_pretrained(model)
        if dnabert.config.k != k:
            raise ValueError(f"the model has k={dnabert.config.k}, but --k is {k}")
        out["model"] = evaluate(dnabert, data)["eval_acc"]
    return out
