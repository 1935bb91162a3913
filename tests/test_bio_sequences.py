"""transcribe, translate, the genetic code, FASTA reading and the small DNA utilities."""

import gzip
import itertools
import random

import numpy as np
import pytest

import cs502_lib
from cs502_lib.bio import (
    GENETIC_CODE,
    check_dna,
    dna_codes,
    gc_content,
    read_fasta,
    reverse_complement,
    transcribe,
    translate,
)

LECTURE_TEMPLATE = "CACGTAGACTGAGGACTCCTCTTC"
LECTURE_MRNA = "GUGCAUCUGACUCCUGAGGAGAAG"
LECTURE_PROTEIN = "VHLTPEEK"


def test_lecture_example():
    assert transcribe(LECTURE_TEMPLATE) == LECTURE_MRNA
    assert translate(LECTURE_MRNA) == LECTURE_PROTEIN
    assert translate(transcribe(LECTURE_TEMPLATE.lower())) == LECTURE_PROTEIN


def test_top_level_exports():
    for name in ("transcribe", "translate", "kmer_tokenize", "build_kmer_vocab", "span_mask"):
        assert name in cs502_lib.__all__
        assert getattr(cs502_lib, name) is getattr(cs502_lib.bio, name)


def test_transcribe_is_base_by_base_complement():
    assert transcribe("ATCG") == "UAGC"
    assert transcribe("atcg") == "UAGC"
    assert transcribe("") == ""


@pytest.mark.parametrize("bad,letter,pos", [("ACGU", "U", 3), ("ACNT", "N", 2), ("AC GT", " ", 2), ("ACGé", "é", 3)])
def test_transcribe_rejects_other_letters(bad, letter, pos):
    with pytest.raises(ValueError, match=rf"invalid letter '{letter}' at position {pos}"):
        transcribe(bad)


def test_transcribe_rejects_non_strings():
    with pytest.raises(ValueError, match="template must be a str"):
        transcribe(b"ACGT")


def test_genetic_code_table():
    assert len(GENETIC_CODE) == 64
    assert set("".join(GENETIC_CODE)) == set("ACGU")
    assert {c for c, aa in GENETIC_CODE.items() if aa == "*"} == {"UAA", "UAG", "UGA"}
    assert GENETIC_CODE["AUG"] == "M" and GENETIC_CODE["UGG"] == "W"
    assert GENETIC_CODE["UUU"] == "F" and GENETIC_CODE["GGG"] == "G" and GENETIC_CODE["AAA"] == "K"
    # 20 amino acids, with the degeneracies of the standard code
    counts = {aa: list(GENETIC_CODE.values()).count(aa) for aa in set(GENETIC_CODE.values())}
    assert len(counts) == 21
    assert counts["L"] == counts["S"] == counts["R"] == 6 and counts["M"] == counts["W"] == 1 and counts["I"] == 3


def test_translate_stops_before_stop_codon_and_ignores_incomplete_codon():
    assert translate("AUGUUUUAAGGG") == "MF"
    assert translate("UAGAUG") == ""
    assert translate("AUGUU") == "M"  # incomplete last codon ignored
    assert translate("AU") == ""
    assert translate("") == ""
    assert translate("auggcc") == "MA"
    every_codon = "".join(c for c in GENETIC_CODE if GENETIC_CODE[c] != "*")
    assert translate(every_codon) == "".join(GENETIC_CODE[c] for c in GENETIC_CODE if GENETIC_CODE[c] != "*")


@pytest.mark.parametrize("bad,letter,pos", [("AUGT", "T", 3), ("AUGNNN", "N", 3), ("AUGUAAX", "X", 6)])
def test_translate_rejects_other_letters(bad, letter, pos):
    with pytest.raises(ValueError, match=rf"invalid letter '{letter}' at position {pos}.*A, C, G, U"):
        translate(bad)


def test_reverse_complement_and_gc():
    assert reverse_complement("AACGTT") == "AACGTT"
    assert reverse_complement("AAGC") == "GCTT"
    assert reverse_complement("aCg") == "cGt"
    seq = "".join(random.Random(1).choice("ACGT") for _ in range(101))
    assert reverse_complement(reverse_complement(seq)) == seq
    assert gc_content("GGCCAT") == pytest.approx(4 / 6)
    assert gc_content("gcAT") == 0.5
    with pytest.raises(ValueError, match="empty"):
        gc_content("")
    with pytest.raises(ValueError, match="invalid letter 'N' at position 1"):
        reverse_complement("AN")


def test_dna_codes_and_check_dna():
    np.testing.assert_array_equal(dna_codes("ACGTacgt"), [0, 1, 2, 3, 0, 1, 2, 3])
    assert dna_codes("").size == 0
    # the fast path agrees with a plain lookup on every ASCII letter it accepts
    for letters in itertools.product("ACGTacgt", repeat=2):
        s = "".join(letters)
        assert dna_codes(s).tolist() == ["ACGT".index(c) for c in s.upper()]
    assert check_dna("acgT") == "ACGT"
    with pytest.raises(ValueError, match=r"chr1 record has invalid letter 'n' at position 4;.*2 invalid letters"):
        check_dna("ACGTnAAn", "chr1 record")


def test_read_fasta_plain_and_gzip(tmp_path):
    text = ">seq1 a description\nACGT\nacgt\n\n>seq2\nTTTT\n>empty\n"
    expected = [("seq1", "ACGTacgt"), ("seq2", "TTTT"), ("empty", "")]
    plain = tmp_path / "x.fa"
    plain.write_text(text)
    zipped = tmp_path / "x.fa.gz"
    with gzip.open(zipped, "wt") as fh:
        fh.write(text)
    assert read_fasta(plain) == expected
    assert read_fasta(str(zipped)) == expected
    crlf = tmp_path / "crlf.fa"
    crlf.write_bytes(text.replace("\n", "\r\n").encode())
    assert read_fasta(crlf) == expected
    empty = tmp_path / "empty.fa"
    empty.write_text("")
    assert read_fasta(empty) == []


def test_read_fasta_errors(tmp_path):
    bad = tmp_path / "bad.fa"
    bad.write_text("\nACGT\n>x\nAC\n")
    with pytest.raises(ValueError, match=r"bad.fa, line 2: sequence text before the first '>'"):
        read_fasta(bad)
    noid = tmp_path / "noid.fa"
    noid.write_text(">a\nAC\n>  \nGT\n")
    with pytest.raises(ValueError, match=r"noid.fa, line 3: FASTA header without an id"):
        read_fasta(noid)


@pytest.mark.parametrize("module", ["cs502_lib.bio.sequences", "cs502_lib.bio.kmers", "cs502_lib.bio.masking"])
def test_docstring_examples(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0
