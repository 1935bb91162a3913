"""The catalog of common mistakes, each as a buggy variant of the reference computation.

When a student's output does not match the reference, a check computes every
variant below on the same (float64) inputs; the first one that matches the
student's output names the mistake in plain words. Each entry is
``(cause, function)``; the functions take the same arguments as the reference
(modules take the reference module first, bound with :func:`functools.partial`).

This module holds the recurrent cells and attention; :mod:`.catalog_layers` the
positional encodings, masks and Transformer layers (re-exported here).
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


def _lstm(x, h, c, W, U, b, *, order=(0, 1, 2, 3), acts=("s", "s", "t", "s"), cell_act="t", swap_out=False,
          memory="c"):
    chunks = (x @ W + h @ U + b).chunk(4, dim=-1)
    act = {"s": torch.sigmoid, "t": torch.tanh, "n": lambda t: t}
    i, f, g, o = (act[a](chunks[j]) for a, j in zip(acts, order))
    c_new = {"c": f * c + i * g, "none": i * g, "h": f * h + i * g, "f": f + i * g}[memory]
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
        ("the cell update ignores the previous cell state c: c_new = f * c + i * g (your code computes i * g; the "
         "forget gate f must multiply the old cell state).", partial(_lstm, memory="none")),
        ("the cell update uses the hidden state h instead of the cell state c: c_new = f * c + i * g.",
         partial(_lstm, memory="h")),
        ("the forget gate is added instead of multiplied with the previous cell state: c_new = f * c + i * g.",
         partial(_lstm, memory="f")),
    ]
    return out


# --------------------------------------------------------------------------- attention


def sdpa_variant(q, k, v, mask=None, *, scale="sqrt_dk", dim=-1, mask_mode="fill", keys_from_query=False,
                 transpose_weights=False, reshape_keys=False):
    """Scaled dot-product attention with one deliberate mistake (see :func:`sdpa_variants`)."""
    if keys_from_query:
        k = q
    if reshape_keys:  # k "transposed" by a reshape: the right shape, the numbers in the wrong places
        k = k.reshape(*k.shape[:-2], k.shape[-1], k.shape[-2]).transpose(-2, -1)
    d_k, d_v = q.shape[-1], v.shape[-1]
    divisor = {"sqrt_dk": math.sqrt(d_k), "none": 1.0, "dk": float(d_k), "sqrt_dv": math.sqrt(d_v),
               "sqrt_size1": math.sqrt(q.shape[1]) if q.dim() > 1 else math.sqrt(d_k)}[scale] \
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
        ("wrong scaling: the scores are divided by sqrt(q.size(1)), which is a sequence length (Lq) for 3-D inputs; "
         "d_k is the *last* dimension: divide by sqrt(q.size(-1)).", partial(sdpa_variant, scale="sqrt_size1")),
        ("softmax over the wrong dimension: normalise over the keys (dim=-1), so that each query's weights sum to 1.",
         partial(sdpa_variant, dim=-2)),
        ("softmax over the wrong dimension: normalise over the keys (dim=-1), not over the batch (dim=0).",
         partial(sdpa_variant, dim=0)),
        ("the key is taken from the query: the scores must be q @ k^T.", partial(sdpa_variant, keys_from_query=True)),
        ("k is \"transposed\" with `view`/`reshape` to (..., d_k, Lk): that keeps the numbers in memory order, so they "
         "land in the wrong places; swap the last two dimensions with `k.transpose(-2, -1)`.",
         partial(sdpa_variant, reshape_keys=True)),
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
    scale = {"sqrt_dmodel": math.sqrt(D), "sqrt_heads": math.sqrt(h), "sqrt_lq": math.sqrt(Lq)}.get(scale, scale)
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
        ("wrong scaling: the scores are divided by sqrt(q.size(1)), which is num_heads once the heads are split "
         "to (B, num_heads, L, d_k); d_k is the last dimension: divide by sqrt(q.size(-1)).",
         partial(f, scale="sqrt_heads")),
        ("wrong scaling: the scores are divided by sqrt(q.size(1)), which is the query length Lq for (B, Lq, "
         "d_model) inputs; each head divides by sqrt(d_k) with d_k = d_model / num_heads.",
         partial(f, scale="sqrt_lq")),
        ("wrong scaling: the scores are divided by d_k; divide by sqrt(d_k).", partial(f, scale="dk")),
        ("softmax over the wrong dimension: normalise over the keys (dim=-1).", partial(f, dim=-2)),
        (MASK_CAUSES["inverted"], partial(f, mask_mode="inverted")),
        (MASK_CAUSES["inverted"], partial(f, mask_mode="inverted_big")),
        (MASK_CAUSES["ignored"], partial(f, mask_mode="ignored")),
        (MASK_CAUSES["after"], partial(f, mask_mode="after_zero")),
    ]


# The catalogs of the positions_masks and transformer assignments live in their own module.
from .catalog_layers import (  # noqa: E402
    causal_variants,
    decoder_variant,
    decoder_variants,
    encoder_variant,
    encoder_variants,
    padding_variants,
    pe_probes,
    pe_variant,
    pe_variants,
)
