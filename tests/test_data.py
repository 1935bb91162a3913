"""The shipped DNA data: files present, counts and splits as documented, clear errors on bad records."""

from pathlib import Path

import pytest
import torch

import cs502_lib.data as data
from cs502_lib.bio import KmerTokenizer, gc_content
from cs502_lib.data import (
    SPLICE_CLASSES,
    load_genome,
    load_promoters,
    load_splice,
    load_tfbs,
    promoter_folds,
    tfbs_heldout_split,
)

ACGT = set("ACGT")


def test_files_and_readme_are_package_data():
    names = {p.name for p in data.DATA_DIR.iterdir()}
    assert {
        "ecoli536_NC_008253.fna.gz", "uci_promoters.csv", "uci_splice.csv",
        "tfbs_oct4_train.fa", "tfbs_oct4_test.fa", "tfbs_mafk_train.fa", "tfbs_mafk_test.fa",
    } <= names
    readme = (Path(data.__file__).parent / "README.md").read_text()
    for fact in ("NC_008253.1", "CC BY 4.0", "GPL-3.0", "Brzuszkiewicz", "Towell", "Kopp", "StatLog"):
        assert fact in readme


def test_genome():
    g = load_genome()
    assert isinstance(g, str) and len(g) == 4_938_920
    assert set(g[:100_000]) == ACGT and g.isupper()
    assert gc_content(g) == pytest.approx(0.505, abs=0.001)
    assert load_genome() is g  # cached
    assert g.startswith("AGCTTTTCATTCTGACTGCAACGGGCAATATGTC")
    ids = KmerTokenizer(6).genome_ids(g)
    assert ids.shape == (len(g) - 5,) and ids.min() >= 5 and ids.max() < 5 + 4**6


def test_promoters_and_folds():
    seqs, labels = load_promoters()
    assert len(seqs) == 106 and labels.shape == (106,) and labels.dtype == torch.long
    assert labels.sum().item() == 53
    assert all(len(s) == 57 and set(s) <= ACGT for s in seqs)
    seqs.append("X")  # callers get fresh objects
    assert len(load_promoters()[0]) == 106

    folds = promoter_folds()
    assert len(folds) == 10
    tests = torch.cat([te for _, te in folds])
    assert sorted(tests.tolist()) == list(range(106))  # each sequence tested once
    for train, test in folds:
        assert len(train) + len(test) == 106 and not set(train.tolist()) & set(test.tolist())
        assert len(test) in (10, 11)
        assert abs(labels[test].sum().item() - len(test) / 2) <= 1  # stratified
    again = promoter_folds(10, seed=0)
    assert all(torch.equal(a[1], b[1]) for a, b in zip(folds, again))
    other = promoter_folds(10, seed=1)
    assert not all(torch.equal(a[1], b[1]) for a, b in zip(folds, other))
    for n in (2, 3, 7, 53):  # stratified for any number of folds
        for _, test in promoter_folds(n, seed=3):
            assert all(53 // n <= c <= 53 // n + 1 for c in labels[test].bincount(minlength=2).tolist())
    loo = promoter_folds(106)
    assert all(len(te) == 1 for _, te in loo) and sorted(te.item() for _, te in loo) == list(range(106))
    with pytest.raises(ValueError, match=r"n_folds must be an integer in \[2, 106\]"):
        promoter_folds(1)
    with pytest.raises(ValueError, match="n_folds"):
        promoter_folds(107)


def test_splice_split():
    assert SPLICE_CLASSES == ("n", "ei", "ie")
    train, ytr = load_splice("train")
    test, yte = load_splice("test")
    both, yall = load_splice("all")
    assert len(train) == 2000 and len(test) == 1186 and len(both) == 3186
    assert both == train + test and torch.equal(yall, torch.cat([ytr, yte]))
    assert yall.bincount().tolist() == [1654, 767, 765]
    assert all(len(s) == 60 and set(s) <= ACGT for s in both)
    # the documented trap: exact copies of training rows in the test split
    assert len(set(test) & set(train)) > 0
    assert sum(s in set(train) for s in test) == 82
    with pytest.raises(ValueError, match="split must be 'train', 'test' or 'all', got 'valid'"):
        load_splice("valid")


def test_tfbs_splits():
    seqs, labels = load_tfbs("train")
    assert len(seqs) == 3897 + 3900 and labels.tolist() == [1] * 3897 + [0] * 3900
    test, ytest = load_tfbs("test")
    assert len(test) == 200 and ytest.sum().item() == 100
    assert all(len(s) == 200 and s.isupper() and set(s) <= ACGT for s in seqs + test)
    # soft-masked lower case in the files becomes upper case
    oct4_file = (data.DATA_DIR / "tfbs_oct4_train.fa").read_text()
    assert any(c.islower() for c in oct4_file[:5000])
    train_idx, held_idx = tfbs_heldout_split()
    assert len(held_idx) == 780 and len(train_idx) == 7017
    assert sorted(torch.cat([train_idx, held_idx]).tolist()) == list(range(7797))
    assert labels[held_idx].sum().item() == 390  # stratified
    assert torch.equal(tfbs_heldout_split()[1], held_idx)
    with pytest.raises(ValueError, match="frac must be a number strictly between 0 and 1"):
        tfbs_heldout_split(frac=1.0)
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        load_tfbs("all")


def test_bad_letters_name_file_record_and_position(tmp_path, monkeypatch):
    (tmp_path / "uci_splice.csv").write_text("label,sequence\nn,ACGT\nei,ACNT\n")
    (tmp_path / "tfbs_oct4_test.fa").write_text(">chr1:1-5\nACGT\n>chr2:7-11\nacgtR\n")
    (tmp_path / "tfbs_mafk_test.fa").write_text(">m\nACGT\n")
    monkeypatch.setattr(data, "DATA_DIR", tmp_path)
    data._read_csv.cache_clear()
    data._read_tfbs.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"uci_splice.csv, row 2 \(line 3, label 'ei'\) has invalid letter 'N' at position 2"):
            load_splice("all")
        with pytest.raises(ValueError, match=r"tfbs_oct4_test.fa, record 'chr2:7-11' \(#2\) has invalid letter 'R' at position 4"):
            load_tfbs("test")
    finally:
        data._read_csv.cache_clear()
        data._read_tfbs.cache_clear()
