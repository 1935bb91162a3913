"""The catalog of common mistakes, each as a buggy variant of the reference computation.

When a student's output does not match the reference, a check computes every
variant below on the same (float64) inputs; the first one that matches the
student's output names the mistake in plain words. Each entry is
``(cause, function)``; the functions take the same arguments as the reference
(modules take the reference module first, bound with :func:`functools.partial`).
"""

from __future__ import annotations

import itertools
import math
from functools import partial

import torch

NEG_INF = float("-inf")

# --------------------------------------------------------------------------- recurrent cells


def rnn_cell_variants() -> list:
    return [
        ("no nonlinearity: the new state must be tanh(x @ W_xh + h @ W_hh + b_h), your result is the raw sum.",
         lambda x, h, W, U, b: x @ W + h @ U + b),
        ("no recurrence: the previous state h is not used (the term h @ W_hh is missing).",
         lambda x, h, W, U, b: torch.tanh(x @ W + b)),
        ("sigmoid instead of tanh: the RNN's nonlinearity is tanh.",
         lambda x, h, W, U, b: torch.sigmoid(x @ W + h @ U + b)),
        ("relu instead of tanh: the RNN's nonlinearity is tanh.",
         lambda x, h, W, U, b: torch.relu(x @ W + h @ U + b)),
        ("the bias b_h is missing.", lambda x, h, W, U, b: torch.tanh(x @ W + h @ U)),
        ("x and h are multiplied by the wrong weights (x @ W_hh, h @ W_xh).",
         lambda x, h, W, U, b: torch.tanh(x @ U + h @ W + b)),
    ]


def _lstm(x, h, c, W, U, b, *, order=(0, 1, 2, 3), acts=("s", "s", "t", "s"), cell_act="t", swap_out=False):
    chunks = (x @ W + h @ U + b).chunk(4, dim=-1)
    act = {"s": torch.sigmoid, "t": torch.tanh, "n": lambda t: t}
    i, f, g, o = (act[a](chunks[j]) for a, j in zip(acts, order))
    c_new = f * c + i * g
    h_new = o * act[cell_act](c_new)
    return (c_new, h_new) if swap_out else (h_new, c_new)


def lstm_cell_variants() -> list:
    names = "ifgo"
    out = []
    for perm in itertools.permutations(range(4)):
        if perm == (0, 1, 2, 3):
            continue
        # chunk perm[k] was used as gate names[k]; say which gate each chunk was taken as.
        taken = ", ".join(names[perm.index(j)] for j in range(4))
        out.append((
            f"LSTM gate order: your code reads the four chunks of the gates as {taken}; the contract (PyTorch's "
            "order) is i, f, g, o (input, forget, candidate, output).",
            partial(_lstm, order=perm)))
    out += [
        ("tanh vs sigmoid: the candidate g uses sigmoid; it needs tanh (i, f, o use sigmoid).",
         partial(_lstm, acts=("s", "s", "s", "s"))),
        ("tanh vs sigmoid: the gates i, f, o use tanh; they need sigmoid (only g uses tanh).",
         partial(_lstm, acts=("t", "t", "t", "t"))),
        ("tanh vs sigmoid: the gates i, f, o use tanh and g sigmoid; it is the other way round.",
         partial(_lstm, acts=("t", "t", "s", "t"))),
        ("h_new = o * c_new: tanh is missing, h_new = o * tanh(c_new).", partial(_lstm, cell_act="n")),
        ("tanh vs sigmoid: h_new = o * sigmoid(c_new); it must be o * tanh(c_new).", partial(_lstm, cell_act="s")),
        ("the outputs are swapped: return (h_new, c_new), not (c_new, h_new).", partial(_lstm, swap_out=True)),
    ]
    return out


# --------------------------------------------------------------------------- attention


def sdpa_variant(q, k, v, mask=None, *, scale="sqrt_dk", dim=-1, mask_mode="fill", keys_from_query=False,
                 transpose_weights=False):
    """Scaled dot-product attention with one deliberate mistake (see :func:`sdpa_variants`)."""
    if keys_from_query:
        k = q
    d_k, d_v = q.shape[-1], v.shape[-1]
    divisor = {"sqrt_dk": math.sqrt(d_k), "none": 1.0, "dk": float(d_k), "sqrt_dv": math.sqrt(d_v)}[scale] \
        if isinstance(scale, str) else float(scale)
    scores = q @ k.transpose(-2, -1) / divisor
    if mask is not None:  # the "after_*" modes mask the weights below, "ignored" not at all
        if mask_mode == "fill":
            scores = scores.masked_fill(~mask, NEG_INF)
        elif mask_mode == "inverted":
            scores = scores.masked_fill(mask, NEG_INF)
        elif mask_mode == "inverted_big":
            scores = scores.masked_fill(mask, -1e9)
        elif mask_mode == "multiply":
            scores = scores * mask
        elif mask_mode == "add":
            scores = scores + mask
    weights = torch.softmax(scores, dim=dim)
    if mask is not None and mask_mode == "after_zero":
        weights = weights.masked_fill(~mask, 0.0)
    if mask is not None and mask_mode == "after_inf":
        weights = weights.masked_fill(~mask, NEG_INF)
    if transpose_weights:
        weights = weights.transpose(-2, -1)
        return weights.transpose(-2, -1) @ v, weights
    return weights @ v, weights


MASK_CAUSES = {
    "inverted": "mask polarity inverted: True means *may attend* (a real token), so fill the scores where the mask "
                "is False (`scores.masked_fill(~mask, float('-inf'))`), not where it is True.",
    "ignored": "the mask is ignored: scores at positions where the mask is False must be set to -inf before the softmax.",
    "after": "the mask is applied after the softmax: mask the *scores* (with -inf) before the softmax, so that the "
             "remaining weights of each row still sum to 1.",
    "multiply": "the scores are multiplied by the mask: a masked score becomes 0, which still gets weight; fill masked "
                "scores with -inf instead.",
    "add": "the boolean mask is added to the scores (True counts as 1): use it to fill masked scores with -inf.",
}


def sdpa_variants(d_k: int, d_v: int) -> list:
    out = [
        ("missing scaling: the scores must be divided by sqrt(d_k) before the softmax.", partial(sdpa_variant, scale="none")),
        ("wrong scaling: the scores are divided by d_k; divide by sqrt(d_k).", partial(sdpa_variant, scale="dk")),
        ("wrong scaling: the scores are divided by sqrt(d_v) (the values' size); divide by sqrt(d_k) (the keys' size).",
         partial(sdpa_variant, scale="sqrt_dv")),
        ("wrong scaling: the scores are multiplied by sqrt(d_k) instead of divided.",
         partial(sdpa_variant, scale=1 / math.sqrt(d_k))),
        ("softmax over the wrong dimension: normalise over the keys (dim=-1), so that each query's weights sum to 1.",
         partial(sdpa_variant, dim=-2)),
        ("softmax over the wrong dimension: normalise over the keys (dim=-1), not over the batch (dim=0).",
         partial(sdpa_variant, dim=0)),
        ("the key is taken from the query: the scores must be q @ k^T.", partial(sdpa_variant, keys_from_query=True)),
        ("transposed output: the weights are returned as (..., Lk, Lq); they must be (..., Lq, Lk) with rows "
         "summing to 1.", partial(sdpa_variant, transpose_weights=True)),
        (MASK_CAUSES["inverted"], partial(sdpa_variant, mask_mode="inverted")),
        (MASK_CAUSES["inverted"], partial(sdpa_variant, mask_mode="inverted_big")),
        (MASK_CAUSES["ignored"], partial(sdpa_variant, mask_mode="ignored")),
        (MASK_CAUSES["after"], partial(sdpa_variant, mask_mode="after_zero")),
        (MASK_CAUSES["after"], partial(sdpa_variant, mask_mode="after_inf")),
        (MASK_CAUSES["multiply"], partial(sdpa_variant, mask_mode="multiply")),
        (MASK_CAUSES["add"], partial(sdpa_variant, mask_mode="add")),
    ]
    if d_k == d_v:
        out = [c for c in out if "sqrt(d_v)" not in c[0]]
    return out


def attention_probes() -> list:
    """Hints from the student's (out, weights) when no variant matched."""

    def rows(outputs, args, kwargs):
        w = outputs[-1].double()
        if w.dim() >= 1 and torch.isfinite(w).all() and not torch.allclose(w.sum(-1), torch.ones_like(w.sum(-1)), atol=1e-3):
            return ("the attention weights of a query do not sum to 1: apply the softmax over the keys (dim=-1) "
                    "and mask before the softmax.")
        return None

    def masked(outputs, args, kwargs):
        mask = args[3] if len(args) > 3 else kwargs.get("mask")
        if mask is None:
            return None
        w = outputs[-1]
        m = mask.expand(w.shape) if mask.dim() <= w.dim() else None
        if m is not None and (w.masked_select(~m).abs() > 1e-6).any():
            return "masked keys get non-zero weight: " + MASK_CAUSES["ignored"]
        return None

    return [rows, masked]


def mha_variant(m, query, key, value, mask=None, *, split="transpose", merge="transpose", out_proj=True,
                keys_from_query=False, scale="sqrt_dk", dim=-1, mask_mode="fill"):
    """Multi-head attention (with the reference module ``m``'s weights) with one deliberate mistake."""
    B, Lq, D = query.shape
    Lk = key.shape[1]
    h = m.num_heads
    d_k = D // h

    def heads(x, L):
        if split == "transpose":
            return x.view(B, L, h, d_k).transpose(1, 2)
        return x.reshape(B, h, L, d_k)

    q = heads(m.w_q(query), Lq)
    k = heads(m.w_k(query if keys_from_query else key), Lq if keys_from_query else Lk)
    v = heads(m.w_v(value), Lk)
    if scale == "sqrt_dmodel":
        scale = math.sqrt(D)
    out, w = sdpa_variant(q, k, v, mask, scale=scale, dim=dim, mask_mode=mask_mode)
    out = out.transpose(1, 2).reshape(B, Lq, D) if merge == "transpose" else out.reshape(B, Lq, D)
    return (m.w_o(out) if out_proj else out), w


def mha_variants(m) -> list:
    f = partial(mha_variant, m)
    return [
        ("heads split by a reshape without a transpose: view the projections as (B, L, num_heads, d_k), then "
         "transpose to (B, num_heads, L, d_k) (and transpose back before merging the heads).",
         partial(f, split="reshape", merge="reshape")),
        ("heads merged by a reshape without a transpose: transpose (B, num_heads, Lq, d_k) back to "
         "(B, Lq, num_heads, d_k) before reshaping to (B, Lq, d_model).", partial(f, merge="reshape")),
        ("heads split by a reshape without a transpose (the merge is right): view as (B, L, num_heads, d_k), then "
         "transpose(1, 2).", partial(f, split="reshape")),
        ("missing output projection: the concatenated heads must go through w_o.", partial(f, out_proj=False)),
        ("the key is taken from the query: k must be w_k(key), not w_k(query).", partial(f, keys_from_query=True)),
        ("wrong scaling: the scores are divided by sqrt(d_model); each head divides by sqrt(d_k) with "
         "d_k = d_model / num_heads.", partial(f, scale="sqrt_dmodel")),
        ("missing scaling: the scores must be divided by sqrt(d_k).", partial(f, scale="none")),
        ("wrong scaling: the scores are divided by d_k; divide by sqrt(d_k).", partial(f, scale="dk")),
        ("softmax over the wrong dimension: normalise over the keys (dim=-1).", partial(f, dim=-2)),
        (MASK_CAUSES["inverted"], partial(f, mask_mode="inverted")),
        (MASK_CAUSES["inverted"], partial(f, mask_mode="inverted_big")),
        (MASK_CAUSES["ignored"], partial(f, mask_mode="ignored")),
        (MASK_CAUSES["after"], partial(f, mask_mode="after_zero")),
    ]


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


def pe_probes() -> list:
    def freq(outputs, args, kwargs):
        got = outputs[0].double()
        max_len, d_model = args[0], args[1]
        ref = pe_variant(max_len, d_model).double()
        if got.shape == ref.shape and d_model >= 4 and torch.allclose(got[:, :2], ref[:, :2], atol=1e-4):
            return ("the first sin/cos pair is right but later ones are not: wrong frequency exponent or base; the "
                    "divisor of pair i is 10000^(2i/d_model).")
        return None

    return [freq]


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
    ]


# --------------------------------------------------------------------------- transformer layers


def encoder_variant(m, x, mask=None, *, pre_ln=False, res_attn=True, res_ffn=True, use_mask=True):
    mask = mask if use_mask else None
    if pre_ln:
        y = m.norm1(x)
        x = x + m.self_attn(y, y, y, mask)[0]
        return x + m.ffn(m.norm2(x))
    a = m.self_attn(x, x, x, mask)[0]
    x = m.norm1(x + a if res_attn else a)
    f = m.ffn(x)
    return m.norm2(x + f if res_ffn else f)


def encoder_variants(m) -> list:
    f = partial(encoder_variant, m)
    return [
        ("pre-LN instead of post-LN: the contract (the paper) normalises after the residual sum, "
         "x = norm1(x + attn(x)), not x = x + attn(norm1(x)).", partial(f, pre_ln=True)),
        ("missing residual around the self-attention: x = norm1(x + attention), the `x +` is missing.",
         partial(f, res_attn=False)),
        ("missing residual around the feed-forward: x = norm2(x + ffn(x)), the `x +` is missing.",
         partial(f, res_ffn=False)),
        ("missing residuals: both sublayers need `x + ...` before the norm.", partial(f, res_attn=False, res_ffn=False)),
        ("the mask is ignored: pass it on to self_attn(x, x, x, mask).", partial(f, use_mask=False)),
    ]


def decoder_variant(m, x, memory, tgt_mask=None, memory_mask=None, *, pre_ln=False, cross_self=False,
                    res=(True, True, True), use_tgt=True, use_mem=True, swap_masks=False):
    tm, mm = (tgt_mask if use_tgt else None), (memory_mask if use_mem else None)
    if swap_masks:
        tm, mm = memory_mask, tgt_mask
    if pre_ln:
        y = m.norm1(x)
        x = x + m.self_attn(y, y, y, tm)[0]
        y = m.norm2(x)
        x = x + (m.cross_attn(y, y, y, mm)[0] if cross_self else m.cross_attn(y, memory, memory, mm)[0])
        return x + m.ffn(m.norm3(x))
    a = m.self_attn(x, x, x, tm)[0]
    x = m.norm1(x + a if res[0] else a)
    a = m.cross_attn(x, x, x, None if cross_self else mm)[0] if cross_self else m.cross_attn(x, memory, memory, mm)[0]
    x = m.norm2(x + a if res[1] else a)
    f = m.ffn(x)
    return m.norm3(x + f if res[2] else f)


def decoder_variants(m) -> list:
    f = partial(decoder_variant, m)
    return [
        ("decoder cross-attention over itself instead of memory: the second attention takes queries from x and "
         "keys and values from the encoder output, cross_attn(x, memory, memory, memory_mask).",
         partial(f, cross_self=True)),
        ("pre-LN instead of post-LN: normalise after each residual sum, x = norm(x + sublayer(x)).",
         partial(f, pre_ln=True)),
        ("missing residual around the masked self-attention (x = norm1(x + ...)).", partial(f, res=(False, True, True))),
        ("missing residual around the cross-attention (x = norm2(x + ...)).", partial(f, res=(True, False, True))),
        ("missing residual around the feed-forward (x = norm3(x + ...)).", partial(f, res=(True, True, False))),
        ("tgt_mask is ignored: the self-attention must use it (it is what hides the future).",
         partial(f, use_tgt=False)),
        ("memory_mask is ignored: the cross-attention must use it (it hides the padded source tokens).",
         partial(f, use_mem=False)),
    ]
