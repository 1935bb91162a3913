"""Checks of the ``dnabert`` assignment: transcribe, translate, kmer_tokenize, build_kmer_vocab, span_mask.

The first four work on Python strings and dicts, so they run on the CPU only and
compare exactly. ``span_mask`` is random: its check verifies properties (spans of k
tokens, the masked fraction over many draws, special tokens untouched, labels,
``[MASK]`` = 4, the input unchanged, reproducibility with a generator) rather than
values, on the CPU, on ``meta`` (device placement) and on CUDA when present.
"""

from __future__ import annotations

import itertools
import random
from typing import Any, Callable, Sequence

import torch

from ..bio import kmers as _kmers
from ..bio import masking as _masking
from ..bio import sequences as _sequences
from .attribution import student_location
from .context import Context
from .guards import attempt, reference_item, shielded, torch_refused_modules
from .report import CheckReport
from .run import run_check

__all__ = ["check_transcribe", "check_translate", "check_kmer_tokenize", "check_kmer_vocab", "check_span_mask"]

_CPU_ONLY = [torch.device("cpu")]
_BASES = "ACGT"
PAD, UNK, CLS, SEP, MASK = _kmers.PAD_ID, _kmers.UNK_ID, _kmers.CLS_ID, _kmers.SEP_ID, _kmers.MASK_ID


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


# --------------------------------------------------------------------------- span masking


def _batch(seed: int, B: int, L: int, k: int, lengths: Sequence[int] | None = None) -> torch.Tensor:
    """Token ids like a tokenizer's batch: [CLS] k-mer ids [SEP] then [PAD]s."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 5 + 4 ** k, (B, L), generator=g)
    lengths = lengths or [L] * B
    for b, n in enumerate(lengths):
        ids[b, 0] = CLS
        ids[b, n - 1] = SEP
        ids[b, n:] = PAD
    return ids


def _runs(row: list[bool]) -> list[tuple[int, int]]:
    """(start, length) of each run of True."""
    out, start = [], None
    for i, v in enumerate(row + [False]):
        if v and start is None:
            start = i
        elif not v and start is not None:
            out.append((start, i - start))
            start = None
    return out


def _bert_rule(ctx: Context, ids, masked_ids, labels, label: str) -> None:
    """Fail, naming BERT's 80/10/10 rule, if most labelled positions hold [MASK] but some keep or swap their token."""
    chosen = labels != -100
    n = int(chosen.sum())
    if not n:
        return
    got, original = masked_ids[chosen], ids[chosen]
    n_mask = int((got == MASK).sum())
    kept = int((got == original).sum())
    other = n - n_mask - kept
    if n_mask >= n / 2 and n_mask < n and bool((labels[chosen] == original).all()):
        ctx.fail("not every position with a label holds [MASK] (4)", label,
                 [f"of the {n} positions with a label, {n_mask} hold [MASK], {kept} keep their own token and {other} "
                  "hold another token"],
                 "BERT's 80/10/10 rule (80% [MASK], 10% a random token, 10% unchanged), as in BERT's and DNABERT's "
                 "pretraining code: this contract replaces *every* masked position with [MASK] (4), and those are "
                 "exactly the positions with a label.")


def _span_call(ctx: Context, impl, ids: torch.Tensor, k: int, p: float, seed: int | None, label: str):
    """One call of the student's span_mask on ``ids``: its outputs on the CPU (None on the meta device)."""
    # A CPU generator only on the CPU run: elsewhere a generator's device would be a guess (global RNG instead).
    gen = torch.Generator().manual_seed(seed) if seed is not None and ctx.device.type == "cpu" else None
    dev_ids = ctx.to(ids)
    args = (dev_ids, k, p) if gen is None else (dev_ids, k, p, gen)
    got = ctx.call(impl, *args, case=label)
    expected = [torch.empty(ids.shape, dtype=torch.long)] * 2
    out = ctx.structure(got, expected, ("masked_ids", "labels"), label, as_tuple=True)
    if ctx.values and not torch.equal(dev_ids.cpu(), ids):
        ctx.fail("your code modified `input_ids` in place", label,
                 cause="write the [MASK] ids into a copy: `masked = input_ids.clone()` (or `masked_fill`, "
                 "which returns a new tensor).")
    return [o.cpu() for o in out] if ctx.values else None


def _span_draw(ctx: Context, ids, k: int, masked_ids, labels, label: str) -> None:
    """What every single draw must satisfy: specials kept, [MASK] ids, labels, spans of k tokens."""
    special = (ids == PAD) | (ids == CLS) | (ids == SEP)
    masked = masked_ids != ids
    ctx.expect(not bool((masked & special).any()), "a special token ([PAD], [CLS] or [SEP]) was masked", label,
               "special tokens masked: only k-mer tokens may be masked; exclude ids 0, 2 and 3 from the candidates.")
    _bert_rule(ctx, ids, masked_ids, labels, label)
    ctx.expect(bool((masked_ids[masked] == MASK).all()), "a masked position does not hold the [MASK] id 4", label,
               f"wrong [MASK] id: masked positions become 4 ([MASK]); found {sorted(set(masked_ids[masked].tolist()))[:5]}.")
    chosen = labels != -100
    ctx.expect(bool((labels[~chosen] == -100).all()) and bool((labels[masked] == ids[masked]).all()),
               "labels are wrong at masked positions", label,
               "labels hold the original id at masked positions and -100 elsewhere.")
    other = sorted(set(labels[~masked].tolist()))
    ctx.expect(other == [-100] or not other, f"labels of unmasked positions are {other[:5]}, not -100", label,
               "labels not -100: positions that are not masked get the label -100 (ignored by the loss).")
    ctx.expect(bool((masked_ids[~masked] == ids[~masked]).all()), "unmasked positions changed", label)
    if k > 1:
        _span_runs(ctx, k, masked, special, label)


def _span_runs(ctx: Context, k: int, masked: torch.Tensor, special: torch.Tensor, label: str) -> None:
    """Masked runs come in spans of k tokens: a shorter run only at a row's edge or next to a special token."""
    for b in range(masked.shape[0]):
        row = masked[b].tolist()
        for start, length in _runs(row):
            end = start + length
            at_edge = start == 0 or end == len(row) or bool(special[b, start - 1]) or bool(special[b, end])
            if length < k and not at_edge:
                ctx.fail(f"a run of only {length} masked token(s) at positions {start}..{end - 1} (row {b})",
                         label, [f"masked positions of the row: {[i for i, v in enumerate(row) if v]}"],
                         f"spans not contiguous: mask k={k} consecutive tokens at a time (overlapping k-mers "
                         "leak a lone masked token's bases from its neighbours).")
    ctx.cases += 1


def _span_body(ctx: Context, impl) -> None:
    """The cases of :func:`check_span_mask`: several k and mask_prob, many draws, mask_prob=0, the generator."""
    for k, p in [(6, 0.15), (3, 0.3), (1, 0.15)]:
        ids = _batch(40 + k, 16, 64, k, lengths=[64, 40, 12, 64] * 4)
        label = f"k={k}, mask_prob={p}, a batch of 16 rows of length 64 ([CLS] ... [SEP] [PAD]...)"
        out = _span_call(ctx, impl, ids, k, p, 0, label)
        if out is None:
            continue
        _span_draw(ctx, ids, k, *out, label)
        # fraction over many draws
        total = masked_n = 0
        maskable = ((ids != PAD) & (ids != CLS) & (ids != SEP)).sum().item()
        for seed in range(1, 9):
            masked_ids, labels = _span_call(ctx, impl, ids, k, p, seed, label)
            masked_n += int((masked_ids != ids).sum())
            total += maskable
        frac = masked_n / total
        ctx.expect(abs(frac - p) <= 0.05 + 0.2 * p,
                   f"over 8 draws {frac:.3f} of the maskable tokens were masked; expected about {p}",
                   label + " (8 draws)",
                   "wrong mask fraction: about mask_prob of the maskable tokens must be masked; with spans of k "
                   "tokens, a span starts with probability about mask_prob / k (or choose mask_prob * n / k "
                   "span starts), not mask_prob.")
    if not ctx.values:
        return
    ids = _batch(50, 4, 30, 3)
    label = "mask_prob=0 masks nothing (k=3)"
    m0, l0 = _span_call(ctx, impl, ids, 3, 0.0, 1, label)
    ctx.expect(torch.equal(m0, ids) and bool((l0 == -100).all()), "mask_prob=0 still masked tokens", label,
               "wrong mask fraction: the number of masked tokens must follow mask_prob (none for 0).")
    ids = _batch(51, 8, 64, 6)
    label = "generator=None uses the global RNG (k=6)"
    m, lab = _span_call(ctx, impl, ids, 6, 0.15, None, label)
    _span_draw(ctx, ids, 6, m, lab, label)
    if ctx.device.type != "cpu":
        return
    label = "the same generator seed gives the same masks; different seeds differ (k=6)"
    a = _span_call(ctx, impl, ids, 6, 0.15, 7, label)
    b = _span_call(ctx, impl, ids, 6, 0.15, 7, label)
    c = _span_call(ctx, impl, ids, 6, 0.15, 8, label)
    ctx.expect(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]), "the same seed gave different masks", label,
               "draw every random number from `generator` (torch.rand(..., generator=generator)); Python's "
               "`random` module or the global RNG ignore it.")
    ctx.expect(not torch.equal(a[0], c[0]), "different seeds gave the same mask", label,
               "the generator is ignored or the mask is not random.")


def check_span_mask(impl, *, device=None, time_limit=None) -> CheckReport:
    """Check a student's ``span_mask(input_ids, k, mask_prob=0.15, generator=None) -> (masked_ids, labels)``.

    Masking is random, so the check verifies properties over many draws: contiguous
    spans of k tokens, the masked fraction near ``mask_prob``, [PAD]/[CLS]/[SEP] never
    masked, [MASK] = 4 at masked positions, labels = original id there and -100
    elsewhere, the input unchanged, and the same generator seed giving the same mask.
    """
    refused = torch_refused_modules() + [reference_item(_masking.span_mask, "span_mask")]
    body = shielded(lambda ctx: _span_body(ctx, impl))
    return run_check("span_mask", impl, body, refused=refused, device=device, time_limit=time_limit)
