"""Biological sequences for the DNABERT chapter: the central dogma, k-mer tokens, span masking.

- :mod:`.sequences`: :func:`transcribe`, :func:`translate`, :data:`GENETIC_CODE`, :func:`read_fasta`,
  :func:`reverse_complement`, :func:`gc_content`, fast A/C/G/T checks (:func:`dna_codes`, :func:`check_dna`).
- :mod:`.kmers`: :func:`kmer_tokenize`, :func:`build_kmer_vocab`, the special-token ids and the fast
  vectorized :class:`KmerTokenizer` (batches, whole genomes, decoding, :func:`kmer_bases`).
- :mod:`.masking`: :func:`span_mask`, DNABERT's contiguous span masking.
"""

from .kmers import (
    CLS_ID,
    MASK_ID,
    NO_BASE,
    NUM_SPECIAL,
    PAD_ID,
    SEP_ID,
    SPECIAL_TOKENS,
    UNK_ID,
    KmerTokenizer,
    build_kmer_vocab,
    kmer_bases,
    kmer_ids,
    kmer_tokenize,
)
from .masking import IGNORE_INDEX, span_mask, span_start_probability
from .sequences import (
    BASES,
    GENETIC_CODE,
    STOP,
    check_dna,
    dna_codes,
    gc_content,
    read_fasta,
    reverse_complement,
    transcribe,
    translate,
)

__all__ = [
    "transcribe", "translate", "GENETIC_CODE", "STOP", "BASES", "read_fasta", "reverse_complement",
    "gc_content", "dna_codes", "check_dna",
    "kmer_tokenize", "build_kmer_vocab", "KmerTokenizer", "kmer_ids", "kmer_bases",
    "PAD_ID", "UNK_ID", "CLS_ID", "SEP_ID", "MASK_ID", "SPECIAL_TOKENS", "NUM_SPECIAL", "NO_BASE",
    "span_mask", "span_start_probability", "IGNORE_INDEX",
]
