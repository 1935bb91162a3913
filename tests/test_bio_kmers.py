"""kmer_tokenize, build_kmer_vocab and the vectorized KmerTokenizer (which must agree exactly)."""

import itertools
import random

import numpy as np
import pytest
import torch

from cs502_lib.bio import (
    CLS_ID,
    MASK_ID,
    NO_BASE,
    PAD_ID,
    SEP_ID,
    SPECIAL_TOKENS,
    UNK_ID,
    KmerTokenizer,
    build_kmer_vocab,
    dna_codes,
    kmer_bases,
    kmer_ids,
    kmer_tokenize,
)


def random_dna(rng, n, alphabet="ACGT"):
    return "".join(rng.choice(alphabet) for _ in range(n))


def test_kmer_tokenize_basic():
    assert kmer_tokenize("ACGTAC", 3) == ["ACG", "CGT", "GTA", "TAC"]
    assert kmer_tokenize("acgt", 4) == ["ACGT"]
    assert kmer_tokenize("acgt", 1) == ["A", "C", "G", "T"]
    seq = random_dna(random.Random(0), 40)
    for k in range(1, 7):
        toks = kmer_tokenize(seq, k)
        assert len(toks) == len(seq) - k + 1
        assert all(t == seq[i : i + k] for i, t in enumerate(toks))


@pytest.mark.parametrize(
    "seq,k,message",
    [
        ("ACGT", 0, "k must be a positive integer, got 0"),
        ("ACGT", -2, "k must be a positive integer"),
        ("ACGT", 2.0, "k must be a positive integer"),
        ("ACGT", True, "k must be a positive integer"),
        ("ACNGT", 2, "invalid letter 'N' at position 2"),
        ("ACGU", 2, "invalid letter 'U' at position 3"),
        ("ACG", 4, "seq has 3 bases, fewer than k=4"),
        ("", 1, "seq has 0 bases, fewer than k=1"),
        (["A", "C"], 1, "seq must be a str"),
    ],
)
def test_kmer_tokenize_errors(seq, k, message):
    with pytest.raises(ValueError, match=message):
        kmer_tokenize(seq, k)


def test_build_kmer_vocab_layout():
    v = build_kmer_vocab(2)
    assert list(v)[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert [v[t] for t in SPECIAL_TOKENS] == [PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID] == [0, 1, 2, 3, 4]
    assert v["AA"] == 5 and v["AC"] == 6 and v["CA"] == 9 and v["TT"] == 20
    for k in range(1, 7):
        v = build_kmer_vocab(k)
        assert len(v) == 4**k + 5
        kmers = sorted(t for t in v if not t.startswith("["))
        assert [v[t] for t in kmers] == list(range(5, 4**k + 5))  # lexicographic over "ACGT"
        assert kmers == ["".join(p) for p in itertools.product("ACGT", repeat=k)]
    v = build_kmer_vocab(3)
    v["XYZ"] = 99  # a copy: the cached vocabulary is not affected
    assert "XYZ" not in build_kmer_vocab(3)
    with pytest.raises(ValueError, match="k must be a positive integer, got 0"):
        build_kmer_vocab(0)


@pytest.mark.parametrize("k", range(1, 7))
def test_fast_encoder_matches_reference(k):
    rng = random.Random(k)
    tok = KmerTokenizer(k)
    vocab = build_kmer_vocab(k)
    assert tok.vocab == vocab and tok.vocab_size == len(vocab)
    for _ in range(25):
        seq = random_dna(rng, rng.randint(k, 80), "ACGTacgt")
        expected = [vocab[t] for t in kmer_tokenize(seq, k)]
        assert tok.genome_ids(seq).tolist() == expected
        assert tok.encode(seq, add_special_tokens=False).tolist() == expected
        assert tok.encode(seq).tolist() == [CLS_ID, *expected, SEP_ID]
        # tensor path (e.g. GPU codes) gives the same ids as the NumPy path
        codes = dna_codes(seq)
        assert kmer_ids(torch.from_numpy(codes).long(), k).tolist() == expected
        assert tok.kmer_ids(codes).dtype == torch.long


def test_fast_encoder_long_sequence_and_batched_codes():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, size=(3, 5000), dtype=np.uint8)
    k = 6
    ids = kmer_ids(codes, k)
    assert ids.shape == (3, 5000 - k + 1) and ids.dtype == torch.long
    vocab = build_kmer_vocab(k)
    for row, out in zip(codes, ids):
        seq = "".join("ACGT"[c] for c in row)
        assert out.tolist() == [vocab[t] for t in kmer_tokenize(seq, k)]
    before = codes.copy()
    kmer_ids(codes, k)
    np.testing.assert_array_equal(codes, before)  # input untouched
    t = torch.from_numpy(codes.astype(np.int32))
    t0 = t.clone()
    kmer_ids(t, k)
    assert torch.equal(t, t0)


def test_kmer_ids_errors():
    with pytest.raises(ValueError, match="codes has 3 bases, fewer than k=4"):
        kmer_ids(np.zeros(3, dtype=np.uint8), 4)
    with pytest.raises(ValueError, match="integer base codes"):
        kmer_ids(torch.zeros(8), 2)
    with pytest.raises(ValueError, match="too large"):
        kmer_ids(np.zeros(40, dtype=np.uint8), 32)
    with pytest.raises(ValueError, match="torch.Tensor or numpy array"):
        kmer_ids([0, 1, 2], 1)


def test_encode_errors_name_the_sequence():
    tok = KmerTokenizer(3)
    with pytest.raises(ValueError, match=r"seqs\[1\] has invalid letter 'N' at position 2"):
        tok.encode_batch(["ACGT", "ACNT"])
    with pytest.raises(ValueError, match=r"seqs\[0\] has 2 bases, fewer than k=3"):
        tok.encode_batch(["AC"])
    with pytest.raises(ValueError, match="seqs is empty"):
        tok.encode_batch([])
    with pytest.raises(ValueError, match="for one string use encode"):
        tok.encode_batch("ACGT")
    with pytest.raises(ValueError, match="max_len=2 leaves no room"):
        tok.encode_batch(["ACGT"], max_len=2)
    with pytest.raises(ValueError, match="invalid letter 'X' at position 0"):
        tok.encode("XACG")


def test_encode_batch_padding_and_mask():
    tok = KmerTokenizer(3)
    seqs = ["ACGTA", "ACGTACGT", "acg"]
    ids, mask = tok.encode_batch(seqs)
    assert ids.dtype == torch.long and mask.dtype == torch.bool
    assert ids.shape == mask.shape == (3, 8)
    for row, m, s in zip(ids, mask, seqs):
        n = len(s) - 3 + 1 + 2
        assert row[:n].tolist() == tok.encode(s).tolist()
        assert (row[n:] == PAD_ID).all()
        assert m.tolist() == [True] * n + [False] * (8 - n)
    ids2, mask2 = tok.encode_batch(seqs, add_special_tokens=False)
    assert ids2.shape == (3, 6)
    assert ids2[0].tolist() == tok.encode("ACGTA", add_special_tokens=False).tolist() + [PAD_ID] * 3
    assert mask2.sum(1).tolist() == [3, 6, 1]


def test_encode_batch_truncation_keeps_cls_and_sep():
    tok = KmerTokenizer(2)
    seqs = ["ACGTACGT", "ACG"]
    ids, mask = tok.encode_batch(seqs, max_len=5)
    full = tok.encode("ACGTACGT")
    assert ids[0].tolist() == [CLS_ID, *full[1:4].tolist(), SEP_ID]
    assert ids[1].tolist() == [CLS_ID, *tok.encode("ACG", add_special_tokens=False).tolist(), SEP_ID, PAD_ID]
    assert mask.tolist() == [[True] * 5, [True] * 4 + [False]]
    # max_len larger than needed: width is the longest row
    ids, _ = tok.encode_batch(seqs, max_len=100)
    assert ids.shape == (2, 9)
    ids, mask = tok.encode_batch(seqs, max_len=3, add_special_tokens=False)
    assert ids.shape == (2, 3) and mask.tolist() == [[True] * 3, [True, True, False]]


@pytest.mark.parametrize("k", [1, 3, 6])
def test_decode_round_trip(k):
    rng = random.Random(10 + k)
    tok = KmerTokenizer(k)
    seqs = [random_dna(rng, rng.randint(k, 60), "ACGTacgt") for _ in range(10)]
    for s in seqs:
        assert tok.decode(tok.encode(s)) == s.upper()
        assert tok.decode(tok.encode(s).tolist()) == s.upper()
    ids, _ = tok.encode_batch(seqs)
    assert tok.decode(ids) == [s.upper() for s in seqs]


def test_decode_rejects_broken_overlaps_and_bad_ids():
    tok = KmerTokenizer(3)
    ids = tok.encode("ACGTACG")
    ids[2] = MASK_ID  # [MASK] dropped -> neighbours no longer overlap
    with pytest.raises(ValueError, match=r"k-mers 0 and 1 .*do not overlap"):
        tok.decode(ids)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([2, 5, 10_000])
    assert tok.decode([CLS_ID, SEP_ID, PAD_ID]) == ""


def test_kmer_bases():
    k = 4
    vocab = build_kmer_vocab(k)
    tokens = ["ACGT", "TTTT", "AAAA", "GATC"]
    ids = torch.tensor([vocab[t] for t in tokens])
    bases = kmer_bases(ids, k)
    assert bases.shape == (4, k) and bases.dtype == torch.long
    assert bases.tolist() == [["ACGT".index(c) for c in t] for t in tokens]
    special = kmer_bases(torch.tensor([[PAD_ID, CLS_ID], [SEP_ID, MASK_ID]]), k)
    assert special.shape == (2, 2, k) and (special == NO_BASE).all()
    all_ids = torch.arange(5, 5 + 4**k)
    rebuilt = kmer_bases(all_ids, k)
    assert ["".join("ACGT"[b] for b in row) for row in rebuilt.tolist()] == list(vocab)[5:]
    with pytest.raises(ValueError, match=r"outside the 4-mer vocabulary \[0, 261\)"):
        kmer_bases(torch.tensor([261]), k)
    assert KmerTokenizer(4).id_to_token(vocab["GATC"]) == "GATC"
    assert KmerTokenizer(4).id_to_token(MASK_ID) == "[MASK]"
