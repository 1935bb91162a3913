"""Diagrams of DNABERT (chapter 10): the pretraining pipeline and the fine-tuning head.

The tokens, their ids and the masked span in :func:`draw_dnabert_pipeline` are produced by the library's own
:class:`cs502_lib.bio.KmerTokenizer` and :func:`cs502_lib.bio.span_mask`, so the picture cannot drift from the code.
Each ``draw_*`` function returns a matplotlib Figure 7.5 inches wide (the book's content width) with every text at
8 pt or more. Colours follow :data:`cs502_lib.diagrams._draw.PALETTE`.
"""

from __future__ import annotations

import numpy as np
import torch

from ..bio import MASK_ID, KmerTokenizer, span_mask
from ._draw import FONT, arrow, box, grid_block, label, new_diagram, role_colors

__all__ = ["pipeline_example", "draw_dnabert_pipeline", "draw_finetuning_head"]

#: The first 15 bases of the first promoter of :func:`cs502_lib.data.load_promoters` (written here so that
#: drawing needs no data file; a test checks it against the data).
EXAMPLE_DNA = "GCCTTCTCCAAAACG"

_MONO = dict(family="monospace")


def pipeline_example(seq: str = EXAMPLE_DNA, k: int = 6, mask_prob: float = 0.15):
    """Tokens of ``seq`` and one DNABERT span mask over them, from the library.

    The mask is :func:`cs502_lib.bio.span_mask` with the first generator seed (0, 1, 2, ...) that masks exactly
    one span of ``k`` tokens with unmasked k-mers on both sides: the typical case away from the edges.

    Returns a dict: ``tokens`` (strings, ``[CLS]`` ... ``[SEP]``), ``ids`` (list of int), ``masked`` (list of
    bool per token), ``seed`` and ``hidden_bases`` (indices of the bases that only masked tokens contain).
    """
    tok = KmerTokenizer(k)
    ids = tok.encode(seq)
    n_tok = ids.numel()
    if n_tok - 2 < k + 2:
        raise ValueError(f"need at least {2 * k + 1} bases for a span of {k} tokens with a neighbour on each side")
    for seed in range(100_000):
        masked_ids, _ = span_mask(ids[None], k, mask_prob, generator=torch.Generator().manual_seed(seed))
        m = (masked_ids[0] == MASK_ID).tolist()
        pos = [i for i, v in enumerate(m) if v]
        if len(pos) == k and pos[-1] - pos[0] == k - 1 and pos[0] >= 2 and pos[-1] <= n_tok - 3:
            break
    else:  # pragma: no cover - a span appears within a few hundred seeds
        raise RuntimeError("no single-span mask found")
    # token t (1-based among the k-mers) covers bases t-1 .. t+k-2
    visible = set()
    for t in range(1, n_tok - 1):
        if not m[t]:
            visible.update(range(t - 1, t - 1 + k))
    hidden = [b for b in range(len(seq)) if b not in visible]
    return {"tokens": [tok.id_to_token(int(i)) for i in ids], "ids": ids.tolist(), "masked": m, "seed": seed,
            "hidden_bases": hidden}


def draw_dnabert_pipeline(seq: str = EXAMPLE_DNA, k: int = 6):
    """DNABERT's pretraining on one short sequence: DNA -> overlapping k-mers -> [CLS] ... [SEP] tokens ->
    a contiguous span of k tokens replaced by [MASK] -> the encoder -> the masked-LM head predicts the hidden
    k-mers (the loss is computed at the masked positions only)."""
    ex = pipeline_example(seq, k)
    tokens, ids, masked, hidden = ex["tokens"], ex["ids"], ex["masked"], ex["hidden_bases"]
    n_tok = len(tokens)
    fig, ax = new_diagram(7.5, 6.6)
    in_fill, in_edge = role_colors("input")
    att_fill, att_edge = role_colors("attention")
    out_fill, out_edge = role_colors("output")
    W = 7.5
    tw = min(0.58, (W - 0.3) / n_tok)
    txs = [W / 2 + (t - (n_tok - 1) / 2) * tw for t in range(n_tok)]

    def stage(y, text):
        label(ax, 0.12, y, text, fontsize=FONT["small"] + 1, ha="left", weight="bold", color="#222222")

    # 1. DNA bases, aligned so that base b sits under the middle of the tokens that contain it
    bw = 0.3
    bx0 = 0.45
    bxs = [bx0 + (b + 0.5) * bw for b in range(len(seq))]
    y_dna = 5.95
    stage(6.4, f"1  DNA: {len(seq)} bases of a real E. coli promoter")
    for b, (x, base) in enumerate(zip(bxs, seq)):
        box(ax, x, y_dna, bw * 0.94, 0.34, base, role="attention" if b in hidden else "input", rounding=0.03,
            fontsize=FONT["box"], weight="bold" if b in hidden else "normal", **_MONO)
    # the first two k-mers as brackets under the bases: they overlap in k - 1 bases
    for j, (dy, name) in enumerate(((0.33, f"1st {k}-mer"), (0.55, f"2nd {k}-mer"))):
        x_a, x_b = bxs[j] - bw * 0.42, bxs[j + k - 1] + bw * 0.42
        yb = y_dna - dy
        ax.plot([x_a, x_a, x_b, x_b], [yb + 0.07, yb, yb, yb + 0.07], color=in_edge, lw=1.3)
        label(ax, x_b + 0.08, yb, name, fontsize=FONT["small"], color=in_edge, ha="left")
    h = hidden[0] if hidden else None
    if h is not None:
        label(ax, bxs[-1] + 0.3, y_dna - 0.2, f"base {h + 1} is hidden: every token\nthat contains it is masked (step 3)",
              fontsize=FONT["small"], color=att_edge, ha="left")

    # 2. tokens with their ids
    y_tok = 4.55
    stage(5.05, f"2  tokens: [CLS], the {n_tok - 2} overlapping {k}-mers, [SEP]  (KmerTokenizer)")
    for x, t, i in zip(txs, tokens, ids):
        special = t.startswith("[")
        box(ax, x, y_tok, tw * 0.95, 0.36, t, role="output" if special else "input", rounding=0.04,
            fontsize=FONT["small"] - 1, **_MONO)
        label(ax, x, y_tok - 0.31, str(i), fontsize=FONT["small"] - 1, color="#555555")
    label(ax, txs[0] - tw / 2, y_tok - 0.31, "id", fontsize=FONT["small"] - 1, color="#555555", ha="right")

    # 3. the span mask
    y_mask = 3.3
    stage(3.8, f"3  span mask: {k} consecutive tokens become [MASK]  (span_mask, 15 % on average)")
    for x, t, mk in zip(txs, tokens, masked):
        box(ax, x, y_mask, tw * 0.95, 0.36, "[MASK]" if mk else t,
            role="attention" if mk else ("output" if t.startswith("[") else "input"), rounding=0.04,
            fontsize=FONT["small"] - 1, weight="bold" if mk else "normal", **_MONO)

    # 4. the encoder
    y_enc = 2.05
    enc = box(ax, W / 2, y_enc, txs[-1] - txs[0] + tw, 0.62,
              "4  encoder: k-mer embedding + positions, Transformer encoder layers (chapter 7)\n"
              "every token attends to every other, so a [MASK] reads the context on both sides",
              role="feedforward", fontsize=FONT["small"])
    for x in (txs[0], txs[n_tok // 2], txs[-1]):
        arrow(ax, (x, y_mask - 0.2), (x, enc.top[1]), lw=1.0, mutation_scale=9)

    # 5. predictions at the masked positions
    y_out = 1.05
    stage(0.55, f"5  masked-LM head: predict the hidden {k}-mers; the loss counts masked positions only")
    for x, t, mk in zip(txs, tokens, masked):
        if mk:
            box(ax, x, y_out, tw * 0.95, 0.36, t, role="output", rounding=0.04, fontsize=FONT["small"] - 1,
                weight="bold", **_MONO)
            arrow(ax, (x, enc.bottom[1]), (x, y_out + 0.2), lw=1.0, mutation_scale=9, color=out_edge)
        else:
            label(ax, x, y_out, "-", fontsize=FONT["small"], color="#999999")
    label(ax, 0.4, 0.2, "loss = cross-entropy of the true k-mer (DNABERT-mini: of each of its "
          f"{k} bases) at every [MASK]", fontsize=FONT["small"], color="#333333",
          ha="left")
    return fig


def draw_finetuning_head(n_tokens: int = 6, n_features: int = 6, seed: int = 0,
                         classes: tuple[str, str] = ("promoter", "not a promoter")):
    """The max head of fine-tuning: the encoder's token vectors -> ``tanh(W h_t + b)`` per token -> the maximum
    of each feature over the tokens -> a linear classifier.

    The feature values are illustrative (seeded random numbers), not those of a trained model.
    """
    if n_tokens < 3 or n_features < 2:
        raise ValueError("need at least 3 tokens and 2 features")
    rng = np.random.default_rng(seed)
    z = np.tanh(rng.normal(0.0, 0.9, size=(n_tokens, n_features)))
    fig, ax = new_diagram(7.5, 3.35)
    in_fill, in_edge = role_colors("input")
    att_fill, att_edge = role_colors("attention")
    names = ["[CLS]"] + [f"k-mer {t}" for t in range(1, n_tokens - 1)] + ["[SEP]"]
    cell = 0.3
    y_top = 2.85
    ys = [y_top - (t + 0.5) * cell for t in range(n_tokens)]
    # tokens
    label(ax, 0.62, y_top + 0.22, "tokens", fontsize=FONT["small"], weight="bold")
    for y, t in zip(ys, names):
        box(ax, 0.62, y, 0.95, cell * 0.9, t, role="output" if t.startswith("[") else "input",
            fontsize=FONT["small"] - 1, rounding=0.03)
    # encoder
    enc = box(ax, 1.75, y_top - n_tokens * cell / 2, 0.75, n_tokens * cell, "encoder\n(pre-\ntrained)",
              role="feedforward", fontsize=FONT["small"])
    arrow(ax, (1.12, enc.y), enc.left)
    # per-token features
    gx = 2.95
    grid = grid_block(ax, gx, y_top, z, cell=cell, cmap="RdBu_r", vmin=-1, vmax=1, fmt="{:.1f}",
                      fontsize=FONT["small"] - 1, shape_text="")
    label(ax, grid.x, y_top + 0.22, r"$\tanh(W h_t + b)$ per token", fontsize=FONT["small"], weight="bold")
    label(ax, grid.x, y_top - n_tokens * cell - 0.1, f"{n_tokens} tokens x {n_features} features "
          "(illustrative values)", fontsize=FONT["small"] - 1, color="#333333", va="top")
    arrow(ax, enc.right, grid.left, text="$h_t$", text_offset=(0.0, 0.16), fontsize=FONT["small"])
    # outline the maximum of each feature
    for j in range(n_features):
        i = int(z[:, j].argmax())
        ax.add_patch(__import__("matplotlib").patches.Rectangle((gx + j * cell, y_top - (i + 1) * cell), cell, cell,
                                                                fill=False, edgecolor="#111111", lw=2.2, zorder=4))
    # pooled vector
    px = 5.35
    pooled = z.max(0)
    pool = grid_block(ax, px, y_top - (n_tokens - 1) * cell / 2, pooled[None, :], cell=cell * 0.85, cmap="RdBu_r",
                      vmin=-1, vmax=1, fmt="{:.1f}", fontsize=FONT["small"] - 1, shape_text="")
    label(ax, pool.x, pool.y + 0.42, "max over the tokens,\nfeature by feature", fontsize=FONT["small"],
          weight="bold")
    arrow(ax, grid.right, pool.left)
    clf = box(ax, pool.x, 1.05, 1.7, 0.42, "linear classifier", role="feedforward", fontsize=FONT["small"])
    arrow(ax, pool.bottom, clf.top)
    label(ax, pool.x, 0.45, f"{classes[0]}  /  {classes[1]}", fontsize=FONT["small"], weight="bold")
    arrow(ax, clf.bottom, (pool.x, 0.6))
    label(ax, grid.x, 0.38, "a feature fires if its pattern\noccurs anywhere in the sequence", fontsize=FONT["small"],
          color=att_edge)
    return fig
