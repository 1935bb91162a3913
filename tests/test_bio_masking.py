"""span_mask: DNABERT's contiguous span masking."""

import random

import pytest
import torch

from cs502_lib.bio import (
    CLS_ID,
    MASK_ID,
    PAD_ID,
    SEP_ID,
    KmerTokenizer,
    kmer_bases,
    span_mask,
    span_start_probability,
)


def batch_of_kmers(batch, length, k, seed=0, pad_from=None):
    """Random k-mer ids framed by [CLS] ... [SEP], optionally padded after column ``pad_from``."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 5 + 4**k, (batch, length), generator=g)
    ids[:, 0] = CLS_ID
    ids[:, -1] = SEP_ID
    if pad_from is not None:
        ids[1::2, pad_from] = SEP_ID
        ids[1::2, pad_from + 1 :] = PAD_ID
    return ids


def runs(row_mask):
    """(start, length) of each maximal run of True in a 1-D bool tensor."""
    out, start = [], None
    for i, m in enumerate(row_mask.tolist() + [False]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            out.append((start, i - start))
            start = None
    return out


def test_outputs_labels_and_input_untouched():
    ids = batch_of_kmers(8, 64, 3, pad_from=40)
    before = ids.clone()
    masked, labels = span_mask(ids, 3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(ids, before)
    assert masked.shape == labels.shape == ids.shape
    assert masked.dtype == labels.dtype == torch.long
    is_masked = labels != -100
    assert is_masked.any()
    assert (masked[is_masked] == MASK_ID).all()
    assert torch.equal(labels[is_masked], ids[is_masked])
    assert torch.equal(masked[~is_masked], ids[~is_masked])
    special = (ids == PAD_ID) | (ids == CLS_ID) | (ids == SEP_ID)
    assert not is_masked[special].any()


def test_specials_never_masked_even_with_mask_prob_one():
    ids = batch_of_kmers(4, 20, 6, pad_from=10)
    masked, labels = span_mask(ids, 6, mask_prob=1.0)
    special = (ids == PAD_ID) | (ids == CLS_ID) | (ids == SEP_ID)
    assert torch.equal(masked[special], ids[special])
    assert (masked[~special] == MASK_ID).all()
    masked, labels = span_mask(ids, 6, mask_prob=0.0)
    assert torch.equal(masked, ids) and (labels == -100).all()


@pytest.mark.parametrize("k,p", [(1, 0.15), (3, 0.15), (6, 0.15), (6, 0.3)])
def test_expected_masked_fraction(k, p):
    ids = batch_of_kmers(256, 512, k, seed=k)
    g = torch.Generator().manual_seed(123)
    masked, _ = span_mask(ids, k, mask_prob=p, generator=g)
    maskable = ids >= 5
    hit = (masked == MASK_ID) & maskable
    frac = hit.sum().item() / maskable.sum().item()
    assert abs(frac - p) < 0.01, frac
    # uniform along the row, including next to [CLS] and [SEP] (no under-masked edges)
    per_position = hit[:, 1:-1].float().mean(0)
    edges = torch.cat([per_position[:k], per_position[-k:]]).mean().item()
    assert abs(edges - p) < 0.03, edges


def test_start_probability_formula():
    for k in (1, 3, 6):
        q = span_start_probability(k, 0.15)
        assert 1 - (1 - q) ** k == pytest.approx(0.15)
    assert span_start_probability(1, 0.15) == pytest.approx(0.15)


@pytest.mark.parametrize("k", [3, 6])
def test_masked_runs_are_spans_of_at_least_k(k):
    ids = batch_of_kmers(64, 200, k)
    masked, _ = span_mask(ids, k, generator=torch.Generator().manual_seed(5))
    n_runs = 0
    for row in masked == MASK_ID:
        for start, length in runs(row):
            n_runs += 1
            touches_edge = start == 1 or start + length == 199  # next to [CLS] or [SEP]
            assert length >= k or touches_edge, (start, length)
    assert n_runs > 100


def test_isolated_span_hides_exactly_one_base():
    k = 6
    tok = KmerTokenizer(k)
    rng = random.Random(0)
    seq = "".join(rng.choice("ACGT") for _ in range(300))
    ids = tok.encode(seq).unsqueeze(0)
    g = torch.Generator().manual_seed(0)
    checked = 0
    for _ in range(50):
        masked, _ = span_mask(ids, k, mask_prob=0.03, generator=g)
        row = masked[0] == MASK_ID
        for start, length in runs(row):
            if length != k or start == 1 or start + length == ids.shape[1] - 1:
                continue
            # bases seen by the unmasked k-mers (token t >= 1 covers bases t-1 .. t-1+k-1)
            seen = torch.zeros(len(seq), dtype=torch.bool)
            for t in range(1, ids.shape[1] - 1):
                if not row[t]:
                    seen[t - 1 : t - 1 + k] = True
            hidden = (~seen).nonzero().flatten().tolist()
            span_bases = range(start - 1, start - 1 + 2 * k - 1)
            hidden_here = [b for b in hidden if b in span_bases]
            assert hidden_here == [start - 1 + k - 1]  # the base every masked k-mer shares
            # and it is the base the labels hold at the shared position of each k-mer
            labels_bases = kmer_bases(ids[0, start : start + k], k)
            assert len({labels_bases[j, k - 1 - j].item() for j in range(k)}) == 1
            checked += 1
    assert checked > 10


def test_reproducible_with_generator():
    ids = batch_of_kmers(16, 100, 6)
    a = span_mask(ids, 6, generator=torch.Generator().manual_seed(7))
    b = span_mask(ids, 6, generator=torch.Generator().manual_seed(7))
    c = span_mask(ids, 6, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    torch.manual_seed(3)
    d = span_mask(ids, 6)
    torch.manual_seed(3)
    e = span_mask(ids, 6)
    assert torch.equal(d[0], e[0])


@pytest.mark.parametrize(
    "args,message",
    [
        ((torch.zeros(2, 5), 3), "integer"),
        ((torch.zeros(5, dtype=torch.long), 3), r"shape \(B, L\), got \(5,\)"),
        (([[5, 6]], 3), "input_ids must be a torch.Tensor"),
        ((torch.full((2, 5), 5), 0), "k must be a positive integer, got 0"),
        ((torch.full((2, 5), 5), 3, 1.5), r"mask_prob must be a number in \[0, 1\], got 1.5"),
        ((torch.full((2, 5), 5), 3, -0.1), "mask_prob must be a number"),
        ((torch.full((2, 5), 5), 3, 0.15, 42), "generator must be a torch.Generator"),
        ((torch.full((2, 5), -1), 3), "negative"),
    ],
)
def test_errors(args, message):
    with pytest.raises(ValueError, match=message):
        span_mask(*args)


def test_works_on_meta_and_other_int_dtypes():
    masked, labels = span_mask(torch.full((2, 7), 9, dtype=torch.int32), 3, mask_prob=1.0)
    assert masked.dtype == torch.long and (masked == MASK_ID).all() and (labels == 9).all()
    m, l = span_mask(torch.empty(2, 7, dtype=torch.long, device="meta"), 3)
    assert m.device.type == "meta" and m.shape == (2, 7)
