"""Check of the ``dnabert`` assignment's ``span_mask``.

Masking is random, so the check verifies properties rather than values: spans of k tokens, the
masked fraction over many draws, special tokens untouched, labels, ``[MASK]`` = 4, the input
unchanged, reproducibility with a generator; on the CPU, on ``meta`` (device placement) and on
CUDA when present.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ..bio import kmers as _kmers
from ..bio import masking as _masking
from .context import Context
from .guards import reference_item, shielded, torch_refused_modules
from .hidden import seeded, tensors
from .report import CheckReport
from .run import run_check

__all__ = ["check_span_mask"]

PAD, CLS, SEP, MASK = _kmers.PAD_ID, _kmers.CLS_ID, _kmers.SEP_ID, _kmers.MASK_ID


def _batch(seed: int, B: int, L: int, k: int, lengths: Sequence[int] | None = None) -> torch.Tensor:
    """Token ids like a tokenizer's batch: [CLS] k-mer ids [SEP] then [PAD]s."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 5 + 4 ** k, (B, L), generator=g)
    lengths = lengths or [L] * B
    for b, n in enumerate(lengths):
        ids[b, 0] = CLS
        ids[b, n - 1] = SEP
        ids[b, n:] = PAD
    return ids


def _runs(row: list[bool]) -> list[tuple[int, int]]:
    """(start, length) of each run of True."""
    out, start = [], None
    for i, v in enumerate(row + [False]):
        if v and start is None:
            start = i
        elif not v and start is not None:
            out.append((start, i - start))
            start = None
    return out


def _bert_rule(ctx: Context, ids, masked_ids, labels, label: str) -> None:
    """Fail, naming BERT's 80/10/10 rule, if most labelled positions hold [MASK] but some keep or swap their token."""
    chosen = labels != -100
    n = int(chosen.sum())
    if not n:
        return
    got, original = masked_ids[chosen], ids[chosen]
    n_mask = int((got == MASK).sum())
    kept = int((got == original).sum())
    other = n - n_mask - kept
    if n_mask >= n / 2 and n_mask < n and bool((labels[chosen] == original).all()):
        ctx.fail("not every position with a label holds [MASK] (4)", label,
                 [f"of the {n} positions with a label, {n_mask} hold [MASK], {kept} keep their own token and {other} "
                  "hold another token"],
                 "BERT's 80/10/10 rule (80% [MASK], 10% a random token, 10% unchanged), as in BERT's and DNABERT's "
                 "pretraining code: this contract replaces *every* masked position with [MASK] (4), and those are "
                 "exactly the positions with a label.")


def _span_call(ctx: Context, impl, ids: torch.Tensor, k: int, p: float, seed: int | None, label: str):
    """One call of the student's span_mask on ``ids``: its outputs on the CPU (None on the meta device)."""
    # A CPU generator only on the CPU run: elsewhere a generator's device would be a guess (global RNG instead).
    gen = torch.Generator().manual_seed(seed) if seed is not None and ctx.device.type == "cpu" else None
    dev_ids = ctx.to(ids)
    args = (dev_ids, k, p) if gen is None else (dev_ids, k, p, gen)
    got = ctx.call(impl, *args, case=label)
    expected = [torch.empty(ids.shape, dtype=torch.long)] * 2
    out = ctx.structure(got, expected, ("masked_ids", "labels"), label, as_tuple=True)
    if ctx.values and not torch.equal(dev_ids.cpu(), ids):
        ctx.fail("your code modified `input_ids` in place", label,
                 cause="write the [MASK] ids into a copy: `masked = input_ids.clone()` (or `masked_fill`, "
                 "which returns a new tensor).")
    return [o.cpu() for o in out] if ctx.values else None


def _span_draw(ctx: Context, ids, k: int, masked_ids, labels, label: str) -> None:
    """What every single draw must satisfy: specials kept, [MASK] ids, labels, spans of k tokens."""
    special = (ids == PAD) | (ids == CLS) | (ids == SEP)
    masked = masked_ids != ids
    ctx.expect(not bool((masked & special).any()), "a special token ([PAD], [CLS] or [SEP]) was masked", label,
               "special tokens masked: only k-mer tokens may be masked; exclude ids 0, 2 and 3 from the candidates.")
    _bert_rule(ctx, ids, masked_ids, labels, label)
    ctx.expect(bool((masked_ids[masked] == MASK).all()), "a masked position does not hold the [MASK] id 4", label,
               f"wrong [MASK] id: masked positions become 4 ([MASK]); found {sorted(set(masked_ids[masked].tolist()))[:5]}.")
    chosen = labels != -100
    ctx.expect(bool((labels[~chosen] == -100).all()) and bool((labels[masked] == ids[masked]).all()),
               "labels are wrong at masked positions", label,
               "labels hold the original id at masked positions and -100 elsewhere.")
    other = sorted(set(labels[~masked].tolist()))
    ctx.expect(other == [-100] or not other, f"labels of unmasked positions are {other[:5]}, not -100", label,
               "labels not -100: positions that are not masked get the label -100 (ignored by the loss).")
    ctx.expect(bool((masked_ids[~masked] == ids[~masked]).all()), "unmasked positions changed", label)
    if k > 1:
        _span_runs(ctx, k, masked, special, label)


def _span_runs(ctx: Context, k: int, masked: torch.Tensor, special: torch.Tensor, label: str) -> None:
    """Masked runs come in spans of k tokens: a shorter run only at a row's edge or next to a special token."""
    for b in range(masked.shape[0]):
        row = masked[b].tolist()
        for start, length in _runs(row):
            end = start + length
            at_edge = start == 0 or end == len(row) or bool(special[b, start - 1]) or bool(special[b, end])
            if length < k and not at_edge:
                ctx.fail(f"a run of only {length} masked token(s) at positions {start}..{end - 1} (row {b})",
                         label, [f"masked positions of the row: {[i for i, v in enumerate(row) if v]}"],
                         f"spans not contiguous: mask k={k} consecutive tokens at a time (overlapping k-mers "
                         "leak a lone masked token's bases from its neighbours).")
    ctx.cases += 1


def _span_body(ctx: Context, impl) -> None:
    """The cases of :func:`check_span_mask`: several k and mask_prob, many draws, mask_prob=0, the generator."""
    for k, p in [(6, 0.15), (3, 0.3), (1, 0.15)]:
        ids = _batch(40 + k, 16, 64, k, lengths=[64, 40, 12, 64] * 4)
        label = f"k={k}, mask_prob={p}, a batch of 16 rows of length 64 ([CLS] ... [SEP] [PAD]...)"
        out = _span_call(ctx, impl, ids, k, p, 0, label)
        if out is None:
            continue
        _span_draw(ctx, ids, k, *out, label)
        # fraction over many draws
        total = masked_n = 0
        maskable = ((ids != PAD) & (ids != CLS) & (ids != SEP)).sum().item()
        for seed in range(1, 9):
            masked_ids, labels = _span_call(ctx, impl, ids, k, p, seed, label)
            masked_n += int((masked_ids != ids).sum())
            total += maskable
        frac = masked_n / total
        ctx.expect(abs(frac - p) <= 0.05 + 0.2 * p,
                   f"over 8 draws {frac:.3f} of the maskable tokens were masked; expected about {p}",
                   label + " (8 draws)",
                   "wrong mask fraction: about mask_prob of the maskable tokens must be masked; with spans of k "
                   "tokens, a span starts with probability about mask_prob / k (or choose mask_prob * n / k "
                   "span starts), not mask_prob.")
    if not ctx.values:
        return
    ids = _batch(50, 4, 30, 3)
    label = "mask_prob=0 masks nothing (k=3)"
    m0, l0 = _span_call(ctx, impl, ids, 3, 0.0, 1, label)
    ctx.expect(torch.equal(m0, ids) and bool((l0 == -100).all()), "mask_prob=0 still masked tokens", label,
               "wrong mask fraction: the number of masked tokens must follow mask_prob (none for 0).")
    ids = _batch(51, 8, 64, 6)
    label = "generator=None uses the global RNG (k=6)"
    m, lab = _span_call(ctx, impl, ids, 6, 0.15, None, label)
    _span_draw(ctx, ids, 6, m, lab, label)
    if ctx.device.type != "cpu":
        return
    label = "the same generator seed gives the same masks; different seeds differ (k=6)"
    a = _span_call(ctx, impl, ids, 6, 0.15, 7, label)
    b = _span_call(ctx, impl, ids, 6, 0.15, 7, label)
    c = _span_call(ctx, impl, ids, 6, 0.15, 8, label)
    ctx.expect(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]), "the same seed gave different masks", label,
               "draw every random number from `generator` (torch.rand(..., generator=generator)); Python's "
               "`random` module or the global RNG ignore it.")
    ctx.expect(not torch.equal(a[0], c[0]), "different seeds gave the same mask", label,
               "the generator is ignored or the mask is not random.")


def check_span_mask(impl, *, device=None, time_limit=None) -> CheckReport:
    """Check a student's ``span_mask(input_ids, k, mask_prob=0.15, generator=None) -> (masked_ids, labels)``.

    Masking is random, so the check verifies properties over many draws: contiguous
    spans of k tokens, the masked fraction near ``mask_prob``, [PAD]/[CLS]/[SEP] never
    masked, [MASK] = 4 at masked positions, labels = original id there and -100
    elsewhere, the input unchanged, and the same generator seed giving the same mask.
    """
    refused = torch_refused_modules() + [reference_item(_masking.span_mask, "span_mask")]
    body = shielded(lambda ctx: _span_body(ctx, impl))
    return run_check("span_mask", impl, body, refused=refused, device=device, time_limit=time_limit)


# --------------------------------------------------------------------------- hidden tests
# hidden_<name>(ctx, impl): the suite of the hidden test cell hidden_<name>, run by grading.hidden.run_hidden.


def hidden_span_mask(ctx: Context, impl) -> None:
    g = seeded(511)
    ids = torch.randint(5, 5 + 4**6, (64, 200), generator=g)
    ids[:, 0], ids[:, -1] = 2, 3
    ids[:8, 150:] = 0
    ids[:8, 149] = 3
    original = ids.clone()
    case = "64 rows of 200 tokens, k=6, mask_prob=0.15, generator seed 1"
    args = ids.clone()
    masked_ids, labels = tensors(ctx, ctx.call(impl, args, 6, 0.15, seeded(1), case=case), 2, case, "span_mask")
    ctx.expect(torch.equal(args, original), "span_mask must not modify input_ids", case)
    maskable = (ids != 0) & (ids != 2) & (ids != 3)
    masked = masked_ids == 4
    frac = (masked & maskable).sum().item() / maskable.sum().item()
    ctx.expect(0.12 < frac < 0.18, f"{frac:.1%} of the maskable tokens are masked, expected about 15%", case)
    ctx.expect(not bool((masked & ~maskable).any()), "[PAD], [CLS] and [SEP] must never be masked", case)
    ctx.expect(torch.equal(labels[masked], ids[masked]) and bool((labels[~masked] == -100).all()),
               "labels must hold the original ids where masked and -100 elsewhere", case)
    runs = []
    for row in masked[8:].int().tolist():
        pieces = "".join(map(str, row[1:-1])).split("0")
        runs += [len(r) for r in pieces[1:-1] if r]  # runs inside the row (the first and last may touch its ends)
    short = [r for r in runs if r < 6]
    ctx.expect(len(short) <= 0.05 * len(runs) + 1,
               f"{len(short)} of {len(runs)} masked runs inside the rows are shorter than k = 6 (spans must be contiguous)",
               case)
    case = "the same generator seed gives the same mask"
    again = tensors(ctx, ctx.call(impl, ids.clone(), 6, 0.15, seeded(1), case=case), 2, case, "span_mask")[0]
    ctx.expect(torch.equal(again, masked_ids), "the same generator seed must give the same mask", case)
    case = "mask_prob=0"
    none = tensors(ctx, ctx.call(impl, ids.clone(), 6, 0.0, seeded(2), case=case), 2, case, "span_mask")[0]
    ctx.expect(torch.equal(none, ids), "mask_prob=0 must mask nothing", case)
