"""Whole-genome 6-mer tokenization: the vectorized KmerTokenizer against a plain Python loop.

The baseline is written the way DNABERT's data scripts tokenize: cut the sequence into a
list of k-mer strings, join them with spaces into one "sentence", split it again and look
every k-mer up in the vocabulary dict. Ours maps bytes to base codes through a lookup table
and computes every k-mer id as a rolling base-4 number (k vectorized operations in all).

To keep ``make bench`` short the Python baseline runs on a fixed 1 Mb slice of the genome and
its time is scaled linearly to the genome's length (the loop is linear in the length; the
row's detail says so). Both results are checked equal on that slice.
"""

from __future__ import annotations

from cs502_lib.bio import KmerTokenizer, build_kmer_vocab
from cs502_lib.data import load_genome

from ._timing import Result, compare

K = 6
SLICE = 1_000_000
TARGET = 50.0  # speed-up: baseline / ours >= TARGET


def python_kmer_ids(seq: str, k: int, vocab: dict[str, int]) -> list[int]:
    """The plain-Python reference: k-mer strings, a space-joined sentence, dict lookups."""
    sentence = " ".join(seq[i : i + k] for i in range(len(seq) - k + 1))
    return [vocab[token] for token in sentence.split(" ")]


def run() -> list[Result]:
    genome = load_genome()
    tok = KmerTokenizer(K)
    vocab = build_kmer_vocab(K)
    part = genome[:SLICE]
    if tok.genome_ids(part).tolist() != python_kmer_ids(part, K, vocab):
        raise AssertionError("the fast encoder disagrees with the Python loop on the 1 Mb slice")

    t_ours, t_slice = compare(lambda: tok.genome_ids(genome), lambda: python_kmer_ids(part, K, vocab), repeats=3, warmup=1)
    scale = (len(genome) - K + 1) / (SLICE - K + 1)
    t_base = t_slice * scale
    speedup = t_base / t_ours
    return [
        Result(
            name=f"KmerTokenizer.genome_ids, E. coli genome ({len(genome) / 1e6:.2f} Mb), k={K}",
            ours=t_ours, baseline=t_base, baseline_name="Python seq2kmer + dict lookup",
            target=f"ours / baseline <= {1 / TARGET:g}", met=speedup >= TARGET,
            detail=(f"speed-up {speedup:.0f}x; baseline: Python k-mer strings joined/split + dict lookup, "
                    f"timed on a fixed {SLICE / 1e6:g} Mb slice ({t_slice:.3f} s) and scaled x{scale:.2f} to the genome"),
        )
    ]
