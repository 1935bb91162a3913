"""Checks of the ``dnabert`` assignment on Python strings and dicts: transcribe, translate, kmer_tokenize,
build_kmer_vocab.

They run on the CPU only and compare exactly: each case calls the student's function, compares its
result with the reference's, and names the likely mistake by trying the known wrong variants.
(``span_mask``, random and on tensors, is checked in :mod:`.masking`.)
"""

from __future__ import annotations

import itertools
import random
from typing import Any, Callable, Sequence

import torch

from ..bio import kmers as _kmers
from ..bio import sequences as _sequences
from .attribution import student_location
from .context import Context
from .guards import attempt, reference_item, shielded, torch_refused_modules
from .hidden import equal, raises, seeded_dna
from .report import CheckReport
from .run import run_check

__all__ = ["check_transcribe", "check_translate", "check_kmer_tokenize", "check_kmer_vocab"]

_CPU_ONLY = [torch.device("cpu")]
_BASES = "ACGT"


_attempt = attempt  # ("ok", result) or ("error", exception), so that the check can name a cause


def _raised(ctx: Context, exc: BaseException, label: str, cause: str | None) -> None:
    """Fail on an exception of the student's code (a blank function is "not written yet")."""
    where = student_location(exc, ctx.student_files)
    if isinstance(exc, NotImplementedError):
        ctx._student_exception(exc, label, "your code", where)
    ctx.fail(f"your code raised {type(exc).__name__}: {str(exc).strip()[:200]}", label,
             [f"at {where}" if where else ""], cause)


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _string_case(ctx: Context, impl: Callable, reference: Callable, args: tuple, label: str, *,
                 variants: Sequence[tuple[str, Callable]] = (), error_cause: str | None = None,
                 result_type: type = str, may_raise: bool = False) -> None:
    """Call ``impl(*args)``, compare exactly with ``reference(*args)``, diagnose a mismatch with ``variants``.

    ``may_raise``: the contract leaves this input open, so a ValueError is accepted too.
    """
    status, got = ctx.call(_attempt(impl, *args), case=label)
    if status == "error" and may_raise and isinstance(got, ValueError):
        ctx.cases += 1
        return
    if status == "error":
        _raised(ctx, got, label, error_cause)
    expected = reference(*args)
    if not isinstance(got, result_type):
        cause = None
        if got is None:
            cause = "a missing `return` statement."
        elif result_type is str and isinstance(got, (list, tuple)):
            cause = "the letters were collected in a list: join them with `''.join(...)`."
        elif result_type is list and hasattr(got, "__iter__"):
            cause = f"return a list: `list(...)` or a list comprehension (you returned a {type(got).__name__})."
        ctx.fail(f"your code returned a {type(got).__name__}; expected a {result_type.__name__} such as "
                 f"{_short(expected, 60)}", label, cause=cause)
    if got != expected:
        cause = None
        for variant_cause, fn in variants:
            try:
                if fn(*args) == got:
                    cause = variant_cause
                    break
            except Exception:
                continue
        ctx.fail("wrong result", label, [f"expected {_short(expected)}", f"got      {_short(got)}"], cause)
    ctx.cases += 1


def _random_dna(rng: random.Random, n: int, alphabet: str = _BASES) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


# --------------------------------------------------------------------------- transcribe

_PAIR = {"A": "U", "T": "A", "C": "G", "G": "C"}


def _transcribe_variants() -> list:
    def pair(seq):
        return "".join(_PAIR[b] for b in seq.upper())

    return [
        ("coding instead of template strand: the input is the *template* strand, so each base is replaced by its "
         "RNA complement (A->U, T->A, C->G, G->C); your code only replaced T by U (that is the coding strand).",
         lambda s: s.upper().replace("T", "U")),
        ("coding instead of template strand: the input is the template; your code replaced T by U without "
         "complementing (and kept the case).", lambda s: s.replace("T", "U").replace("t", "u")),
        ("reversed transcript: write the mRNA base by base in the same direction as the template (as in the "
         "lecture's figure), without reversing it.", lambda s: pair(s)[::-1]),
        ("the complement is written with T (DNA) instead of U: RNA uses U, so A pairs with U.",
         lambda s: pair(s).replace("U", "T")),
        ("no upper-casing: lower-case input is accepted, and the mRNA is returned in upper case.",
         lambda s: "".join({"a": "u", "t": "a", "c": "g", "g": "c"}.get(b, _PAIR.get(b, b)) for b in s)),
        ("lower-case letters are passed through unchanged (a lookup such as `pairs.get(base, base)` keeps any letter "
         "it does not know): upper-case the template first (`template.upper()`), then complement each base, and "
         "raise ValueError for any other letter.", lambda s: "".join(_PAIR.get(b, b) for b in s)),
    ]


def check_transcribe(impl, *, device=None, time_limit=None) -> CheckReport:
    """Check a student's ``transcribe(template) -> mRNA`` (A->U, T->A, C->G, G->C; ValueError on other letters)."""
    ref = _sequences.transcribe
    refused = torch_refused_modules() + [reference_item(ref, "transcribe")]
    rng = random.Random(30)
    cases = [
        ("CACGTAGACTGAGGACTCCTCTTC", "the lecture's figure: CACGTAGACTGAGGACTCCTCTTC"),
        ("A", "a single base A"), ("T", "a single base T"), ("C", "a single base C"), ("G", "a single base G"),
        ("acgtt", "lower case 'acgtt'"), ("AcGtTaCg", "mixed case 'AcGtTaCg'"), ("", "the empty string"),
        (_random_dna(rng, 60), "a random 60-base template"),
    ]

    def body(ctx: Context) -> None:
        for seq, label in cases:
            _string_case(ctx, impl, ref, (seq,), f"transcribe({seq!r}): {label}", variants=_transcribe_variants(),
                         error_cause="no upper-casing: lower case must be accepted (use seq.upper())."
                         if seq != seq.upper() else None, may_raise=not seq)
        for bad in ("ACGU", "ACGN", "AC GT", "ACGTX"):
            ctx.expect_error(impl, bad, case=f"transcribe({bad!r}): a letter that is not A/C/G/T",
                             cause="a missing ValueError: any letter other than A/C/G/T (either case) must raise "
                             "ValueError naming it.")

    return run_check("transcribe", impl, shielded(body), refused=refused, device=device, time_limit=time_limit,
                     devices=_CPU_ONLY)


# --------------------------------------------------------------------------- translate


def _translate_variant(mrna: str, *, frame: int = 0, through: str | None = None) -> str:
    rna = mrna.upper()
    out = []
    for i in range(frame, len(rna) - 2, 3):
        aa = _sequences.GENETIC_CODE[rna[i:i + 3]]
        if aa == _sequences.STOP:
            if through is None:
                break
            if through == "include_stop":
                out.append("*")
                break
            if through == "star":
                out.append("*")
            continue
        out.append(aa)
    return "".join(out)


def _translate_variants() -> list:
    return [
        ("reading through a stop codon: translation ends at the first stop codon (UAA, UAG, UGA); your code "
         "skipped it and went on.", lambda s: _translate_variant(s, through="skip")),
        ("reading through a stop codon: translation ends at the first stop codon; your code wrote it as '*' and "
         "went on.", lambda s: _translate_variant(s, through="star")),
        ("the stop codon is written: stop *before* the first stop codon and do not write it ('*').",
         lambda s: _translate_variant(s, through="include_stop")),
        ("wrong reading frame: read codons from position 0 (bases 0-2, 3-5, ...).",
         lambda s: _translate_variant(s, frame=1)),
        ("wrong reading frame: read codons from position 0 (bases 0-2, 3-5, ...).",
         lambda s: _translate_variant(s, frame=2)),
        ("the last codon is missing: every complete codon is read (the loop bound drops one).",
         lambda s: _translate_variant(s[: max(0, (len(s) // 3) * 3 - 3)])),
    ]


def check_translate(impl, *, device=None, time_limit=None) -> CheckReport:
    """Check a student's ``translate(mrna) -> protein`` (standard code, from position 0, stop before a stop codon)."""
    ref = _sequences.translate
    refused = torch_refused_modules() + [reference_item(ref, "translate")]
    rng = random.Random(31)
    codons = [c for c, aa in _sequences.GENETIC_CODE.items() if aa != _sequences.STOP]
    every = "".join(sorted(codons))
    cases = [
        ("GUGCAUCUGACUCCUGAGGAGAAG", "the lecture's figure (VHLTPEEK)"),
        ("AUGUUUUAAGGGCCC", "a stop codon (UAA) in the middle"),
        ("AUGGCCUGAUUU", "a stop codon (UGA) in the middle"),
        ("UAGAUGGCC", "a stop codon (UAG) first"),
        ("AUGUUUGC", "an incomplete last codon (2 leftover bases)"),
        ("AUGCCCA", "an incomplete last codon (1 leftover base)"),
        ("augccg", "lower case"),
        ("", "the empty string"),
        ("GC", "no complete codon"),
        (every, "all 61 sense codons"),
        ("".join(rng.choice(codons) for _ in range(30)) + "UAA" + "".join(rng.choice(codons) for _ in range(5)),
         "30 random codons, then a stop, then more codons"),
    ]

    def body(ctx: Context) -> None:
        for seq, label in cases:
            cause = None
            if seq != seq.upper():
                cause = "no upper-casing: lower-case letters are upper-cased (or rejected with a ValueError)."
            elif len(seq) % 3:
                cause = "an incomplete last codon must be ignored: loop over range(0, len(mrna) - 2, 3)."
            # The contract does not say whether lower case or an empty string is accepted: a ValueError is fine too.
            _string_case(ctx, impl, ref, (seq,), f"translate({_short(seq, 50)}): {label}",
                         variants=_translate_variants(), error_cause=cause,
                         may_raise=not seq or seq != seq.upper())
        for bad in ("AUGT", "AUGN", "AUG UUU"):
            ctx.expect_error(impl, bad, case=f"translate({bad!r}): a letter that is not A/C/G/U",
                             cause="a missing ValueError: any letter other than A/C/G/U must raise ValueError "
                             "(a KeyError from the codon table is not a clear message).")

    return run_check("translate", impl, shielded(body), refused=refused, device=device, time_limit=time_limit,
                     devices=_CPU_ONLY)


# --------------------------------------------------------------------------- k-mers


def _kmer_variants() -> list:
    return [
        ("non-overlapping k-mers: consecutive k-mers start one base apart (step 1), so there are len(seq) - k + 1.",
         lambda s, k: [s.upper()[i:i + k] for i in range(0, len(s) - k + 1, k)]),
        ("dropped last k-mer: there are len(seq) - k + 1 k-mers; the loop must run to range(len(seq) - k + 1).",
         lambda s, k: [s.upper()[i:i + k] for i in range(len(s) - k)]),
        ("no upper-casing: k-mers are upper-cased.", lambda s, k: [s[i:i + k] for i in range(len(s) - k + 1)]),
        ("k-mers of length k - 1: slice seq[i:i + k].",
         lambda s, k: [s.upper()[i:i + k - 1] for i in range(len(s) - k + 1)]),
        ("the last k-1 k-mers are too short: stop at len(seq) - k + 1 starts so that each k-mer has k bases.",
         lambda s, k: [s.upper()[i:i + k] for i in range(len(s))]),
    ]


def check_kmer_tokenize(impl, *, device=None, time_limit=None) -> CheckReport:
    """Check a student's ``kmer_tokenize(seq, k) -> list[str]`` (overlapping, upper-cased, ValueErrors)."""
    ref = _kmers.kmer_tokenize
    refused = torch_refused_modules() + [reference_item(ref, "kmer_tokenize")]
    rng = random.Random(32)
    cases = [
        (("ACGTACGT", 3), "8 bases, k=3"), (("ACGT", 4), "len(seq) == k: one k-mer"), (("ACGTT", 1), "k=1"),
        (("acgtA", 3), "lower case"), ((_random_dna(rng, 40), 6), "40 random bases, k=6"),
        ((_random_dna(rng, 13), 5), "13 random bases, k=5"),
    ]
    bad = [
        (("ACGNT", 3), "a letter other than A/C/G/T (N)"), (("ACGU", 2), "a U (RNA letter)"),
        (("ACG", 4), "len(seq) < k"), (("ACGT", 0), "k = 0"), (("ACGT", -2), "k < 0"),
    ]

    def body(ctx: Context) -> None:
        for args, label in cases:
            _string_case(ctx, impl, ref, args, f"kmer_tokenize({args[0]!r}, {args[1]}): {label}",
                         variants=_kmer_variants(), result_type=list,
                         error_cause="no upper-casing: lower case must be accepted." if args[0] != args[0].upper()
                         else None)
        for args, label in bad:
            ctx.expect_error(impl, *args, case=f"kmer_tokenize({args[0]!r}, {args[1]}): {label}",
                             cause="a missing ValueError: letters other than A/C/G/T, k < 1 and len(seq) < k must "
                             "each raise ValueError with a clear message.")

    return run_check("kmer_tokenize", impl, shielded(body), refused=refused, device=device, time_limit=time_limit,
                     devices=_CPU_ONLY)


_SPECIALS = list(_kmers.SPECIAL_TOKENS)  # index = id


def _vocab_diagnosis(got: dict, expected: dict, k: int) -> tuple[str, str | None]:
    """What differs between two vocabularies, and the likely cause."""
    missing = [t for t in expected if t not in got]
    extra = [t for t in got if t not in expected]
    if missing or extra:
        detail = []
        if missing:
            detail.append(f"missing tokens: {_short(missing[:8])}")
        if extra:
            detail.append(f"unexpected tokens: {_short(extra[:8])}")
        cause = None
        if any(t in _SPECIALS for t in missing):
            cause = "wrong special ids: the special tokens [PAD], [UNK], [CLS], [SEP], [MASK] are part of the vocabulary."
        elif any(isinstance(t, str) and t != t.upper() for t in extra):
            cause = "no upper-casing: the k-mers are upper case."
        return "; ".join(detail), cause
    wrong_special = [(t, expected[t], got[t]) for t in _SPECIALS if got[t] != expected[t]]
    if wrong_special:
        t, want, have = wrong_special[0]
        return (f"{t} has id {have!r}; expected {want}",
                "wrong special ids: [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4, in this order, then the k-mers "
                "from id 5.")
    kmers = [t for t in expected if t not in _SPECIALS]
    first_bad = next((t for t in kmers if got[t] != expected[t]), kmers[0])
    detail = f"{first_bad!r} has id {got[first_bad]!r}; expected {expected[first_bad]}"
    ids = [got[t] for t in kmers]
    if sorted(ids) == [i - 1 for i in range(5, 5 + 4 ** k)] or sorted(ids) == [i + 1 for i in range(5, 5 + 4 ** k)] \
            or sorted(ids) == list(range(4 ** k)):
        return detail, "wrong special ids or offset: the k-mers take ids 5 .. 4**k + 4, after the 5 special tokens."
    for order in itertools.permutations(_BASES):
        alt = {"".join(p): 5 + i for i, p in enumerate(itertools.product(order, repeat=k))}
        if all(got[t] == alt[t] for t in kmers):
            return detail, (f"wrong vocab order: the k-mers are numbered in the order of "
                            f"itertools.product({''.join(order)!r}, repeat=k); the contract orders them "
                            "lexicographically over 'ACGT' (AAA, AAC, AAG, AAT, ACA, ...).")
    rev = {"".join(p)[::-1]: 5 + i for i, p in enumerate(itertools.product(_BASES, repeat=k))}
    if all(got[t] == rev[t] for t in kmers):
        return detail, "wrong vocab order: the last letter varies slowest; lexicographic order varies the last fastest."
    return detail, "wrong vocab order: number the k-mers 5, 6, ... in lexicographic order over 'ACGT'."


def check_kmer_vocab(impl, *, device=None, time_limit=None) -> CheckReport:
    """Check a student's ``build_kmer_vocab(k) -> dict`` (5 specials, then all 4**k k-mers in 'ACGT' order)."""
    ref = _kmers.build_kmer_vocab
    refused = torch_refused_modules() + [reference_item(ref, "build_kmer_vocab")]

    def body(ctx: Context) -> None:
        for k in (1, 2, 3, 6):
            label = f"build_kmer_vocab({k})"
            status, got = ctx.call(_attempt(impl, k), case=label)
            if status == "error":
                _raised(ctx, got, label, None)
            expected = ref(k)
            if not isinstance(got, dict):
                ctx.fail(f"your code returned a {type(got).__name__}; expected a dict token -> id", label,
                         cause="a missing `return` statement." if got is None else None)
            bad_ids = [t for t, i in got.items() if isinstance(i, bool) or not isinstance(i, int)]
            if bad_ids:
                ctx.fail(f"the id of {bad_ids[0]!r} is {got[bad_ids[0]]!r}, not a Python int", label)
            if got != expected:
                detail, cause = _vocab_diagnosis(got, expected, k)
                ctx.fail(f"wrong vocabulary ({len(got)} entries; expected {len(expected)})", label, [detail], cause)
            ctx.cases += 1
        ctx.expect_error(impl, 0, case="build_kmer_vocab(0)", cause="a missing ValueError: k must be at least 1.")

    return run_check("kmer_vocab", impl, shielded(body), refused=refused, device=device, time_limit=time_limit,
                     devices=_CPU_ONLY)


# --------------------------------------------------------------------------- hidden tests
# hidden_<name>(ctx, impl): the suite of the hidden test cell hidden_<name>, run by grading.hidden.run_hidden.


def hidden_transcribe(ctx: Context, impl) -> None:
    dna = seeded_dna(509, 5000)
    expected = dna.translate(str.maketrans("ACGT", "UGCA"))
    case = "a random template strand of 5000 bases"
    equal(ctx, ctx.call(impl, dna, case=case), expected, "wrong mRNA for a random strand of 5000 bases", case)
    case = "lower-case input"
    equal(ctx, ctx.call(impl, dna[:50].lower(), case=case), expected[:50],
          "lower-case input must give the upper-case mRNA", case)
    for bad in ("ACGU", "ACNT", "AC GT"):
        raises(ctx, impl, bad, case=f"transcribe({bad!r})", headline=f"transcribe({bad!r}) must raise ValueError")


def hidden_translate(ctx: Context, impl) -> None:
    amino = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
    for (a, b, c), aa in zip(itertools.product("UCAG", repeat=3), amino):
        codon, want = a + b + c, ("" if aa == "*" else aa)
        case = f"translate({codon!r})"
        got = ctx.call(impl, codon, case=case)
        ctx.expect(got == want and type(got) is str, f"translate({codon!r}) gave {got!r}, expected {want!r}", case)
    for seq, want, headline in (("UAAAUG", "", "a stop codon first gives the empty protein"),
                                ("AUGGC", "M", "the incomplete last codon must be ignored"),
                                ("augUGGuaa", "MW", "mixed case must be accepted")):
        case = f"translate({seq!r})"
        equal(ctx, ctx.call(impl, seq, case=case), want, headline, case)
    for bad in ("AUGUAAXYZ", "AUGTTT"):
        raises(ctx, impl, bad, case=f"translate({bad!r})",
               headline=f"translate({bad!r}) must raise ValueError (a letter other than A/C/G/U, even after a stop)")


def hidden_kmer_tokenize(ctx: Context, impl) -> None:
    case = "kmer_tokenize('GATTACA', 7)"
    equal(ctx, ctx.call(impl, "GATTACA", 7, case=case), ["GATTACA"], "k = len(seq) gives exactly one k-mer", case)
    case = "kmer_tokenize('gat', 1)"
    equal(ctx, ctx.call(impl, "gat", 1, case=case), ["G", "A", "T"], "k = 1 gives the upper-case bases", case)
    dna = seeded_dna(510, 3000)
    case = "a sequence of 3000 bases, k=6"
    tokens = ctx.call(impl, dna, 6, case=case)
    equal(ctx, tokens, [dna[i:i + 6] for i in range(2995)], "wrong k-mers for a sequence of 3000 bases", case)
    for args in (("ACGN", 2), ("ACGT", 0), ("ACG", 4), ("ACGU", 2)):
        raises(ctx, impl, *args, case=f"kmer_tokenize{args!r}", headline=f"kmer_tokenize{args!r} must raise ValueError")


def hidden_build_kmer_vocab(ctx: Context, impl) -> None:
    case = "build_kmer_vocab(1)"
    want = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4, "A": 5, "C": 6, "G": 7, "T": 8}
    v1 = ctx.call(impl, 1, case=case)
    ctx.expect(isinstance(v1, dict) and v1 == want, f"build_kmer_vocab(1) is {str(v1)[:200]}", case)
    case = "build_kmer_vocab(6)"
    v6 = ctx.call(impl, 6, case=case)
    ok = isinstance(v6, dict) and len(v6) == 4101 and sorted(v6.values()) == list(range(4101))
    ctx.expect(ok, "build_kmer_vocab(6) must hold 4101 tokens with the ids 0..4100", case)
    ok = v6.get("AAAAAA") == 5 and v6.get("AAAAAC") == 6 and v6.get("ACGTAC") == 5 + 0b000110110001 and \
        v6.get("TTTTTT") == 4100
    ctx.expect(ok, "build_kmer_vocab(6): a k-mer's id must be 5 + its rank in ACGT order", case)
