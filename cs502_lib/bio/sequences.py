"""DNA, RNA and protein sequences: the central dogma in a few functions.

The lecture's figure reads a DNA *template* strand base by base into the
complementary messenger RNA, then reads the mRNA three bases (one codon) at a
time into amino acids::

    >>> transcribe("CACGTAGACTGAGGACTCCTCTTC")
    'GUGCAUCUGACUCCUGAGGAGAAG'
    >>> translate("GUGCAUCUGACUCCUGAGGAGAAG")
    'VHLTPEEK'

Besides these two graded functions the module has the small utilities the
DNABERT chapter needs: FASTA reading (plain or gzip), reverse complement, GC
content, and a fast check that a (possibly multi-megabase) string holds only
A/C/G/T, which reports the first offending position.

Every function accepts lower case (soft-masked repeats in genome files are
written in lower case) and raises :class:`ValueError` on any other letter,
naming the letter and its 0-based position.
"""

from __future__ import annotations

import gzip
import os
from typing import Union

import numpy as np

__all__ = [
    "BASES",
    "GENETIC_CODE",
    "STOP",
    "dna_codes",
    "check_dna",
    "transcribe",
    "translate",
    "reverse_complement",
    "gc_content",
    "read_fasta",
]

#: The DNA alphabet in the order used everywhere in cs502_lib: base code A=0, C=1, G=2, T=3.
BASES = "ACGT"

#: Marker of a stop codon in :data:`GENETIC_CODE`.
STOP = "*"

_INVALID = 255

# Byte -> base code lookup table (A/a=0, C/c=1, G/g=2, T/t=3, anything else 255).
_DNA_LUT = np.full(256, _INVALID, dtype=np.uint8)
for _code, _base in enumerate(BASES):
    _DNA_LUT[ord(_base)] = _code
    _DNA_LUT[ord(_base.lower())] = _code

_RNA_LUT = np.full(256, _INVALID, dtype=np.uint8)
for _code, _base in enumerate("ACGU"):
    _RNA_LUT[ord(_base)] = _code
    _RNA_LUT[ord(_base.lower())] = _code


def _standard_code() -> dict[str, str]:
    # NCBI translation table 1, amino acids listed with the codon's first, second and
    # third base each running over U, C, A, G (the usual textbook layout).
    amino_acids = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
    order = "UCAG"
    codons = (a + b + c for a in order for b in order for c in order)
    return dict(zip(codons, amino_acids))


#: The standard genetic code: RNA codon (upper case, e.g. ``"AUG"``) -> one-letter amino acid,
#: ``"*"`` for the three stop codons UAA, UAG and UGA. 64 entries.
GENETIC_CODE: dict[str, str] = _standard_code()


def _require_str(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a str, got {type(value).__name__}")
    return value


def _codes(seq: str, lut: np.ndarray, name: str, alphabet: str) -> np.ndarray:
    """Map ``seq`` through ``lut``; raise ValueError at the first letter outside ``alphabet``."""
    try:
        raw = np.frombuffer(seq.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError as err:
        pos = err.start
        raise ValueError(
            f"{name} has invalid letter {seq[pos]!r} at position {pos}; "
            f"only {', '.join(alphabet)} (either case) are allowed"
        ) from None
    codes = lut[raw]
    bad = np.flatnonzero(codes == _INVALID)
    if bad.size:
        pos = int(bad[0])
        raise ValueError(
            f"{name} has invalid letter {seq[pos]!r} at position {pos}; "
            f"only {', '.join(alphabet)} (either case) are allowed"
            + (f" ({bad.size} invalid letters in all)" if bad.size > 1 else "")
        )
    return codes


def dna_codes(seq: str, name: str = "sequence") -> np.ndarray:
    """Base codes of a DNA string, vectorized.

    Args:
        seq: DNA letters A/C/G/T, either case.
        name: how error messages call the sequence (for example a file and record id).

    Returns:
        ``np.ndarray`` of dtype uint8 and shape ``(len(seq),)`` with A=0, C=1, G=2, T=3.

    Raises:
        ValueError: naming ``name``, the first invalid letter and its position.
    """
    _require_str(name, seq)
    try:
        data = seq.encode("ascii")
    except UnicodeEncodeError:
        data = b"?"  # not ASCII: the slow path below reports the letter and its position
    if data.translate(None, b"ACGTacgt"):  # something other than A/C/G/T is left
        _codes(seq, _DNA_LUT, name, BASES)  # raises, naming the first invalid letter
    # Bit trick instead of a table lookup (about 3x faster on a genome): in ASCII, bits 1-2 of
    # A, C, G, T (either case) are 0, 1, 3, 2; XOR with the higher of the two bits swaps G and T.
    codes = np.frombuffer(data, dtype=np.uint8) >> 1
    codes &= 3
    codes ^= codes >> 1
    return codes


def check_dna(seq: str, name: str = "sequence") -> str:
    """Return ``seq`` upper-cased after checking that it holds only A/C/G/T (either case).

    Fast enough for a whole bacterial genome (a lookup table over the bytes).
    Raises ValueError naming ``name`` and the position of the first invalid letter.
    """
    dna_codes(seq, name)
    return seq.upper()


_TRANSCRIBE = str.maketrans("ACGTacgt", "UGCAUGCA")
_COMPLEMENT = str.maketrans("ACGTacgt", "TGCAtgca")


def transcribe(template: str) -> str:
    """The mRNA written base by base against a DNA template strand.

    Each template base pairs with its RNA complement: A -> U, T -> A, C -> G, G -> C
    (read in the same direction as written, as in the lecture's figure).

    Args:
        template: DNA letters A/C/G/T; lower case is accepted.

    Returns:
        The mRNA in upper case, same length as ``template``.

    Raises:
        ValueError: if ``template`` is not a str or holds any other letter (U, N, ...).

    Example:
        >>> transcribe("CACGTAGACTGAGGACTCCTCTTC")
        'GUGCAUCUGACUCCUGAGGAGAAG'
    """
    _codes(_require_str("template", template), _DNA_LUT, "template (DNA strand)", BASES)
    return template.translate(_TRANSCRIBE)


def translate(mrna: str) -> str:
    """The protein an mRNA codes for, under the standard genetic code.

    Reading starts at position 0 and goes codon by codon (three bases). It stops
    *before* the first stop codon (UAA, UAG, UGA), which is not written; an
    incomplete last codon (one or two leftover bases) is ignored.

    Args:
        mrna: RNA letters A/C/G/U; lower case is accepted.

    Returns:
        One-letter amino acids, upper case (``""`` if the first codon is a stop or
        there is no complete codon).

    Raises:
        ValueError: if ``mrna`` is not a str or holds any other letter (T, N, ...);
        the whole string is checked, also past a stop codon.

    Example:
        >>> translate("GUGCAUCUGACUCCUGAGGAGAAG")
        'VHLTPEEK'
    """
    _codes(_require_str("mrna", mrna), _RNA_LUT, "mrna (RNA)", "ACGU")
    rna = mrna.upper()
    protein = []
    for i in range(0, len(rna) - 2, 3):
        amino_acid = GENETIC_CODE[rna[i : i + 3]]
        if amino_acid == STOP:
            break
        protein.append(amino_acid)
    return "".join(protein)


def reverse_complement(seq: str) -> str:
    """The reverse complement of a DNA strand (the other strand, read 5' to 3').

    Case is kept per base (``"aCg"`` -> ``"cGt"``), so soft-masking survives.
    Raises ValueError on letters other than A/C/G/T (either case).
    """
    _codes(_require_str("seq", seq), _DNA_LUT, "seq", BASES)
    return seq.translate(_COMPLEMENT)[::-1]


def gc_content(seq: str) -> float:
    """Fraction of G and C among the bases of a DNA string (either case).

    Raises ValueError for an empty string or letters other than A/C/G/T.
    """
    codes = _codes(_require_str("seq", seq), _DNA_LUT, "seq", BASES)
    if codes.size == 0:
        raise ValueError("seq is empty; the GC content of an empty sequence is undefined")
    counts = np.bincount(codes, minlength=4)
    return float(counts[1] + counts[2]) / codes.size


PathLike = Union[str, "os.PathLike[str]"]


def read_fasta(path: PathLike) -> list[tuple[str, str]]:
    """Read a FASTA file, plain or gzip-compressed (detected from its content).

    Args:
        path: the file.

    Returns:
        ``[(id, seq), ...]`` in file order. ``id`` is the header after ``>`` up to the
        first whitespace; ``seq`` joins the record's lines with whitespace removed and
        its case kept (lower case marks soft-masked repeats). Letters are *not*
        checked here; use :func:`check_dna` (the data loaders do).

    Raises:
        ValueError: if sequence text comes before the first header, or a header has no id.
    """
    path = os.fspath(path)
    with open(path, "rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    with opener(path, "rb") as fh:
        text = fh.read().decode("ascii", errors="replace")  # a non-ASCII byte becomes U+FFFD
    # Whole-file string operations (a genome has ~60,000 lines; no Python loop over them).
    body = text.lstrip()
    if not body:
        return []
    if not body.startswith(">"):
        lineno = text[: len(text) - len(body)].count("\n") + 1
        raise ValueError(
            f"{path}, line {lineno}: sequence text before the first '>' header; is this a FASTA file?"
        )
    records: list[tuple[str, str]] = []
    for chunk in body[1:].split("\n>"):
        header, _, seq = chunk.partition("\n")
        fields = header.split()
        if not fields:
            lineno = text.count("\n", 0, text.find(chunk)) + 1
            raise ValueError(f"{path}, line {lineno}: FASTA header without an id")
        records.append((fields[0], "".join(seq.split())))
    return records
