"""The hidden tests: the edge cases behind each assignment's extra points, as checks of the library.

Each ``hidden_<name>(impl)`` runs on the CPU under the same guards as the public checks
(delegation refused, a time limit, every exception turned into a :class:`GradingError`),
so that the same code decides in the student's kernel (the notebook's hidden test cell
calls :func:`cs502_lib.testcell.grade_hidden`) and in a clean verdict, where ``impl`` is a
proxy of the student's code running in the grading worker. Feedback shows their
messages, never their code. :data:`HIDDEN` maps each graded name to its suite.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable

import torch
from torch import nn

from ..nn.attention import MultiHeadAttention as _RefMHA
from ..nn.transformer import DecoderLayer as _RefDecoder
from ..nn.transformer import EncoderLayer as _RefEncoder
from .context import Context
from .guards import attempt, reference_item, torch_refused_modules
from .modules import build_module
from .registry import item as _item
from .report import CheckReport
from .run import run_check

__all__ = ["HIDDEN", "run_hidden"]

_CPU = [torch.device("cpu")]
_F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _tensors(ctx: Context, got: Any, n: int, case: str, what: str) -> list[torch.Tensor]:
    """``got`` as a list of ``n`` tensors, or a failure that says what came back instead."""
    values = list(got) if isinstance(got, tuple) and n > 1 else [got]
    if len(values) != n or not all(isinstance(v, torch.Tensor) for v in values):
        shape = f"a tuple of {n} tensors" if n > 1 else "a tensor"
        ctx.fail(f"{what} returned {type(got).__name__}; expected {shape}", case)
    return values


def _raises(ctx: Context, fn, *args, case: str, headline: str) -> None:
    """The call must raise ValueError."""
    status = ctx.call(attempt(fn, *args), case=case)
    ctx.expect(status[0] == "error" and isinstance(status[1], ValueError), headline, case)


def _param_grads(ctx: Context, module, out: torch.Tensor, case: str) -> dict:
    """name -> gradient of ``out.sum()`` for every parameter of the student's module."""
    up = torch.ones_like(out)
    if ctx.remote is not None:
        from .remote import call_settings

        def run():
            with call_settings(time_limit=ctx.remaining(), item=ctx.remote.item):
                return module.param_grads([out], [up])
    else:
        def run():
            named = list(module.named_parameters())
            grads = torch.autograd.grad([out], [p for _, p in named], [up], allow_unused=True)
            return {n: g for (n, _), g in zip(named, grads)}
    return ctx.call(run, case=case, what="backpropagation through your module")


# --------------------------------------------------------------------------- rnn_lstm


def _hidden_rnn_cell(ctx: Context, impl) -> None:
    g = _gen(502)
    B, D, H = 3, 5, 7
    W_xh = torch.randn(D, H, generator=g, dtype=_F64) * 0.5
    W_hh = torch.randn(H, H, generator=g, dtype=_F64) / H**0.5
    b_h = torch.randn(H, generator=g, dtype=_F64) * 0.1
    h_you = h_ref = torch.zeros(B, H, dtype=_F64)
    case = "60 steps unrolled in float64, B=3, D=5, H=7"
    for _ in range(60):
        x = torch.randn(B, D, generator=g, dtype=_F64)
        with torch.no_grad():
            h_you = _tensors(ctx, ctx.call(impl, x, h_you, W_xh, W_hh, b_h, case=case), 1, case, "rnn_cell")[0]
        h_ref = torch.tanh(x @ W_xh + h_ref @ W_hh + b_h)
        if tuple(h_you.shape) != (B, H):
            break
    ctx.expect(tuple(h_you.shape) == (B, H), f"after 60 steps the state has shape {tuple(h_you.shape)}, expected {(B, H)}",
               case)
    ctx.expect(h_you.dtype == _F64, "float64 inputs must give a float64 state (no .float() inside)", case)
    ctx.expect(torch.allclose(h_you, h_ref, atol=1e-10),
               "unrolled over 60 steps in float64, the state drifts from tanh(x W_xh + h W_hh + b_h)", case)
    case = "a batch of one sequence (B=1)"
    one = _tensors(ctx, ctx.call(impl, x[:1], h_ref[:1], W_xh, W_hh, b_h, case=case), 1, case, "rnn_cell")[0]
    ctx.expect(tuple(one.shape) == (1, H), f"a batch of one sequence must give shape (1, {H}), got {tuple(one.shape)}",
               case)
    case = "gradients reach W_xh, W_hh and b_h"
    params = [W.detach().clone().requires_grad_() for W in (W_xh, W_hh, b_h)]
    out = _tensors(ctx, ctx.call(impl, x, h_ref, *params, case=case), 1, case, "rnn_cell")[0]
    grads = ctx.backward([out], params, [torch.ones_like(out)], ("W_xh", "W_hh", "b_h"), case)
    ctx.expect(all(gr is not None and bool(gr.abs().sum() > 0) for gr in grads),
               "the gradient does not reach W_xh, W_hh and b_h", case)


def _hidden_lstm_cell(ctx: Context, impl) -> None:
    g = _gen(503)
    B, D, H = 4, 3, 6
    W_x = torch.randn(D, 4 * H, generator=g, dtype=_F64) * 0.5
    W_h = torch.randn(H, 4 * H, generator=g, dtype=_F64) * 0.5
    b = torch.randn(4 * H, generator=g, dtype=_F64) * 0.5
    torch_cell = nn.LSTMCell(D, H).double()
    with torch.no_grad():
        torch_cell.weight_ih.copy_(W_x.T)
        torch_cell.weight_hh.copy_(W_h.T)
        torch_cell.bias_ih.copy_(b)
        torch_cell.bias_hh.zero_()
    h = c = h_ref = c_ref = torch.zeros(B, H, dtype=_F64)
    case = "30 steps against PyTorch's nn.LSTMCell with the same weights, float64"
    with torch.no_grad():
        for _ in range(30):
            x = torch.randn(B, D, generator=g, dtype=_F64)
            out = ctx.call(impl, x, h, c, W_x, W_h, b, case=case)
            ctx.expect(isinstance(out, tuple) and len(out) == 2, "lstm_cell must return the tuple (h_new, c_new)", case)
            h, c = _tensors(ctx, out, 2, case, "lstm_cell")
            h_ref, c_ref = torch_cell(x, (h_ref, c_ref))
    ok = h.shape == h_ref.shape and c.shape == c_ref.shape and torch.allclose(h, h_ref, atol=1e-10) and \
        torch.allclose(c, c_ref, atol=1e-10)
    ctx.expect(ok, "over 30 steps, (h, c) differ from PyTorch's nn.LSTMCell with the same weights (gate order i, f, g, o?)",
               case)
    case = "a batch of one (B=1)"
    h1, c1 = _tensors(ctx, ctx.call(impl, x[:1], h_ref[:1], c_ref[:1], W_x, W_h, b, case=case), 2, case, "lstm_cell")
    ctx.expect(tuple(h1.shape) == (1, H) and tuple(c1.shape) == (1, H), "a batch of one must give (1, H) states", case)


# --------------------------------------------------------------------------- attention


def _hidden_sdpa(ctx: Context, impl) -> None:
    g = _gen(504)
    q = torch.randn(2, 3, 4, 5, 16, generator=g, dtype=_F64)
    k = torch.randn(2, 3, 4, 7, 16, generator=g, dtype=_F64)
    v = torch.randn(2, 3, 4, 7, 9, generator=g, dtype=_F64)
    mask = torch.rand(5, 7, generator=g) > 0.4
    mask[:, 0] = True  # every query keeps at least one key
    case = "three batch dimensions, d_v=9, a (Lq, Lk) mask, float64"
    with torch.no_grad():
        out, w = _tensors(ctx, ctx.call(impl, q, k, v, mask, case=case), 2, case, "scaled_dot_product_attention")
    ctx.expect(tuple(out.shape) == (2, 3, 4, 5, 9) and tuple(w.shape) == (2, 3, 4, 5, 7),
               f"with three batch dimensions and d_v=9 the shapes are {tuple(out.shape)} and {tuple(w.shape)}, "
               "expected (2, 3, 4, 5, 9) and (2, 3, 4, 5, 7)", case)
    w_ref = (q @ k.transpose(-2, -1) / 4.0).masked_fill(~mask, float("-inf")).softmax(-1)
    ctx.expect(torch.allclose(w, w_ref, atol=1e-10) and torch.allclose(out, w_ref @ v, atol=1e-10),
               "wrong values with several batch dimensions and a (Lq, Lk) mask", case)
    ctx.expect(bool((w[..., ~mask] == 0).all()), "masked keys must get a weight of exactly 0", case)
    case = "d_k=512 and large values (float32)"
    big_q = torch.randn(2, 6, 512, generator=g) * 4
    with torch.no_grad():
        out, w = _tensors(ctx, ctx.call(impl, big_q, big_q, big_q, case=case), 2, case, "scaled_dot_product_attention")
    ctx.expect(bool(torch.isfinite(out).all()) and w.shape == (2, 6, 6)
               and torch.allclose(w.sum(-1), torch.ones(2, 6), atol=1e-5),
               "with d_k=512 and large values the result is not finite or its rows do not sum to 1", case)


def _torch_mha(ref: nn.Module, d_model: int, heads: int) -> nn.MultiheadAttention:
    """PyTorch's nn.MultiheadAttention (float64) with the weights of a cs502_lib MultiHeadAttention."""
    theirs = nn.MultiheadAttention(d_model, heads, batch_first=True).double()
    _copy_mha(ref, theirs)
    return theirs.eval()


def _copy_mha(ours: nn.Module, theirs: nn.MultiheadAttention) -> None:
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.cat([ours.w_q.weight, ours.w_k.weight, ours.w_v.weight]))
        theirs.in_proj_bias.copy_(torch.cat([ours.w_q.bias, ours.w_k.bias, ours.w_v.bias]))
        theirs.out_proj.weight.copy_(ours.w_o.weight)
        theirs.out_proj.bias.copy_(ours.w_o.bias)


_MHA_CONTRACT = "MultiHeadAttention(d_model, num_heads) has w_q, w_k, w_v, w_o, each nn.Linear(d_model, d_model)."


def _hidden_mha(ctx: Context, impl) -> None:
    ctx.expect_error(impl, 10, 3, case="MultiHeadAttention(10, 3)",
                     cause="MultiHeadAttention(10, 3) must raise ValueError (10 is not divisible by 3).")
    torch.manual_seed(505)
    student, ref = build_module(ctx, impl, _RefMHA, (12, 3), _MHA_CONTRACT)
    student = student.double()
    theirs = _torch_mha(ref, 12, 3)
    g = _gen(505)
    x = torch.randn(2, 5, 12, generator=g, dtype=_F64)
    mem = torch.randn(2, 8, 12, generator=g, dtype=_F64)
    keep = torch.ones(2, 8, dtype=torch.bool)
    keep[1, 6:] = False
    case = "cross-attention with a key padding mask (B, 1, 1, Lk) against nn.MultiheadAttention, float64"
    out, w = _tensors(ctx, ctx.call(student, x, mem, mem, keep[:, None, None, :], case=case), 2, case,
                      "MultiHeadAttention")
    ref_out, w_ref = theirs(x, mem, mem, key_padding_mask=~keep, average_attn_weights=False)
    ctx.expect(out.shape == ref_out.shape and w.shape == w_ref.shape and torch.allclose(out.detach(), ref_out, atol=1e-10)
               and torch.allclose(w.detach(), w_ref, atol=1e-10),
               "cross-attention with a key padding mask differs from nn.MultiheadAttention with the same weights", case)
    grads = _param_grads(ctx, student, out, case + ", backward")
    missing = [n for n, gr in grads.items() if gr is None or not bool(gr.abs().sum() > 0)]
    ctx.expect(not missing, f"no gradient reaches {missing}", case + ", backward")


# --------------------------------------------------------------------------- positions_masks


def _hidden_pe(ctx: Context, impl) -> None:
    case = "sinusoidal_positional_encoding(5000, 512)"
    pe = _tensors(ctx, ctx.call(impl, 5000, 512, case=case), 1, case, "sinusoidal_positional_encoding")[0]
    ctx.expect(tuple(pe.shape) == (5000, 512) and pe.dtype == torch.float32,
               "sinusoidal_positional_encoding(5000, 512) must be a float32 (5000, 512) tensor", case)
    p = torch.arange(5000, dtype=_F64)[:, None]
    angles = p / 10000.0 ** (torch.arange(0, 512, 2, dtype=_F64) / 512)
    ctx.expect(torch.allclose(pe[:, 0::2].double(), angles.sin(), atol=2e-3)
               and torch.allclose(pe[:, 1::2].double(), angles.cos(), atol=2e-3),
               "values are off for far positions (up to 4999)", case)
    norms = pe.double().norm(dim=1)
    ctx.expect(torch.allclose(norms, torch.full_like(norms, 16.0), atol=1e-3),
               "every row must have norm sqrt(d_model / 2) (sin^2 + cos^2 = 1 per pair)", case)
    case = "sinusoidal_positional_encoding(40, 8): PE[p + 7] is a rotation of PE[p]"
    small = _tensors(ctx, ctx.call(impl, 40, 8, case=case), 1, case, "sinusoidal_positional_encoding")[0]
    ctx.expect(tuple(small.shape) == (40, 8), f"sinusoidal_positional_encoding(40, 8) has shape {tuple(small.shape)}",
               case)
    small = small.double()
    theta = 7 / 10000.0 ** (torch.arange(0, 8, 2, dtype=_F64) / 8)
    sin_k, cos_k = theta.sin(), theta.cos()
    s, c = small[:-7, 0::2], small[:-7, 1::2]
    shifted = torch.stack([s * cos_k + c * sin_k, c * cos_k - s * sin_k], dim=-1).reshape(33, 8)
    ctx.expect(torch.allclose(small[7:], shifted, atol=1e-5), "PE[p + 7] is not a rotation of PE[p] pair by pair", case)


def _hidden_causal(ctx: Context, impl) -> None:
    case = "causal_mask(1)"
    one = _tensors(ctx, ctx.call(impl, 1, case=case), 1, case, "causal_mask")[0]
    ctx.expect(one.dtype == torch.bool and one.tolist() == [[True]], "causal_mask(1) must be [[True]]", case)
    case = "causal_mask(300)"
    big = _tensors(ctx, ctx.call(impl, 300, case=case), 1, case, "causal_mask")[0]
    ctx.expect(tuple(big.shape) == (300, 300) and int(big.sum()) == 300 * 301 // 2 and bool(big.diagonal().all()),
               "causal_mask(300): wrong number of True entries or a False diagonal", case)
    ctx.expect(not bool(big.triu(1).any()), "causal_mask(300): a position may not attend to a later one", case)
    case = "causal_mask(6, device=meta)"
    meta = _tensors(ctx, ctx.call(impl, 6, device=torch.device("meta"), case=case), 1, case, "causal_mask")[0]
    ctx.expect(meta.device.type == "meta" and tuple(meta.shape) == (6, 6) and meta.dtype == torch.bool,
               "causal_mask(6, device=meta) must be created on the meta device", case)


def _hidden_padding(ctx: Context, impl) -> None:
    g = _gen(506)
    lengths = torch.randint(0, 21, (100,), generator=g)
    case = "a batch of 100 lengths from 0 to 20, max_len=20"
    given = lengths.clone()
    m = _tensors(ctx, ctx.call(impl, given, 20, case=case), 1, case, "padding_mask")[0]
    ctx.expect(m.dtype == torch.bool and tuple(m.shape) == (100, 20), "wrong dtype or shape for a batch of 100", case)
    ctx.expect(torch.equal(m.sum(1), lengths.clamp(max=20)) and torch.equal(given, lengths),
               "each row must hold exactly `length` True values (and lengths must not be modified)", case)
    case = "int32 lengths"
    m32 = _tensors(ctx, ctx.call(impl, lengths.int(), 20, case=case), 1, case, "padding_mask")[0]
    ctx.expect(m32.shape == m.shape and torch.equal(m32, m), "int32 lengths must give the same mask", case)
    ctx.expect(bool(m[:, 0].eq(lengths > 0).all()), "position 0 is a real token whenever the length is positive", case)


# --------------------------------------------------------------------------- transformer

_ENC = "EncoderLayer(d_model, num_heads, d_ff, dropout) with self_attn, ffn, norm1, norm2 and dropout."
_DEC = "DecoderLayer(d_model, num_heads, d_ff, dropout) with self_attn, cross_attn, ffn, norm1, norm2, norm3, dropout."


def _copy_layers(pairs) -> None:
    with torch.no_grad():
        for mine, ref in pairs:
            ref.weight.copy_(mine.weight)
            ref.bias.copy_(mine.bias)


def _against_torch(ctx: Context, impl, ref_cls, args: tuple, contract: str, theirs: nn.Module, attention: dict,
                   norms: int):
    """The student's layer (float64, eval) with the reference weights, and ``theirs`` (PyTorch's layer) given the
    same weights: ``attention`` maps our attention blocks to theirs; ``norms`` layer norms norm1.. are copied."""
    student, ref = build_module(ctx, impl, ref_cls, args, contract)
    theirs.double().eval()
    for mine, their in attention.items():
        _copy_mha(getattr(ref, mine), getattr(theirs, their))
    pairs = [(ref.ffn[0], theirs.linear1), (ref.ffn[2], theirs.linear2)]
    pairs += [(getattr(ref, f"norm{i}"), getattr(theirs, f"norm{i}")) for i in range(1, norms + 1)]
    _copy_layers(pairs)
    return student.double().eval()


def _hidden_encoder(ctx: Context, impl) -> None:
    torch.manual_seed(507)
    theirs = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True)
    student = _against_torch(ctx, impl, _RefEncoder, (16, 4, 32, 0.0), _ENC, theirs, {"self_attn": "self_attn"}, 2)
    g = _gen(507)
    x = torch.randn(3, 7, 16, generator=g, dtype=_F64)
    keep = torch.arange(7)[None, :] < torch.tensor([7, 5, 2])[:, None]
    case = "against nn.TransformerEncoderLayer (post-LN, ReLU) with the same weights and a padding mask, float64"
    with torch.no_grad():
        out = _tensors(ctx, ctx.call(student, x, keep[:, None, None, :], case=case), 1, case, "EncoderLayer")[0]
        ref_out = theirs(x, src_key_padding_mask=~keep)
    ctx.expect(out.shape == ref_out.shape and torch.allclose(out[keep], ref_out[keep], atol=1e-8),
               "differs from nn.TransformerEncoderLayer (post-LN, ReLU) with the same weights and a padding mask", case)
    case = "the padding (set to 100) changes nothing at the real tokens"
    noisy = x.clone()
    noisy[~keep] = 100.0
    with torch.no_grad():
        out2 = _tensors(ctx, ctx.call(student, noisy, keep[:, None, None, :], case=case), 1, case, "EncoderLayer")[0]
    ctx.expect(torch.allclose(out[keep], out2[keep], atol=1e-8),
               "the padding changes the outputs of the real tokens (is the mask passed to self_attn?)", case)


def _hidden_decoder(ctx: Context, impl) -> None:
    torch.manual_seed(508)
    theirs = nn.TransformerDecoderLayer(16, 2, 24, dropout=0.0, batch_first=True)
    student = _against_torch(ctx, impl, _RefDecoder, (16, 2, 24, 0.0), _DEC, theirs,
                             {"self_attn": "self_attn", "cross_attn": "multihead_attn"}, 3)
    g = _gen(508)
    x = torch.randn(2, 6, 16, generator=g, dtype=_F64)
    memory = torch.randn(2, 9, 16, generator=g, dtype=_F64)
    tgt = torch.ones(6, 6, dtype=torch.bool).tril()
    case = "against nn.TransformerDecoderLayer (post-LN) with the same weights and a causal mask, float64"
    with torch.no_grad():
        out = _tensors(ctx, ctx.call(student, x, memory, tgt_mask=tgt, case=case), 1, case, "DecoderLayer")[0]
        ref_out = theirs(x, memory, tgt_mask=~tgt)
    ctx.expect(out.shape == ref_out.shape and torch.allclose(out, ref_out, atol=1e-8),
               "differs from nn.TransformerDecoderLayer (post-LN) with the same weights and a causal mask", case)
    case = "with a causal tgt_mask, changing positions 4 and 5 leaves earlier outputs unchanged"
    future = x.clone()
    future[:, 4:] = 0.0
    with torch.no_grad():
        out2 = _tensors(ctx, ctx.call(student, future, memory, tgt_mask=tgt, case=case), 1, case, "DecoderLayer")[0]
    ctx.expect(torch.allclose(out[:, :4], out2[:, :4], atol=1e-8),
               "with a causal tgt_mask, changing positions 4 and 5 changes earlier outputs", case)


# --------------------------------------------------------------------------- dnabert


def _dna(seed: int, n: int) -> str:
    return "".join("ACGT"[i] for i in torch.randint(0, 4, (n,), generator=_gen(seed)).tolist())


def _equal(ctx: Context, got: Any, want: Any, headline: str, case: str) -> None:
    ctx.expect(type(got) is type(want) and got == want, headline, case,
               details=[f"got {str(got)[:120]!r}" if not isinstance(got, str) else f"got {got[:120]!r}"])


def _hidden_transcribe(ctx: Context, impl) -> None:
    dna = _dna(509, 5000)
    expected = dna.translate(str.maketrans("ACGT", "UGCA"))
    case = "a random template strand of 5000 bases"
    _equal(ctx, ctx.call(impl, dna, case=case), expected, "wrong mRNA for a random strand of 5000 bases", case)
    case = "lower-case input"
    _equal(ctx, ctx.call(impl, dna[:50].lower(), case=case), expected[:50],
           "lower-case input must give the upper-case mRNA", case)
    for bad in ("ACGU", "ACNT", "AC GT"):
        _raises(ctx, impl, bad, case=f"transcribe({bad!r})", headline=f"transcribe({bad!r}) must raise ValueError")


def _hidden_translate(ctx: Context, impl) -> None:
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
        _equal(ctx, ctx.call(impl, seq, case=case), want, headline, case)
    for bad in ("AUGUAAXYZ", "AUGTTT"):
        _raises(ctx, impl, bad, case=f"translate({bad!r})",
                headline=f"translate({bad!r}) must raise ValueError (a letter other than A/C/G/U, even after a stop)")


def _hidden_kmer_tokenize(ctx: Context, impl) -> None:
    case = "kmer_tokenize('GATTACA', 7)"
    _equal(ctx, ctx.call(impl, "GATTACA", 7, case=case), ["GATTACA"], "k = len(seq) gives exactly one k-mer", case)
    case = "kmer_tokenize('gat', 1)"
    _equal(ctx, ctx.call(impl, "gat", 1, case=case), ["G", "A", "T"], "k = 1 gives the upper-case bases", case)
    dna = _dna(510, 3000)
    case = "a sequence of 3000 bases, k=6"
    tokens = ctx.call(impl, dna, 6, case=case)
    _equal(ctx, tokens, [dna[i:i + 6] for i in range(2995)], "wrong k-mers for a sequence of 3000 bases", case)
    for args in (("ACGN", 2), ("ACGT", 0), ("ACG", 4), ("ACGU", 2)):
        _raises(ctx, impl, *args, case=f"kmer_tokenize{args!r}", headline=f"kmer_tokenize{args!r} must raise ValueError")


def _hidden_kmer_vocab(ctx: Context, impl) -> None:
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


def _hidden_span_mask(ctx: Context, impl) -> None:
    g = _gen(511)
    ids = torch.randint(5, 5 + 4**6, (64, 200), generator=g)
    ids[:, 0], ids[:, -1] = 2, 3
    ids[:8, 150:] = 0
    ids[:8, 149] = 3
    original = ids.clone()
    case = "64 rows of 200 tokens, k=6, mask_prob=0.15, generator seed 1"
    args = ids.clone()
    masked_ids, labels = _tensors(ctx, ctx.call(impl, args, 6, 0.15, _gen(1), case=case), 2, case, "span_mask")
    ctx.expect(torch.equal(args, original), "span_mask must not modify input_ids", case)
    maskable = (ids != 0) & (ids != 2) & (ids != 3)
    masked = masked_ids == 4
    frac = (masked & maskable).sum().item() / maskable.sum().item()
    ctx.expect(0.12 < frac < 0.18, f"{frac:.1%} of the maskable tokens are masked, expected about 15%", case)
    ctx.expect(not bool((masked & ~maskable).any()), "[PAD], [CLS] and [SEP] must never be masked", case)
    ctx.expect(torch.equal(labels[masked], ids[masked]) and bool((labels[~masked] == -100).all()),
               "labels must hold the original ids where masked and -100 elsewhere", case)
    runs = []
    for row in masked[8:].int().tolist():
        pieces = "".join(map(str, row[1:-1])).split("0")
        runs += [len(r) for r in pieces[1:-1] if r]  # runs inside the row (the first and last may touch its ends)
    short = [r for r in runs if r < 6]
    ctx.expect(len(short) <= 0.05 * len(runs) + 1,
               f"{len(short)} of {len(runs)} masked runs inside the rows are shorter than k = 6 (spans must be contiguous)",
               case)
    case = "the same generator seed gives the same mask"
    again = _tensors(ctx, ctx.call(impl, ids.clone(), 6, 0.15, _gen(1), case=case), 2, case, "span_mask")[0]
    ctx.expect(torch.equal(again, masked_ids), "the same generator seed must give the same mask", case)
    case = "mask_prob=0"
    none = _tensors(ctx, ctx.call(impl, ids.clone(), 6, 0.0, _gen(2), case=case), 2, case, "span_mask")[0]
    ctx.expect(torch.equal(none, ids), "mask_prob=0 must mask nothing", case)


# --------------------------------------------------------------------------- running them

#: graded name -> (suite body, kind) of its hidden tests.
HIDDEN: dict[str, tuple[Callable[[Context, Any], None], str]] = {
    "rnn_cell": (_hidden_rnn_cell, "function"),
    "lstm_cell": (_hidden_lstm_cell, "function"),
    "scaled_dot_product_attention": (_hidden_sdpa, "function"),
    "MultiHeadAttention": (_hidden_mha, "class"),
    "sinusoidal_positional_encoding": (_hidden_pe, "function"),
    "causal_mask": (_hidden_causal, "function"),
    "padding_mask": (_hidden_padding, "function"),
    "EncoderLayer": (_hidden_encoder, "class"),
    "DecoderLayer": (_hidden_decoder, "class"),
    "transcribe": (_hidden_transcribe, "function"),
    "translate": (_hidden_translate, "function"),
    "kmer_tokenize": (_hidden_kmer_tokenize, "function"),
    "build_kmer_vocab": (_hidden_kmer_vocab, "function"),
    "span_mask": (_hidden_span_mask, "function"),
}


def run_hidden(name: str, impl, *, time_limit: float | None = None) -> CheckReport:
    """Run the hidden tests of the graded ``name`` on ``impl`` (CPU only); raises GradingError on a failure."""
    body, kind = HIDDEN[name]
    refused = torch_refused_modules() + [reference_item(_item(name).reference_object(), name)]
    return run_check(f"hidden tests of {name}", impl, lambda ctx: body(ctx, impl), refused=refused,
                     devices=_CPU, time_limit=time_limit, kind=kind)
