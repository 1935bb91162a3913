r"""Contiguous span masking for masked-language-model pretraining on k-mer tokens.

Why spans? Overlapping k-mers leak: the k-mer at token i shares k - 1 bases with
its neighbours at i - 1 and i + 1. Mask a single token and the model can read all
of its bases off the neighbours, learning nothing. DNABERT therefore masks *k
consecutive tokens* at once. Tokens s, ..., s + k - 1 together cover the bases
s, ..., s + 2k - 2; the unmasked neighbours s - 1 and s + k still cover all of
them except base s + k - 1, the one base that every masked k-mer contains (their
shared "centre"). So an isolated masked span hides exactly one base, and the
model must predict it from context.

How the spans are placed (design choice). Every token position j is, independently,
the *start* of a span with probability q, and token j is masked when any of the k
starts j - k + 1, ..., j was drawn. Starts are drawn for k - 1 virtual positions
before the row as well, so every position has the same k candidate starts and is
masked with probability exactly

.. math::  P(\text{masked}) = 1 - (1 - q)^k .

Solving for q with P = ``mask_prob`` gives :math:`q = 1 - (1 - \text{mask\_prob})^{1/k}`,
so the *expected* fraction of masked tokens is ``mask_prob`` exactly, whatever the
overlaps between spans and wherever the edges are. Spans are then cut to the maskable
tokens: [PAD], [CLS] and [SEP] are never masked, so a span that runs into one of
them is shorter than k (this only happens within k - 1 tokens of an edge). Away
from the edges every run of masked tokens is at least k long (overlapping spans
merge into longer runs). Drawing a fixed *number* of spans instead would give the
wrong fraction once spans overlap; drawing starts only where a whole span fits
would under-mask the first and last k - 1 tokens.

Everything is vectorized: one uniform draw per position and a sliding-window sum
(prefix sums) to spread each start over its span.
"""

from __future__ import annotations

import torch

from .._validation import require_positive_int
from .kmers import CLS_ID, MASK_ID, PAD_ID, SEP_ID

__all__ = ["IGNORE_INDEX", "span_mask", "span_start_probability"]

#: Label of the positions that are not predicted (the default ``ignore_index`` of ``F.cross_entropy``).
IGNORE_INDEX = -100


def span_start_probability(k: int, mask_prob: float) -> float:
    """Per-position probability q of a span start such that ``1 - (1 - q)**k == mask_prob``."""
    return 1.0 - (1.0 - mask_prob) ** (1.0 / k)


def span_mask(
    input_ids: torch.Tensor,
    k: int,
    mask_prob: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask contiguous spans of k tokens for masked-LM training (DNABERT style).

    Args:
        input_ids: LongTensor ``(B, L)`` of ids from :func:`~cs502_lib.bio.kmers.build_kmer_vocab`.
        k: span length in tokens (the k of the k-mers).
        mask_prob: expected fraction of maskable tokens that end up masked, in [0, 1].
            Maskable = every token except ``[PAD]`` (0), ``[CLS]`` (2) and ``[SEP]`` (3).
        generator: optional :class:`torch.Generator` for reproducible masks (the same seed
            gives the same mask); the global RNG is used when None. The random numbers are
            drawn on the generator's device and moved to ``input_ids``'s device.

    Returns:
        ``(masked_ids, labels)``, both LongTensor ``(B, L)`` on ``input_ids``'s device:
        ``masked_ids`` is a copy of ``input_ids`` with ``[MASK]`` (4) at the masked positions;
        ``labels`` holds the original id there and -100 (:data:`IGNORE_INDEX`) everywhere else.
        ``input_ids`` itself is not modified.

    Raises:
        ValueError: if ``input_ids`` is not an integer tensor of shape (B, L), holds negative ids
        (checked for CPU tensors), k is not a positive integer, or ``mask_prob`` is not a number in [0, 1].

    Note:
        The number of masked tokens is random (binomial-like around ``mask_prob`` times the
        number of maskable tokens); a short row may get no masked token at all.
    """
    if not isinstance(input_ids, torch.Tensor):
        raise ValueError(f"input_ids must be a torch.Tensor, got {type(input_ids).__name__}")
    if input_ids.dtype.is_floating_point or input_ids.dtype.is_complex or input_ids.dtype == torch.bool:
        raise ValueError(f"input_ids must be an integer (torch.long) tensor of token ids, got dtype {input_ids.dtype}")
    if input_ids.dim() != 2:
        raise ValueError(f"input_ids must have shape (B, L), got {tuple(input_ids.shape)}")
    k = require_positive_int("k", k)
    if isinstance(mask_prob, bool) or not isinstance(mask_prob, (int, float)) or not 0.0 <= mask_prob <= 1.0:
        raise ValueError(f"mask_prob must be a number in [0, 1], got {mask_prob!r}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    # Value check on the CPU only: on a GPU it would cost a synchronization for every batch.
    if input_ids.device.type == "cpu" and input_ids.numel() and bool((input_ids < 0).any()):
        raise ValueError("input_ids holds negative values; token ids start at 0 ([PAD])")

    ids = input_ids.long()
    batch, length = ids.shape
    device = ids.device
    q = span_start_probability(k, float(mask_prob))

    # Starts for positions -(k-1) .. L-1 (the first k-1 are virtual, before the row).
    draw_device = generator.device if generator is not None else device
    uniform = torch.rand(batch, length + k - 1, generator=generator, device=draw_device).to(device)
    starts = (uniform < q).to(torch.int32)
    # Token j is covered by the starts at (padded) columns j .. j+k-1: a window sum via prefix sums.
    prefix = torch.nn.functional.pad(starts.cumsum(dim=1, dtype=torch.int32), (1, 0))
    covered = (prefix[:, k:] - prefix[:, :-k]) > 0  # (B, L)

    maskable = (ids != PAD_ID) & (ids != CLS_ID) & (ids != SEP_ID)
    masked = covered & maskable
    masked_ids = ids.masked_fill(masked, MASK_ID)
    labels = torch.where(masked, ids, torch.full_like(ids, IGNORE_INDEX))
    return masked_ids, labels
