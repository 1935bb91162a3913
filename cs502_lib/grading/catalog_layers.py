"""The catalog of common mistakes, continued: positional encodings, masks and the Transformer layers.

Same conventions as :mod:`.catalog`: each entry is ``(cause, function)``, the function
takes the reference's arguments (modules take the reference module first), and the
first variant whose output matches the student's names the mistake. Probes look at
the student's output itself when no variant matches.
"""

from __future__ import annotations

import math
from functools import partial

import torch


# --------------------------------------------------------------------------- positions and masks


def pe_variant(max_len, d_model, *, swap=False, concat=False, exponent="2i", base=10000.0, start=0,
               per_column=False):
    """The sinusoidal encoding with one deliberate mistake."""
    p = torch.arange(start, start + max_len, dtype=torch.float64)[:, None]
    i = torch.arange(d_model // 2, dtype=torch.float64)
    expo = {"2i": 2 * i / d_model, "i": i / d_model, "4i": 4 * i / d_model, "neg": -2 * i / d_model}[exponent]
    angle = p / base ** expo
    first, second = (torch.cos, torch.sin) if swap else (torch.sin, torch.cos)
    if concat:
        return torch.cat([first(angle), second(angle)], dim=1).float()
    pe = torch.empty(max_len, d_model, dtype=torch.float64)
    if per_column:
        j = torch.arange(d_model, dtype=torch.float64)
        ang = p / base ** (j / d_model)
        pe[:, 0::2], pe[:, 1::2] = first(ang[:, 0::2]), second(ang[:, 1::2])
    else:
        pe[:, 0::2], pe[:, 1::2] = first(angle), second(angle)
    return pe.float()


def pe_variants() -> list:
    return [
        ("PE sin/cos swapped: even columns hold sin, odd columns cos (PE[p, 2i] = sin, PE[p, 2i+1] = cos).",
         partial(pe_variant, swap=True)),
        ("PE halves concatenated instead of interleaved: sin goes to the even columns 0, 2, 4, ... and cos to the odd "
         "columns 1, 3, 5, ... (`pe[:, 0::2] = sin`, `pe[:, 1::2] = cos`), not first half / second half.",
         partial(pe_variant, concat=True)),
        ("PE halves concatenated (cos first) instead of interleaved: even columns sin, odd columns cos.",
         partial(pe_variant, concat=True, swap=True)),
        ("wrong frequency exponent: the divisor is 10000^(2i/d_model) where i counts the sin/cos *pairs*; your code "
         "uses 10000^(i/d_model).", partial(pe_variant, exponent="i")),
        ("wrong frequency exponent: the divisor is 10000^(2i/d_model) where 2i is the *column* of the sin; your code "
         "doubles it again (10000^(4i/d_model)).", partial(pe_variant, exponent="4i")),
        ("wrong frequency exponent: the cos column 2i+1 must use the same frequency as its sin column 2i "
         "(10000^(2i/d_model)); your code uses the column index 2i+1 for it.", partial(pe_variant, per_column=True)),
        ("wrong frequency exponent sign: the position is *divided* by 10000^(2i/d_model), not multiplied.",
         partial(pe_variant, exponent="neg")),
        ("wrong frequency base: the base is 10000 (your code uses 1000).", partial(pe_variant, base=1000.0)),
        ("wrong frequency base: the base is 10000 (your code uses 100000).", partial(pe_variant, base=100000.0)),
        ("positions starting at 1: the first row is position p = 0 (sin 0 = 0, cos 0 = 1).", partial(pe_variant, start=1)),
        ("transposed output: the result must be (max_len, d_model).",
         lambda max_len, d_model: pe_variant(d_model, max_len).T.contiguous() if max_len % 2 == 0 else None),
    ]


_LAYOUTS = {
    "interleaved, sin first": "interleaved (sin in the even columns, cos in the odd ones)",
    "interleaved, cos first": "interleaved but cos first (cos in the even columns, sin in the odd ones)",
    "halves, sin first": "sin and cos in halves (sin in columns 0 .. d_model/2 - 1, cos in the second half: the "
                         "fairseq / tensor2tensor layout)",
    "halves, cos first": "cos and sin in halves (cos in the first half of the columns, sin in the second)",
}


def pe_layout(pe: torch.Tensor) -> tuple[str, torch.Tensor] | None:
    """Which columns of ``pe`` pair up as (sin, cos) of the same angles, whatever the frequencies.

    Returns (layout name, the frequency of each pair read at position 1, or an empty tensor for one row), or None.
    """
    L, d = pe.shape
    h = d // 2
    if d % 2 or d < 2:
        return None
    columns = {
        "interleaved, sin first": (pe[:, 0::2], pe[:, 1::2]),
        "interleaved, cos first": (pe[:, 1::2], pe[:, 0::2]),
        "halves, sin first": (pe[:, :h], pe[:, h:]),
        "halves, cos first": (pe[:, h:], pe[:, :h]),
    }
    for name, (sin, cos) in columns.items():
        if (torch.allclose(sin[0], torch.zeros_like(sin[0]), atol=1e-4)
                and torch.allclose(cos[0], torch.ones_like(cos[0]), atol=1e-4)
                and torch.allclose(sin ** 2 + cos ** 2, torch.ones_like(sin), atol=1e-3)):
            return name, (torch.atan2(sin[1], cos[1]) if L > 1 else sin.new_zeros(0))
    return None


def _frequencies_in_words(freq: torch.Tensor, d_model: int) -> str:
    h = d_model // 2
    i = torch.arange(h, dtype=torch.float64)
    if not len(freq) or torch.allclose(freq, 10000.0 ** (-2 * i / d_model), rtol=1e-3, atol=1e-5):
        return ""
    if h > 1 and torch.allclose(freq, torch.exp(-math.log(10000.0) * i / (h - 1)), rtol=1e-3, atol=1e-5):
        return ("pair i must turn at 1/10000^(2i/d_model) radians per position; yours turn at "
                "1/10000^(i/(d_model/2 - 1)), the fairseq / tensor2tensor formula.")
    j = int((~torch.isclose(freq, 10000.0 ** (-2 * i / d_model), rtol=1e-3, atol=1e-5)).nonzero()[0])
    return (f"pair i must turn at 1/10000^(2i/d_model) radians per position; your pair {j} turns at "
            f"{freq[j].item():.4g} instead of {10000.0 ** (-2 * j / d_model):.4g}.")


def pe_probes() -> list:
    def layout(outputs, args, kwargs):
        got = outputs[0].double()
        max_len, d_model = args[0], args[1]
        if got.shape != (max_len, d_model):
            return None
        found = pe_layout(got)
        if found is None:
            return None
        name, freq = found
        words = _frequencies_in_words(freq, d_model)
        if name == "interleaved, sin first":
            return f"wrong frequency exponent or base (the sin/cos layout is right): {words}" if words else None
        return (f"your encoding is {_LAYOUTS[name]}; the contract interleaves them as in Vaswani et al.: "
                "PE[p, 2i] = sin(p / 10000^(2i/d_model)), PE[p, 2i+1] = cos(p / 10000^(2i/d_model))"
                " (`pe[:, 0::2] = sin`, `pe[:, 1::2] = cos`)."
                + (f" The frequencies differ too: {words}" if words else ""))

    def freq(outputs, args, kwargs):
        got = outputs[0].double()
        max_len, d_model = args[0], args[1]
        ref = pe_variant(max_len, d_model).double()
        if got.shape == ref.shape and d_model >= 4 and torch.allclose(got[:, :2], ref[:, :2], atol=1e-4):
            return ("the first sin/cos pair is right but later ones are not: wrong frequency exponent or base; the "
                    "divisor of pair i is 10000^(2i/d_model).")
        return None

    return [layout, freq]


def causal_variants() -> list:
    return [
        ("causal mask without the diagonal: a query may attend to itself, so [i, i] is True (j <= i, `tril()` "
         "with offset 0).", lambda n, device=None: torch.ones(n, n, dtype=torch.bool).tril(-1)),
        ("upper-triangular causal mask: True must be at j <= i (the past), i.e. `tril`, not `triu`.",
         lambda n, device=None: torch.ones(n, n, dtype=torch.bool).triu()),
        ("mask polarity inverted: True = may attend, so the mask is True at j <= i and False for the future "
         "(your mask is True on the future).", lambda n, device=None: torch.ones(n, n, dtype=torch.bool).triu(1)),
        ("mask polarity inverted and no diagonal.", lambda n, device=None: torch.ones(n, n, dtype=torch.bool).triu(0)),
    ]


def padding_variants() -> list:
    def pos(lengths, max_len):
        return torch.arange(max_len)[None, :], lengths[:, None]

    return [
        ("mask polarity inverted: True marks a real token (position < length), False the padding.",
         lambda lengths, max_len: pos(lengths, max_len)[0] >= pos(lengths, max_len)[1]),
        ("off by one: position p is a real token iff p < length (not p <= length).",
         lambda lengths, max_len: pos(lengths, max_len)[0] <= pos(lengths, max_len)[1]),
        ("mask polarity inverted and off by one.",
         lambda lengths, max_len: pos(lengths, max_len)[0] > pos(lengths, max_len)[1]),
        ("off by one: the last real token (position length - 1) is marked as padding; position p is a real token "
         "iff p < length (not p < length - 1, nor p + 1 < length).",
         lambda lengths, max_len: pos(lengths, max_len)[0] < pos(lengths, max_len)[1] - 1),
        ("mask polarity inverted and off by one (the last real token counts as padding).",
         lambda lengths, max_len: pos(lengths, max_len)[0] >= pos(lengths, max_len)[1] - 1),
    ]


# --------------------------------------------------------------------------- transformer layers


#: What a hand-written layer norm in the Annotated Transformer's style computes differently.
ANNOTATED_NORM = ("a layer norm written by hand in the Annotated Transformer's style: it divides by the *unbiased* "
                  "standard deviation (`x.std(-1)`, and `x.var(-1)` too, default to unbiased=True) and adds eps to "
                  "the standard deviation; nn.LayerNorm divides by the biased one (unbiased=False) with eps inside "
                  "the square root. The contract's norm1, norm2, ... are nn.LayerNorm(d_model): use it.")


def _norm(m, which: str, x, style: str):
    """Apply the reference module's norm ``which`` (its weights) in ``style``: "nn" or "annotated" (unbiased std)."""
    norm = getattr(m, which)
    if style == "nn":
        return norm(x)
    mean = x.mean(-1, keepdim=True)
    return norm.weight * (x - mean) / (x.std(-1, keepdim=True) + 1e-6) + norm.bias


def encoder_variant(m, x, mask=None, *, pre_ln=False, res_attn=True, res_ffn=True, use_mask=True, norm="nn"):
    mask = mask if use_mask else None
    n1, n2 = partial(_norm, m, "norm1", style=norm), partial(_norm, m, "norm2", style=norm)
    if pre_ln:
        y = n1(x)
        x = x + m.self_attn(y, y, y, mask)[0]
        return x + m.ffn(n2(x))
    a = m.self_attn(x, x, x, mask)[0]
    x = n1(x + a if res_attn else a)
    f = m.ffn(x)
    return n2(x + f if res_ffn else f)


def _with_norm_styles(f, mistakes: list) -> list:
    """The mistakes with nn.LayerNorm, then a hand-written (unbiased) norm alone, then combined with each mistake."""
    out = list(mistakes)
    out.append((ANNOTATED_NORM, partial(f, norm="annotated")))
    for cause, fn in mistakes:
        out.append((f"{ANNOTATED_NORM} And: {cause}", partial(fn, norm="annotated")))
    return out


def encoder_variants(m) -> list:
    f = partial(encoder_variant, m)
    return _with_norm_styles(f, [
        ("pre-LN instead of post-LN: the contract (the paper) normalises after the residual sum, "
         "x = norm1(x + attn(x)), not x = x + attn(norm1(x)).", partial(f, pre_ln=True)),
        ("missing residual around the self-attention: x = norm1(x + attention), the `x +` is missing.",
         partial(f, res_attn=False)),
        ("missing residual around the feed-forward: x = norm2(x + ffn(x)), the `x +` is missing.",
         partial(f, res_ffn=False)),
        ("missing residuals: both sublayers need `x + ...` before the norm.", partial(f, res_attn=False, res_ffn=False)),
        ("the mask is ignored: pass it on to self_attn(x, x, x, mask).", partial(f, use_mask=False)),
    ])


def decoder_variant(m, x, memory, tgt_mask=None, memory_mask=None, *, pre_ln=False, cross_self=False,
                    res=(True, True, True), use_tgt=True, use_mem=True, swap_masks=False, order="self_first",
                    norm="nn"):
    tm, mm = (tgt_mask if use_tgt else None), (memory_mask if use_mem else None)
    if swap_masks:
        tm, mm = memory_mask, tgt_mask
    n1, n2, n3 = (partial(_norm, m, f"norm{i}", style=norm) for i in (1, 2, 3))
    if pre_ln:
        y = n1(x)
        x = x + m.self_attn(y, y, y, tm)[0]
        y = n2(x)
        x = x + (m.cross_attn(y, y, y, mm)[0] if cross_self else m.cross_attn(y, memory, memory, mm)[0])
        return x + m.ffn(n3(x))
    if order != "self_first":  # cross-attention first, with the norms in order or each kept with its sublayer
        first, second = (n1, n2) if order == "cross_first" else (n2, n1)
        x = first(x + m.cross_attn(x, memory, memory, mm)[0])
        x = second(x + m.self_attn(x, x, x, tm)[0])
        return n3(x + m.ffn(x))
    a = m.self_attn(x, x, x, tm)[0]
    x = n1(x + a if res[0] else a)
    a = m.cross_attn(x, x, x, None if cross_self else mm)[0] if cross_self else m.cross_attn(x, memory, memory, mm)[0]
    x = n2(x + a if res[1] else a)
    f = m.ffn(x)
    return n3(x + f if res[2] else f)


_CROSS_FIRST = ("the cross-attention runs before the masked self-attention: the decoder layer first attends to its "
                "own (earlier) positions, x = norm1(x + self_attn(x, x, x, tgt_mask)), then to the encoder output, "
                "x = norm2(x + cross_attn(x, memory, memory, memory_mask)), then the feed-forward.")


def decoder_variants(m) -> list:
    f = partial(decoder_variant, m)
    return _with_norm_styles(f, [
        ("decoder cross-attention over itself instead of memory: the second attention takes queries from x and "
         "keys and values from the encoder output, cross_attn(x, memory, memory, memory_mask).",
         partial(f, cross_self=True)),
        ("pre-LN instead of post-LN: normalise after each residual sum, x = norm(x + sublayer(x)).",
         partial(f, pre_ln=True)),
        (_CROSS_FIRST, partial(f, order="cross_first")),
        (_CROSS_FIRST, partial(f, order="cross_first_own_norms")),
        ("missing residual around the masked self-attention (x = norm1(x + ...)).", partial(f, res=(False, True, True))),
        ("missing residual around the cross-attention (x = norm2(x + ...)).", partial(f, res=(True, False, True))),
        ("missing residual around the feed-forward (x = norm3(x + ...)).", partial(f, res=(True, True, False))),
        ("tgt_mask is ignored: the self-attention must use it (it is what hides the future).",
         partial(f, use_tgt=False)),
        ("memory_mask is ignored: the cross-attention must use it (it hides the padded source tokens).",
         partial(f, use_mem=False)),
    ])
