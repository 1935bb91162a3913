"""The dnabert contracts written in the styles students bring from elsewhere (exercise sites' lookup tables,
sequence-library habits, BERT-style masking), adapted only to the contract's names; written for this catalogue.

``CORRECT``: equivalent to the contract (accepted); ``MUTANTS``: not, with words their failure must contain.
"""

import re

import torch

from .correct_bio import _CODE

_RNA_OF = {"G": "C", "C": "G", "T": "A", "A": "U"}

# --------------------------------------------------------------------------- transcribe


def transcribe_case_folding_table(template):
    table = str.maketrans("ACGTacgt", "UGCAUGCA")
    if re.search(r"[^ACGTacgt]", template):
        raise ValueError(f"not a DNA template: {template!r}")
    return template.translate(table)


def transcribe_lookup_upper(template):
    try:
        return "".join(_RNA_OF[base] for base in template.upper())
    except KeyError as missing:
        raise ValueError(f"invalid nucleotide {missing}") from None


def transcribe_lookup_passes_through(template):
    return "".join(_RNA_OF.get(base, base) for base in template)


def transcribe_lookup_case_sensitive(template):
    return "".join(_RNA_OF[base] for base in template)


def transcribe_reverse_complement(template):
    return "".join(_RNA_OF[b] for b in reversed(template.upper()))


def transcribe_blank(template):
    raise NotImplementedError()


# --------------------------------------------------------------------------- translate


def translate_codon_regex(mrna):
    rna = mrna.upper()
    if re.search("[^ACGU]", rna):
        raise ValueError("mRNA letters are A, C, G, U")
    protein = []
    for codon in re.findall("...", rna):
        if _CODE[codon] == "*":
            break
        protein.append(_CODE[codon])
    return "".join(protein)


def translate_whole_table_with_stars(mrna):
    """Every codon through the table, stops written as '*' (a sequence library's default without stopping)."""
    rna = mrna.upper()
    if set(rna) - set("ACGU"):
        raise ValueError("not an mRNA")
    return "".join(_CODE[rna[i:i + 3]] for i in range(0, len(rna) - len(rna) % 3, 3))


def kmers_space_joined(seq, k):
    """k-mers as one space-separated string, the form some pretraining scripts write to their text files."""
    if k < 1 or len(seq) < k or set(seq.upper()) - set("ACGT"):
        raise ValueError("bad input")
    return " ".join(seq.upper()[i:i + k] for i in range(len(seq) + 1 - k))


def translate_blank(mrna):
    raise NotImplementedError()


def kmers_blank(seq, k):
    raise NotImplementedError()


def vocab_blank(k):
    raise NotImplementedError()


# --------------------------------------------------------------------------- span_mask


def _uniform(input_ids, generator):
    dev = input_ids.device
    return torch.rand(input_ids.shape, generator=generator, device=generator.device if generator else dev).to(dev)


def _maskable(input_ids):
    return (input_ids != 0) & (input_ids != 2) & (input_ids != 3)


def span_centered_windows(input_ids, k, mask_prob=0.15, generator=None):
    """Centres drawn among the k-mer tokens, each widened to the k tokens around it (cut at specials)."""
    maskable = _maskable(input_ids)
    centres = (_uniform(input_ids, generator) < mask_prob / k) & maskable
    L = input_ids.shape[1]
    masked = torch.zeros_like(centres)
    for offset in range(-((k - 1) // 2), k // 2 + 1):
        if offset >= 0:
            masked[:, offset:] |= centres[:, : L - offset]
        else:
            masked[:, :offset] |= centres[:, -offset:]
    masked &= maskable
    labels = input_ids.masked_fill(~masked, -100)
    return input_ids.masked_fill(masked, 4), labels


def span_bert_replacement_rule(input_ids, k, mask_prob=0.15, generator=None):
    """Right spans and labels, but of the chosen tokens 80% become [MASK], 10% a random k-mer, 10% stay."""
    maskable = _maskable(input_ids)
    starts = _uniform(input_ids, generator) < mask_prob / k
    L = input_ids.shape[1]
    chosen = torch.zeros_like(starts)
    for j in range(k):
        chosen[:, j:] |= starts[:, : L - j]
    chosen &= maskable
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, -100))
    u = _uniform(input_ids, generator)
    dev = input_ids.device
    random_ids = torch.randint(5, 5 + 4 ** k, input_ids.shape, generator=generator,
                               device=generator.device if generator else dev).to(dev)
    out = torch.where(chosen & (u < 0.8), torch.full_like(input_ids, 4), input_ids)
    out = torch.where(chosen & (u >= 0.8) & (u < 0.9), random_ids, out)
    return out, labels


def span_blank(input_ids, k, mask_prob=0.15, generator=None):
    raise NotImplementedError()


CORRECT = {
    "check_transcribe": [transcribe_case_folding_table, transcribe_lookup_upper],
    "check_translate": [translate_codon_regex],
    "check_span_mask": [span_centered_windows],
}

MUTANTS = [
    ("check_transcribe", transcribe_lookup_passes_through, "lower-case letters are passed through unchanged"),
    ("check_transcribe", transcribe_lookup_case_sensitive, "no upper-casing"),
    ("check_transcribe", transcribe_reverse_complement, "reversed transcript"),
    ("check_transcribe", transcribe_blank, "not written yet"),
    ("check_translate", translate_whole_table_with_stars, "wrote it as '*' and went on"),
    ("check_translate", translate_blank, "not written yet"),
    ("check_kmer_tokenize", kmers_space_joined, "return a list"),
    ("check_kmer_tokenize", kmers_blank, "not written yet"),
    ("check_kmer_vocab", vocab_blank, "not written yet"),
    ("check_span_mask", span_bert_replacement_rule, "80/10/10"),
    ("check_span_mask", span_blank, "not written yet"),
]
