"""Buggy implementations ("mutants") of the dnabert contracts, one per mistake of the grader's catalog."""

import itertools

import torch

import cs502_lib
from cs502_lib.bio.sequences import transcribe as imported_reference_transcribe

from .correct_bio import _CODE

_T = {"A": "U", "T": "A", "C": "G", "G": "C"}


def _check_dna(s):
    if set(s.upper()) - set("ACGT"):
        raise ValueError("bad base")


# --------------------------------------------------------------------------- transcribe


def transcribe_coding_strand(template):
    _check_dna(template)
    return template.upper().replace("T", "U")


def transcribe_reversed(template):
    _check_dna(template)
    return "".join(_T[b] for b in reversed(template.upper()))


def transcribe_no_upper(template):
    _check_dna(template)
    return "".join(_T[b] for b in template)


def transcribe_no_value_error(template):
    return "".join(_T.get(b, "N") for b in template.upper())


def transcribe_with_t(template):
    _check_dna(template)
    return template.upper().translate(str.maketrans("ACGT", "TGCA"))


def transcribe_returns_list(template):
    _check_dna(template)
    return [_T[b] for b in template.upper()]


def transcribe_reference(template):
    return imported_reference_transcribe(template)


# --------------------------------------------------------------------------- translate


def _rna_ok(m):
    if set(m.upper()) - set("ACGU"):
        raise ValueError("bad letter")


def translate_through_stop(mrna):
    _rna_ok(mrna)
    r = mrna.upper()
    return "".join(_CODE[r[i:i + 3]] for i in range(0, len(r) - 2, 3) if _CODE[r[i:i + 3]] != "*")


def translate_frame_one(mrna):
    _rna_ok(mrna)
    r = mrna.upper()
    out = ""
    for i in range(1, len(r) - 2, 3):
        if _CODE[r[i:i + 3]] == "*":
            break
        out += _CODE[r[i:i + 3]]
    return out


def translate_incomplete_codon(mrna):
    _rna_ok(mrna)
    r = mrna.upper()
    out = ""
    for i in range(0, len(r), 3):
        aa = _CODE[r[i:i + 3]]
        if aa == "*":
            break
        out += aa
    return out


def translate_no_upper(mrna):
    _rna_ok(mrna)
    out = ""
    for i in range(0, len(mrna) - 2, 3):
        aa = _CODE[mrna[i:i + 3]]
        if aa == "*":
            break
        out += aa
    return out


def translate_key_error(mrna):
    r = mrna.upper()
    out = ""
    for i in range(0, len(r) - 2, 3):
        aa = _CODE[r[i:i + 3]]
        if aa == "*":
            break
        out += aa
    return out


def translate_writes_stop(mrna):
    _rna_ok(mrna)
    r = mrna.upper()
    out = ""
    for i in range(0, len(r) - 2, 3):
        out += _CODE[r[i:i + 3]]
        if out[-1] == "*":
            break
    return out


# --------------------------------------------------------------------------- kmer_tokenize


def _seq_ok(seq, k):
    if k < 1 or len(seq) < k or set(seq.upper()) - set("ACGT"):
        raise ValueError("invalid")


def kmers_non_overlapping(seq, k):
    _seq_ok(seq, k)
    return [seq.upper()[i:i + k] for i in range(0, len(seq) - k + 1, k)]


def kmers_drop_last(seq, k):
    _seq_ok(seq, k)
    return [seq.upper()[i:i + k] for i in range(len(seq) - k)]


def kmers_no_upper(seq, k):
    _seq_ok(seq, k)
    return [seq[i:i + k] for i in range(len(seq) - k + 1)]


def kmers_no_value_error(seq, k):
    return [seq.upper()[i:i + k] for i in range(len(seq) - k + 1)]


def kmers_generator(seq, k):
    _seq_ok(seq, k)
    return (seq.upper()[i:i + k] for i in range(len(seq) - k + 1))


def kmers_library(seq, k):
    return cs502_lib.bio.kmer_tokenize(seq, k)


# --------------------------------------------------------------------------- build_kmer_vocab

_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def vocab_wrong_order(k):
    if k < 1:
        raise ValueError("k")
    vocab = {s: i for i, s in enumerate(_SPECIALS)}
    for t in itertools.product("AGCT", repeat=k):
        vocab["".join(t)] = len(vocab)
    return vocab


def vocab_wrong_specials(k):
    if k < 1:
        raise ValueError("k")
    vocab = {s: i for i, s in enumerate(["[PAD]", "[UNK]", "[MASK]", "[CLS]", "[SEP]"])}
    for t in itertools.product("ACGT", repeat=k):
        vocab["".join(t)] = len(vocab)
    return vocab


def vocab_kmers_first(k):
    if k < 1:
        raise ValueError("k")
    vocab = {"".join(t): i for i, t in enumerate(itertools.product("ACGT", repeat=k))}
    for s in _SPECIALS:
        vocab[s] = len(vocab)
    return vocab


def vocab_no_specials(k):
    if k < 1:
        raise ValueError("k")
    return {"".join(t): 5 + i for i, t in enumerate(itertools.product("ACGT", repeat=k))}


def vocab_no_value_error(k):
    vocab = {s: i for i, s in enumerate(_SPECIALS)}
    for t in itertools.product("ACGT", repeat=k):
        vocab["".join(t)] = len(vocab)
    return vocab


# --------------------------------------------------------------------------- span_mask


def _finish(input_ids, masked):
    special = (input_ids == 0) | (input_ids == 2) | (input_ids == 3)
    masked = masked & ~special
    return input_ids.masked_fill(masked, 4), torch.where(masked, input_ids, torch.full_like(input_ids, -100))


def _spans(input_ids, k, p_start, generator):
    u = torch.rand(input_ids.shape, generator=generator)
    starts = u < p_start
    masked = torch.zeros_like(starts)
    L = input_ids.shape[1]
    for j in range(k):
        masked[:, j:] |= starts[:, : L - j]
    return masked


def span_not_contiguous(input_ids, k, mask_prob=0.15, generator=None):
    return _finish(input_ids, torch.rand(input_ids.shape, generator=generator) < mask_prob)


def span_specials_masked(input_ids, k, mask_prob=0.15, generator=None):
    masked = _spans(input_ids, k, mask_prob / k, generator)
    return input_ids.masked_fill(masked, 4), torch.where(masked, input_ids, torch.full_like(input_ids, -100))


def span_labels_zero(input_ids, k, mask_prob=0.15, generator=None):
    masked_ids, labels = _finish(input_ids, _spans(input_ids, k, mask_prob / k, generator))
    return masked_ids, labels.masked_fill(labels == -100, 0)


def span_wrong_fraction(input_ids, k, mask_prob=0.15, generator=None):
    return _finish(input_ids, _spans(input_ids, k, mask_prob, generator))


def span_wrong_mask_id(input_ids, k, mask_prob=0.15, generator=None):
    masked_ids, labels = _finish(input_ids, _spans(input_ids, k, mask_prob / k, generator))
    return masked_ids.masked_fill(masked_ids == 4, 1), labels


def span_modifies_input(input_ids, k, mask_prob=0.15, generator=None):
    masked_ids, labels = _finish(input_ids, _spans(input_ids, k, mask_prob / k, generator))
    input_ids.copy_(masked_ids)
    return input_ids, labels


def span_ignores_generator(input_ids, k, mask_prob=0.15, generator=None):
    return _finish(input_ids, _spans(input_ids, k, mask_prob / k, None))


def span_cpu_tensor(input_ids, k, mask_prob=0.15, generator=None):
    """Correct on the CPU, but draws its random numbers on the CPU whatever the device."""
    masked = _spans(input_ids, k, mask_prob / k, generator)
    return _finish(input_ids, masked)


MUTANTS = [
    ("check_transcribe", transcribe_coding_strand, "coding instead of template strand"),
    ("check_transcribe", transcribe_reversed, "reversed transcript"),
    ("check_transcribe", transcribe_no_upper, "no upper-casing"),
    ("check_transcribe", transcribe_no_value_error, "missing ValueError"),
    ("check_transcribe", transcribe_with_t, "instead of U"),
    ("check_transcribe", transcribe_returns_list, "join them"),
    ("check_transcribe", transcribe_reference, "cs502_lib's reference transcribe"),
    ("check_translate", translate_through_stop, "reading through a stop codon"),
    ("check_translate", translate_frame_one, "wrong reading frame"),
    ("check_translate", translate_incomplete_codon, "incomplete last codon"),
    ("check_translate", translate_no_upper, "no upper-casing"),
    ("check_translate", translate_key_error, "ValueError"),
    ("check_translate", translate_writes_stop, "stop codon is written"),
    ("check_kmer_tokenize", kmers_non_overlapping, "non-overlapping k-mers"),
    ("check_kmer_tokenize", kmers_drop_last, "dropped last k-mer"),
    ("check_kmer_tokenize", kmers_no_upper, "no upper-casing"),
    ("check_kmer_tokenize", kmers_no_value_error, "missing ValueError"),
    ("check_kmer_tokenize", kmers_generator, "return a list"),
    ("check_kmer_tokenize", kmers_library, "cs502_lib's reference kmer_tokenize"),
    ("check_kmer_vocab", vocab_wrong_order, "wrong vocab order"),
    ("check_kmer_vocab", vocab_wrong_specials, "wrong special ids"),
    ("check_kmer_vocab", vocab_kmers_first, "wrong special ids"),
    ("check_kmer_vocab", vocab_no_specials, "wrong special ids"),
    ("check_kmer_vocab", vocab_no_value_error, "missing ValueError"),
    ("check_span_mask", span_not_contiguous, "spans not contiguous"),
    ("check_span_mask", span_specials_masked, "special tokens masked"),
    ("check_span_mask", span_labels_zero, "labels not -100"),
    ("check_span_mask", span_wrong_fraction, "wrong mask fraction"),
    ("check_span_mask", span_wrong_mask_id, "wrong [MASK] id"),
    ("check_span_mask", span_modifies_input, "modified `input_ids` in place"),
    ("check_span_mask", span_ignores_generator, "generator"),
    ("check_span_mask", span_cpu_tensor, "different devices"),
]
