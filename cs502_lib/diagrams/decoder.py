"""Diagrams of the Transformer decoder (chapter 8): the causal mask and the wiring of cross-attention.

Each ``draw_*`` function returns a matplotlib Figure 7.5 inches wide (the book's content width) with every text
at 9 pt or more. Colours follow :data:`cs502_lib.diagrams._draw.PALETTE`: queries orange, keys green, values
purple, attention rose, the encoder's memory blue.
"""

from __future__ import annotations

from typing import Sequence

from ..nn.positional import causal_mask
from ._draw import FONT, arrow, box, label, new_diagram, role_colors

__all__ = ["draw_causal_mask", "draw_cross_attention"]

_BLOCKED = "#4d4d4d"      # a forbidden (future) cell of the mask


def draw_causal_mask(tokens: Sequence[str] = ("<bos>", "L", "S", "S", "K"), query: int = 2):
    """The causal mask as a grid (left) next to the attention pattern it allows (right).

    Left: the additive mask M of the masked-attention equation, computed with :func:`cs502_lib.causal_mask`
    (0 where query i may attend to key j <= i, minus infinity above the diagonal). Right: the decoder's input
    tokens as queries (bottom) and keys (top), with a line for every connection the mask allows; the
    connections of query ``query`` are highlighted and its blocked ones (the future) drawn dashed.
    """
    n = len(tokens)
    if n < 2 or not 0 <= query < n:
        raise ValueError(f"need at least 2 tokens and 0 <= query < {n}, got {n} tokens and query={query}")
    allowed = causal_mask(n).tolist()
    fig, ax = new_diagram(7.5, 3.6)
    att_fill, att_edge = role_colors("attention")
    q_fill, q_edge = role_colors("query")
    k_fill, k_edge = role_colors("key")

    # ---- left: the grid M (rows = queries i, columns = keys j)
    cell = 0.44
    x0, y_top = 0.95, 2.95
    label(ax, x0 + n * cell / 2, 3.42, "mask $M$ added to the scores", weight="bold")
    for j, t in enumerate(tokens):
        label(ax, x0 + (j + 0.5) * cell, y_top + 0.14, t, fontsize=FONT["small"], color=k_edge)
    for i, t in enumerate(tokens):
        y = y_top - (i + 0.5) * cell
        label(ax, x0 - 0.08, y, t, fontsize=FONT["small"], color=q_edge, ha="right")
        for j in range(n):
            ok = allowed[i][j]
            fill = att_fill if ok else _BLOCKED
            if i == query:
                fill = q_fill if ok else _BLOCKED
            box(ax, x0 + (j + 0.5) * cell, y, cell, cell, "0" if ok else r"$-\infty$", fill=fill, edge="white",
                rounding=0.0, lw=1.0, fontsize=FONT["cell"])
    y_bottom = y_top - n * cell
    label(ax, x0 + n * cell / 2, y_bottom - 0.2, "key position $j$ (attended to)", fontsize=FONT["small"])
    label(ax, 0.12, y_top - n * cell / 2, "query position $i$", fontsize=FONT["small"], rotation=90)
    label(ax, x0 + n * cell / 2, y_bottom - 0.5, r"0 where $j \leq i$,  $-\infty$ where $j > i$",
          fontsize=FONT["small"])

    # ---- right: the allowed connections
    xr0, dx = 3.8, 0.66
    y_k, y_q = 2.75, 0.85
    bw, bh = 0.6, 0.36
    xs = [xr0 + i * dx for i in range(n)]
    label(ax, (xs[0] + xs[-1]) / 2, 3.42, "what each query may read", weight="bold")
    for i in range(n):
        for j in range(n):
            if i == query:
                continue
            if allowed[i][j]:
                arrow(ax, (xs[i], y_q + bh / 2), (xs[j], y_k - bh / 2), color="#c8c8c8", lw=0.9, style="-")
    for j in range(n):
        start, end = (xs[query], y_q + bh / 2), (xs[j], y_k - bh / 2)
        if allowed[query][j]:
            arrow(ax, start, end, color=att_edge, lw=2.0, mutation_scale=11, zorder=1)
        else:
            arrow(ax, start, end, color="#8a8a8a", lw=1.1, style="-", linestyle=(0, (3, 3)))
            mx, my = start[0] + 0.62 * (end[0] - start[0]), start[1] + 0.62 * (end[1] - start[1])
            label(ax, mx, my, "x", fontsize=FONT["label"] + 1, color="#8a8a8a", weight="bold",
                  bbox=dict(boxstyle="circle,pad=0.05", facecolor="white", edgecolor="none"))
    for i, t in enumerate(tokens):
        box(ax, xs[i], y_k, bw, bh, t, role="key", fontsize=FONT["small"])
        box(ax, xs[i], y_q, bw, bh, t, role="query", fontsize=FONT["small"],
            weight="bold" if i == query else "normal", lw=2.2 if i == query else 1.4)
    label(ax, xs[-1] + 0.36, y_k, "keys", fontsize=FONT["small"], color=k_edge, ha="left")
    label(ax, xs[-1] + 0.36, y_q, "queries", fontsize=FONT["small"], color=q_edge, ha="left")
    label(ax, (xs[0] + xs[-1]) / 2, 0.3,
          f"query {query} ({tokens[query]}) reads keys 0-{query}; later keys are blocked",
          fontsize=FONT["small"], color="#333333")
    return fig


def draw_cross_attention(source: str = "CTATCAAGC", target: Sequence[str] = ("<bos>", "L", "S")):
    """The wiring of encoder-decoder (cross) attention in one decoder layer.

    The encoder turns the source tokens into the memory (one vector per input position); the decoder's
    masked self-attention turns the target so far into queries. Cross-attention takes its **queries from the
    decoder** and its **keys and values from the memory**, so its weight matrix has one row per output
    position and one column per input position.
    """
    n, m = len(source), len(target)
    if n < 2 or m < 1:
        raise ValueError("need a source of at least 2 tokens and a target of at least 1")
    fig, ax = new_diagram(7.5, 4.9)
    q_fill, q_edge = role_colors("query")
    k_fill, k_edge = role_colors("key")
    v_fill, v_edge = role_colors("value")
    mem_fill, mem_edge = role_colors("input")

    # ---- encoder side (left)
    cw = min(0.27, 2.5 / n)
    ex0 = 0.35
    exs = [ex0 + (i + 0.5) * cw for i in range(n)]
    ecx = (exs[0] + exs[-1]) / 2
    label(ax, ecx, 4.65, "encoder", weight="bold")
    label(ax, ecx, 0.18, "source: DNA bases", fontsize=FONT["small"])
    for x, b in zip(exs, source):
        box(ax, x, 0.52, cw * 0.92, 0.34, b, role="input", fontsize=FONT["small"], rounding=0.04)
    enc = box(ax, ecx, 1.6, n * cw, 0.75, "encoder stack\n(self-attention, no mask)", role="feedforward",
              fontsize=FONT["small"])
    arrow(ax, (ecx, 0.72), enc.bottom)
    mem_y = 2.75
    for x in exs:
        box(ax, x, mem_y, cw * 0.92, 0.42, "", role="input", rounding=0.04)
    arrow(ax, enc.top, (ecx, mem_y - 0.23))
    label(ax, ecx, mem_y + 0.38, "memory: one vector per base", fontsize=FONT["small"], color=mem_edge)

    # ---- decoder side (right)
    dcx = 6.05
    tw = 0.55
    dxs = [dcx + (i - (m - 1) / 2) * (tw + 0.08) for i in range(m)]
    label(ax, dcx, 4.65, "one decoder layer", weight="bold")
    label(ax, dcx, 0.18, "target so far (shifted right)", fontsize=FONT["small"])
    for x, t in zip(dxs, target):
        box(ax, x, 0.52, tw, 0.34, t, role="output", fontsize=FONT["small"], rounding=0.04)
    self_att = box(ax, dcx, 1.35, 2.2, 0.5, "masked self-attention,\nAdd & Norm", role="attention",
                   fontsize=FONT["small"])
    arrow(ax, (dcx, 0.72), self_att.bottom)
    cross = box(ax, dcx, 2.75, 2.2, 0.62, "cross-attention\nsoftmax$(QK^\\top/\\sqrt{d_k})\\,V$", role="attention",
                fontsize=FONT["small"])
    arrow(ax, self_att.top, cross.bottom, color=q_edge, lw=2.0, text="Q", text_offset=(-0.16, 0.0),
          fontsize=FONT["label"])
    ffn = box(ax, dcx, 3.75, 2.2, 0.42, "Add & Norm, feed-forward,\nAdd & Norm", role="norm", fontsize=FONT["small"])
    arrow(ax, cross.top, ffn.bottom)
    arrow(ax, ffn.top, (dcx, 4.4))
    label(ax, dcx - 0.1, 4.25, "to the next layer", fontsize=FONT["small"], ha="right")

    # ---- memory -> K and V
    mem_right = exs[-1] + cw / 2
    gap_x = (mem_right + cross.left[0]) / 2
    arrow(ax, (mem_right + 0.08, mem_y + 0.1), (cross.left[0], cross.y + 0.14), color=k_edge, lw=2.0,
          text="K", text_offset=(0.0, 0.22), fontsize=FONT["label"])
    arrow(ax, (mem_right + 0.08, mem_y - 0.1), (cross.left[0], cross.y - 0.14), color=v_edge, lw=2.0,
          text="V", text_offset=(0.0, -0.2), fontsize=FONT["label"])
    label(ax, gap_x, 3.55, "keys: what each base offers\nvalues: what it passes on", fontsize=FONT["small"],
          color="#333333")
    label(ax, gap_x, 1.95, f"weights: {m} x {n}\none row per output,\none column per base", fontsize=FONT["small"],
          color="#333333")
    label(ax, gap_x, 1.2, "queries: what each\noutput position seeks", fontsize=FONT["small"], color=q_edge)
    return fig
