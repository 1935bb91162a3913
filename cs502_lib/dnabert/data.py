"""Masked-LM batches from a genome: random windows (both strands) for training, a fixed held-out set for evaluation.

The genome is split once: the first ``1 - heldout_frac`` of its bases are the training
region, the rest (the last 5 % by default) is never seen in training. A window of
``seq_len`` tokens is ``[CLS]``, ``seq_len - 2`` overlapping k-mers, ``[SEP]``; it spans
``seq_len - 2 + k - 1`` bases and lies entirely inside one region. Half of the windows
are read on the reverse strand (reverse complement).

Every batch is a pure function of ``(seed, step)``: the same step gives the same
windows and the same span mask on every process and after a resume. Distributed
training draws the *global* batch on every rank and keeps its own rows
(:func:`shard_rows`), so the union of the ranks' micro-batches is exactly the batch a
single process would train on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .._validation import require_positive_int
from ..bio.kmers import CLS_ID, SEP_ID, kmer_ids
from ..bio.masking import span_mask
from ..bio.sequences import dna_codes

__all__ = ["MaskedBatch", "GenomeCorpus", "shard_rows", "step_generator"]


@dataclass
class MaskedBatch:
    """One masked-LM batch: ``ids`` (original), ``masked_ids`` (model input) and ``labels``, all LongTensor (B, L)."""

    ids: torch.Tensor
    masked_ids: torch.Tensor
    labels: torch.Tensor

    def rows(self, start: int, stop: int) -> "MaskedBatch":
        return MaskedBatch(self.ids[start:stop], self.masked_ids[start:stop], self.labels[start:stop])

    def to(self, device) -> "MaskedBatch":
        return MaskedBatch(self.ids.to(device), self.masked_ids.to(device), self.labels.to(device))


def step_generator(seed: int, step: int, stream: int = 0) -> torch.Generator:
    """A CPU generator determined by (seed, step, stream) alone."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 7 + stream)


def shard_rows(batch_size: int, rank: int, world_size: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of a global batch that rank ``rank`` of ``world_size`` trains on."""
    require_positive_int("batch_size", batch_size)
    require_positive_int("world_size", world_size)
    if batch_size % world_size:
        raise ValueError(f"batch_size={batch_size} must be divisible by the number of processes {world_size}")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
    per = batch_size // world_size
    return rank * per, (rank + 1) * per


class GenomeCorpus:
    """A genome as base codes, split into a training region and a held-out region (the last bases).

    Args:
        genome: DNA string (A/C/G/T, either case), e.g. :func:`cs502_lib.data.load_genome`.
        k: k-mer length.
        heldout_frac: fraction of the genome (its end) kept for evaluation, in (0, 0.5].
        mask_prob: span-masking rate passed to :func:`~cs502_lib.bio.masking.span_mask`.
    """

    def __init__(self, genome: str, k: int, heldout_frac: float = 0.05, mask_prob: float = 0.15) -> None:
        self.k = require_positive_int("k", k)
        if not 0.0 < heldout_frac <= 0.5:
            raise ValueError(f"heldout_frac must be in (0, 0.5], got {heldout_frac!r}")
        self.codes = torch.from_numpy(dna_codes(genome, "genome").copy())  # (N,) uint8
        self.mask_prob = mask_prob
        self.n_bases = self.codes.numel()
        self.train_end = int(round(self.n_bases * (1.0 - heldout_frac)))

    def window_bases(self, seq_len: int) -> int:
        """Bases covered by a window of ``seq_len`` tokens ([CLS] + k-mers + [SEP])."""
        if seq_len < 3:
            raise ValueError(f"seq_len must be at least 3 ([CLS], one k-mer, [SEP]), got {seq_len}")
        return seq_len - 2 + self.k - 1

    def region(self, heldout: bool) -> tuple[int, int]:
        """``(start, end)`` base coordinates of the training or held-out region."""
        return (self.train_end, self.n_bases) if heldout else (0, self.train_end)

    def windows(self, starts: torch.Tensor, reverse: torch.Tensor, seq_len: int) -> torch.Tensor:
        """Token ids of windows: starts (B,) base offsets, reverse (B,) bool -> LongTensor (B, seq_len)."""
        nb = self.window_bases(seq_len)
        codes = self.codes[starts.unsqueeze(1) + torch.arange(nb)]  # (B, nb)
        codes = torch.where(reverse.unsqueeze(1), 3 - codes.flip(-1), codes)
        body = kmer_ids(codes, self.k)  # (B, seq_len - 2)
        B = body.shape[0]
        return torch.cat(
            [torch.full((B, 1), CLS_ID, dtype=torch.long), body, torch.full((B, 1), SEP_ID, dtype=torch.long)], 1
        )

    def sample(self, generator: torch.Generator, batch_size: int, seq_len: int, heldout: bool = False) -> MaskedBatch:
        """``batch_size`` random windows of one region (random strand), span-masked with ``generator``."""
        require_positive_int("batch_size", batch_size)
        lo, hi = self.region(heldout)
        last = hi - self.window_bases(seq_len)
        if last < lo:
            raise ValueError(f"seq_len={seq_len} is longer than the {'held-out' if heldout else 'training'} region")
        starts = torch.randint(lo, last + 1, (batch_size,), generator=generator)
        reverse = torch.rand(batch_size, generator=generator) < 0.5
        ids = self.windows(starts, reverse, seq_len)
        masked, labels = span_mask(ids, self.k, self.mask_prob, generator=generator)
        return MaskedBatch(ids, masked, labels)

    def train_batch(self, seed: int, step: int, batch_size: int, seq_len: int) -> MaskedBatch:
        """The global training batch of ``step`` (a pure function of seed and step)."""
        return self.sample(step_generator(seed, step), batch_size, seq_len)

    def heldout_set(self, n_windows: int, seq_len: int, seed: int = 0) -> MaskedBatch:
        """A fixed evaluation set: ``n_windows`` masked windows of the held-out region (seed 0 by default)."""
        return self.sample(step_generator(seed, 0, stream=1), n_windows, seq_len, heldout=True)

    def train_codes(self, both_strands: bool = True) -> list[np.ndarray]:
        """Base codes of the training region (and its reverse complement), for count baselines."""
        fwd = self.codes[: self.train_end].numpy()
        return [fwd, (3 - fwd[::-1]).copy()] if both_strands else [fwd]
