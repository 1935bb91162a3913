"""Independently written *correct* implementations of the dnabert contracts."""

import itertools

import torch

# --------------------------------------------------------------------------- transcribe

_T = {"A": "U", "T": "A", "C": "G", "G": "C"}


def transcribe_dict(template):
    out = []
    for base in template.upper():
        if base not in _T:
            raise ValueError(f"not a DNA base: {base!r}")
        out.append(_T[base])
    return "".join(out)


def transcribe_maketrans(template):
    up = template.upper()
    if set(up) - set("ACGT"):
        raise ValueError("template may only contain A, C, G, T")
    return up.translate(str.maketrans("ACGT", "UGCA"))


def transcribe_ifs(template):
    rna = ""
    for b in template:
        b = b.upper()
        if b == "A":
            rna += "U"
        elif b == "T":
            rna += "A"
        elif b == "C":
            rna += "G"
        elif b == "G":
            rna += "C"
        else:
            raise ValueError(b)
    return rna


# --------------------------------------------------------------------------- translate

_AA = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
_CODE = {"".join(c): a for c, a in zip(itertools.product("UCAG", repeat=3), _AA)}


def translate_loop(mrna):
    rna = mrna.upper()
    if any(b not in "ACGU" for b in rna):
        raise ValueError("mrna must contain only A, C, G, U")
    protein = ""
    for i in range(0, len(rna) // 3 * 3, 3):
        aa = _CODE[rna[i:i + 3]]
        if aa == "*":
            break
        protein += aa
    return protein


def translate_split(mrna):
    rna = mrna.upper()
    bad = set(rna) - {"A", "C", "G", "U"}
    if bad:
        raise ValueError(f"unexpected letters {sorted(bad)}")
    codons = [rna[i:i + 3] for i in range(0, len(rna) - 2, 3)]
    return "".join(_CODE[c] for c in codons).split("*")[0]


def translate_while(mrna):
    for ch in mrna:
        if ch not in "ACGUacgu":
            raise ValueError(ch)
    i, out = 0, []
    while i + 3 <= len(mrna):
        aa = _CODE[mrna[i:i + 3].upper()]
        if aa == "*":
            return "".join(out)
        out.append(aa)
        i += 3
    return "".join(out)


def translate_upper_only(mrna):
    """Accepts upper case only (the contract leaves lower case open): a ValueError for anything else."""
    if any(b not in "ACGU" for b in mrna):
        raise ValueError("mrna must be upper-case A, C, G, U")
    out = []
    for i in range(0, len(mrna) - 2, 3):
        if _CODE[mrna[i:i + 3]] == "*":
            break
        out.append(_CODE[mrna[i:i + 3]])
    return "".join(out)


# --------------------------------------------------------------------------- kmer_tokenize


def kmers_comprehension(seq, k):
    if not isinstance(k, int) or k < 1:
        raise ValueError("k must be >= 1")
    s = seq.upper()
    if set(s) - set("ACGT"):
        raise ValueError("only A/C/G/T allowed")
    if len(s) < k:
        raise ValueError("sequence shorter than k")
    return [s[i:i + k] for i in range(len(s) - k + 1)]


def kmers_zip(seq, k):
    if k < 1 or len(seq) < k:
        raise ValueError("bad k")
    s = seq.upper()
    for ch in s:
        if ch not in "ACGT":
            raise ValueError(f"bad letter {ch}")
    return ["".join(t) for t in zip(*(s[j:] for j in range(k)))]


def kmers_while(seq, k):
    if k <= 0:
        raise ValueError("k")
    if len(seq) < k:
        raise ValueError("len")
    if not all(c in "ACGTacgt" for c in seq):
        raise ValueError("letters")
    out, i = [], 0
    while i + k <= len(seq):
        out.append(seq[i:i + k].upper())
        i += 1
    return out


# --------------------------------------------------------------------------- build_kmer_vocab


def vocab_product(k):
    if k < 1:
        raise ValueError("k must be positive")
    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4}
    for t in itertools.product("ACGT", repeat=k):
        vocab["".join(t)] = len(vocab)
    return vocab


def vocab_base4(k):
    if k < 1:
        raise ValueError("k")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {s: i for i, s in enumerate(specials)}
    for n in range(4 ** k):
        digits = []
        for _ in range(k):
            digits.append("ACGT"[n % 4])
            n //= 4
        vocab["".join(reversed(digits))] = len(vocab)
    return vocab


def vocab_recursive(k):
    if k < 1:
        raise ValueError("k")

    def words(n):
        return [""] if n == 0 else [b + w for b in "ACGT" for w in words(n - 1)]

    return {**{t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])},
            **{w: 5 + i for i, w in enumerate(words(k))}}


# --------------------------------------------------------------------------- span_mask


def span_mask_fixed_count(input_ids, k, mask_prob=0.15, generator=None):
    """Choose about mask_prob * n / k span starts per row at random, mask k tokens from each."""
    special = (input_ids == 0) | (input_ids == 2) | (input_ids == 3)
    B, L = input_ids.shape
    scores = torch.rand(B, L, generator=generator, device=generator.device if generator else input_ids.device)
    scores = scores.to(input_ids.device)
    n_maskable = (~special).sum(dim=1, keepdim=True)
    n_spans = torch.round(n_maskable * mask_prob / k).long()
    order = scores.argsort(dim=1)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(L, device=input_ids.device).expand(B, L))
    starts = rank < n_spans
    masked = torch.zeros_like(starts)
    for j in range(k):
        masked[:, j:] |= starts[:, : L - j]
    masked &= ~special
    labels = torch.where(masked, input_ids, torch.full_like(input_ids, -100))
    return input_ids.masked_fill(masked, 4), labels


def span_mask_loops(input_ids, k, mask_prob=0.15, generator=None):
    """Python loops over rows and positions (reads values: the meta run falls back)."""
    masked_ids = input_ids.clone()
    labels = torch.full_like(input_ids, -100)
    q = 1 - (1 - mask_prob) ** (1 / k)
    B, L = input_ids.shape
    draws = torch.rand(B, L, generator=generator).tolist()
    ids = input_ids.tolist()
    for b in range(B):
        for s in range(L):
            if draws[b][s] < q:
                for j in range(s, min(L, s + k)):
                    if ids[b][j] not in (0, 2, 3):
                        masked_ids[b, j] = 4
                        labels[b, j] = ids[b][j]
    return masked_ids, labels


def span_mask_conv(input_ids, k, mask_prob=0.15, generator=None):
    """Span starts with probability mask_prob / k, spread over k tokens with a 1-D max-pool."""
    dev = input_ids.device
    u = torch.rand(input_ids.shape, generator=generator, device=generator.device if generator else dev).to(dev)
    starts = (u < mask_prob / k).float().unsqueeze(1)
    spread = torch.nn.functional.max_pool1d(torch.nn.functional.pad(starts, (k - 1, 0)), k, stride=1).squeeze(1) > 0
    maskable = (input_ids != 0) & (input_ids != 2) & (input_ids != 3)
    m = spread & maskable
    return torch.where(m, torch.full_like(input_ids, 4), input_ids), torch.where(m, input_ids,
                                                                                torch.full_like(input_ids, -100))


CORRECT = {
    "check_transcribe": [transcribe_dict, transcribe_maketrans, transcribe_ifs],
    "check_translate": [translate_loop, translate_split, translate_while, translate_upper_only],
    "check_kmer_tokenize": [kmers_comprehension, kmers_zip, kmers_while],
    "check_kmer_vocab": [vocab_product, vocab_base4, vocab_recursive],
    "check_span_mask": [span_mask_fixed_count, span_mask_loops, span_mask_conv],
}
