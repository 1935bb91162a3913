"""Real DNA data shipped with cs502_lib (see ``README.md`` next to this file for provenance).

Nothing is downloaded: the files live in ``cs502_lib/data/files/`` as package data.

| loader | what | size |
|---|---|---|
| :func:`load_genome` | *E. coli* 536 complete genome, the masked-LM pretraining corpus | 4,938,920 bp |
| :func:`load_promoters`, :func:`promoter_folds` | UCI promoters (1) vs non-promoters (0), 57 bp | 53 + 53 |
| :func:`load_splice` | StatLog splice junctions, 60 bp, classes :data:`SPLICE_CLASSES` | 2,000 train / 1,186 test |
| :func:`load_tfbs`, :func:`tfbs_heldout_split` | ChIP-seq peaks, Oct4 (1) vs MafK (0), 200 bp | 7,797 train / 200 test |

Every loader checks that each sequence holds only A/C/G/T (either case) and returns it
upper-cased; a bad letter raises :class:`ValueError` naming the file, the record and
the position. Labels are ``torch.long`` tensors aligned with the list of sequences.
Loaders cache the parsed files and return fresh lists/tensors on every call.
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path

import numpy as np
import torch

from ..bio.sequences import check_dna, read_fasta

__all__ = [
    "DATA_DIR",
    "SPLICE_CLASSES",
    "load_genome",
    "load_promoters",
    "promoter_folds",
    "load_splice",
    "load_tfbs",
    "tfbs_heldout_split",
]

#: Folder of the shipped data files.
DATA_DIR = Path(__file__).resolve().parent / "files"

GENOME_FILE = "ecoli536_NC_008253.fna.gz"
PROMOTERS_FILE = "uci_promoters.csv"
SPLICE_FILE = "uci_splice.csv"
TFBS_FILES = {
    ("oct4", "train"): "tfbs_oct4_train.fa",
    ("oct4", "test"): "tfbs_oct4_test.fa",
    ("mafk", "train"): "tfbs_mafk_train.fa",
    ("mafk", "test"): "tfbs_mafk_test.fa",
}

#: Splice-junction classes, index = label: "n" neither, "ei" exon->intron (donor), "ie" intron->exon (acceptor).
SPLICE_CLASSES: tuple[str, str, str] = ("n", "ei", "ie")
#: StatLog's standard split of the 3,186 splice rows: the first 2,000 train, the last 1,186 test.
SPLICE_N_TRAIN = 2000

_N_PROMOTERS = 106


def _path(name: str) -> Path:
    path = DATA_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"shipped data file {name} is missing from {DATA_DIR}; reinstall cs502_lib")
    return path


# ---- the genome -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def load_genome() -> str:
    """The complete genome of *Escherichia coli* 536 (NCBI RefSeq NC_008253.1).

    Returns:
        One upper-case str of 4,938,920 bases, A/C/G/T only (checked). Cached: later calls
        return the same object at no cost.
    """
    records = read_fasta(_path(GENOME_FILE))
    if len(records) != 1:
        raise ValueError(f"{GENOME_FILE}: expected 1 record, found {len(records)}")
    rid, seq = records[0]
    return check_dna(seq, f"{GENOME_FILE}, record {rid!r}")


# ---- CSV tasks ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _read_csv(name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(raw labels, checked upper-case sequences) of a ``label,sequence`` CSV file."""
    labels, seqs = [], []
    with open(_path(name), newline="", encoding="ascii") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        if [h.strip() for h in header] != ["label", "sequence"]:
            raise ValueError(f"{name}: expected the header 'label,sequence', got {header}")
        for row_no, row in enumerate(reader, start=1):
            if len(row) != 2:
                raise ValueError(f"{name}, row {row_no} (line {row_no + 1}): expected 2 fields, got {len(row)}")
            label, seq = row[0].strip(), row[1].strip()
            seqs.append(check_dna(seq, f"{name}, row {row_no} (line {row_no + 1}, label {label!r})"))
            labels.append(label)
    return tuple(labels), tuple(seqs)


def load_promoters() -> tuple[list[str], torch.Tensor]:
    """UCI promoter gene sequences: 106 *E. coli* windows from -50 to +7 around the start site.

    Returns:
        ``(seqs, labels)``: 106 upper-case strings of 57 bp, and LongTensor ``(106,)`` with
        1 = promoter (53) and 0 = non-promoter (53). Too few for a fixed test split:
        evaluate with :func:`promoter_folds`.
    """
    raw, seqs = _read_csv(PROMOTERS_FILE)
    labels = []
    for i, label in enumerate(raw, start=1):
        if label not in ("0", "1"):
            raise ValueError(f"{PROMOTERS_FILE}, row {i}: label must be 0 or 1, got {label!r}")
        labels.append(int(label))
    return list(seqs), torch.tensor(labels, dtype=torch.long)


def promoter_folds(n_folds: int = 10, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Fixed stratified cross-validation folds over the 106 promoter sequences.

    Each class is shuffled (with ``seed``) and the two shuffled lists, one after the other,
    are dealt to the folds in turn. So every sequence is tested exactly once, fold sizes
    differ by at most one, each fold holds 53 // n_folds or 53 // n_folds + 1 sequences of
    each class, and ``n_folds=106`` gives leave-one-out.

    Args:
        n_folds: number of folds, 2 <= n_folds <= 106.
        seed: shuffling seed; the same seed always gives the same folds.

    Returns:
        ``[(train_idx, test_idx), ...]``, ``n_folds`` pairs of sorted LongTensors of indices
        into :func:`load_promoters`'s lists; each pair partitions ``range(106)``.
    """
    if isinstance(n_folds, bool) or not isinstance(n_folds, int) or not 2 <= n_folds <= _N_PROMOTERS:
        raise ValueError(f"n_folds must be an integer in [2, {_N_PROMOTERS}] (106 = leave-one-out), got {n_folds!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    _, labels = load_promoters()
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(np.flatnonzero(labels.numpy() == c)) for c in (0, 1)])
    fold_of = np.empty(len(order), dtype=np.int64)
    fold_of[order] = np.arange(len(order)) % n_folds
    all_idx = torch.arange(len(order))
    fold_t = torch.from_numpy(fold_of)
    return [(all_idx[fold_t != f], all_idx[fold_t == f]) for f in range(n_folds)]


def load_splice(split: str = "train") -> tuple[list[str], torch.Tensor]:
    """StatLog / UCI primate splice-junction windows (60 bp), with StatLog's standard split.

    Args:
        split: ``"train"`` (the first 2,000 rows), ``"test"`` (the last 1,186) or ``"all"`` (3,186).

    Returns:
        ``(seqs, labels)``: upper-case strings and a LongTensor of class indices into
        :data:`SPLICE_CLASSES`: 0 = "n" (neither), 1 = "ei" (donor, exon->intron),
        2 = "ie" (acceptor, intron->exon). Whole set: 1,654 / 767 / 765.

    Note:
        82 of the test rows are exact copies of training rows (a known property of this set).
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    raw, seqs = _read_csv(SPLICE_FILE)
    index = {name: i for i, name in enumerate(SPLICE_CLASSES)}
    labels = []
    for i, label in enumerate(raw, start=1):
        if label not in index:
            raise ValueError(f"{SPLICE_FILE}, row {i}: label must be one of {SPLICE_CLASSES}, got {label!r}")
        labels.append(index[label])
    rows = {"train": slice(0, SPLICE_N_TRAIN), "test": slice(SPLICE_N_TRAIN, None), "all": slice(None)}[split]
    return list(seqs[rows]), torch.tensor(labels[rows], dtype=torch.long)


# ---- TF binding -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _read_tfbs(name: str) -> tuple[str, ...]:
    return tuple(
        check_dna(seq, f"{name}, record {rid!r} (#{i})") for i, (rid, seq) in enumerate(read_fasta(_path(name)), start=1)
    )


def load_tfbs(split: str = "train") -> tuple[list[str], torch.Tensor]:
    """Transcription-factor binding: 200 bp ChIP-seq peaks of Oct4 (label 1) versus MafK (label 0).

    Args:
        split: ``"train"`` (3,897 Oct4 + 3,900 MafK) or ``"test"`` (100 + 100).

    Returns:
        ``(seqs, labels)``: upper-case strings (the files' soft-masked lower-case repeats are
        upper-cased) and LongTensor labels; all Oct4 records come first, then all MafK, each in
        file order (shuffle before training). For model selection use :func:`tfbs_heldout_split`.

    Note:
        GC content alone separates the classes fairly well (Oct4 peaks are richer in GC).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    oct4 = _read_tfbs(TFBS_FILES[("oct4", split)])
    mafk = _read_tfbs(TFBS_FILES[("mafk", split)])
    labels = torch.cat([torch.ones(len(oct4), dtype=torch.long), torch.zeros(len(mafk), dtype=torch.long)])
    return list(oct4) + list(mafk), labels


def tfbs_heldout_split(seed: int = 0, frac: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed held-out part of the TF-binding *training* set (for early stopping, model choice).

    Stratified: ``round(frac * n)`` records of each class are held out, chosen with ``seed``.

    Args:
        seed: the same seed always gives the same split.
        frac: held-out fraction, 0 < frac < 1 (default 10%).

    Returns:
        ``(train_idx, heldout_idx)``: sorted LongTensors of indices into ``load_tfbs("train")``
        that partition it (default: 7,017 and 780).
    """
    if isinstance(frac, bool) or not isinstance(frac, (int, float)) or not 0.0 < frac < 1.0:
        raise ValueError(f"frac must be a number strictly between 0 and 1, got {frac!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    _, labels = load_tfbs("train")
    rng = np.random.default_rng(seed)
    held = []
    for c in (0, 1):
        members = np.flatnonzero(labels.numpy() == c)
        held.append(rng.choice(members, size=int(round(frac * len(members))), replace=False))
    is_held = torch.zeros(len(labels), dtype=torch.bool)
    is_held[torch.from_numpy(np.concatenate(held))] = True
    all_idx = torch.arange(len(labels))
    return all_idx[~is_held], all_idx[is_held]
