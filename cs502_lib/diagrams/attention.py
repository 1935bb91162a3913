"""Diagrams of attention (chapters 4 and 5).

- :func:`draw_qkv_example`: scaled dot-product attention on three tokens with two features, small enough to
  follow by hand: the scores :math:`QK^\\top`, the scaling by :math:`\\sqrt{d_k}`, the row-wise softmax and the
  weighted sum of the values. The numbers are computed by :func:`cs502_lib.scaled_dot_product_attention`
  (:func:`qkv_example` returns them, so a chapter can quote them).
- :func:`draw_multi_head`: multi-head attention as feature slices: project, split into heads, attend per head,
  concatenate, project again, with the tensor shapes written on the blocks.

Each ``draw_*`` function returns a Figure 7.5 inches wide with every text at 9 pt or more.
"""

from __future__ import annotations

import math

import torch

from ..nn.attention import scaled_dot_product_attention
from ._draw import FONT, arrow, box, grid_block, label, new_diagram, role_colors

__all__ = ["qkv_example", "draw_qkv_example", "draw_multi_head"]

#: The three tokens of the worked example and their queries, keys and values (d_k = d_v = 2).
EXAMPLE_TOKENS = ("A", "C", "G")
_Q = [[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]
_K = [[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
_V = [[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]]


def qkv_example() -> dict[str, torch.Tensor]:
    """The worked example: Q, K, V (3 x 2), the scores QK^T, the scaled scores, the weights and the output.

    ``weights`` and ``output`` come from :func:`cs502_lib.scaled_dot_product_attention`; ``scores`` and
    ``scaled`` are the intermediate steps, written out.
    """
    q, k, v = (torch.tensor(m) for m in (_Q, _K, _V))
    scores = q @ k.T
    scaled = scores / math.sqrt(q.shape[-1])
    out, weights = scaled_dot_product_attention(q, k, v)
    return {"Q": q, "K": k, "V": v, "scores": scores, "scaled": scaled, "weights": weights, "output": out}


def draw_qkv_example():
    """Scaled dot-product attention on the worked example of :func:`qkv_example`, step by step."""
    ex = qkv_example()
    toks = list(EXAMPLE_TOKENS)
    d_k = ex["Q"].shape[-1]
    fig, ax = new_diagram(7.5, 5.0)
    c = 0.42
    label(ax, 3.75, 4.8, r"Attention by hand: $\mathrm{softmax}(QK^\top/\sqrt{d_k})\,V$ with $d_k = 2$", weight="bold")
    y1 = 4.0
    gq = grid_block(ax, 0.45, y1, ex["Q"], cell=c, role="query", fmt="{:.0f}", title="Q (queries)", row_labels=toks)
    label(ax, 1.5, y1 - 1.5 * c, r"$\times$", fontsize=14)
    grid_block(ax, 1.7, y1, ex["K"].T, cell=c, role="key", fmt="{:.0f}", title=r"$K^\top$ (keys)", col_labels=toks)
    label(ax, 3.2, y1 - 1.5 * c, "=", fontsize=14)
    gs = grid_block(ax, 3.55, y1, ex["scores"], cell=c, role="attention", fmt="{:.0f}", title=r"scores $QK^\top$",
                    row_labels=toks, col_labels=toks)
    arrow(ax, (4.88, y1 - 1.5 * c), (5.85, y1 - 1.5 * c), text=rf"$\div\sqrt{{{d_k}}}$", text_offset=(0, 0.2),
          fontsize=FONT["label"])
    gsc = grid_block(ax, 5.95, y1, ex["scaled"], cell=c, role="attention", fmt="{:.2f}",
                     title=r"scaled $QK^\top/\sqrt{d_k}$", col_labels=toks)
    # connector: the softmax of each row turns the scaled scores into the weights of row 2
    y2 = 1.75
    ga_x = 0.45
    y_mid = 2.36
    edge = role_colors("attention")[1]
    ax.plot([gsc.x, gsc.x, ga_x + 1.5 * c], [gsc.y - gsc.h / 2 - 0.3, y_mid, y_mid], color=edge, lw=1.4, zorder=1)
    arrow(ax, (ga_x + 1.5 * c, y_mid), (ga_x + 1.5 * c, y2 + 0.5), color=edge)
    label(ax, 4.4, y_mid - 0.14, "softmax of each row (each row then sums to 1)", fontsize=FONT["small"], color=edge)
    ga = grid_block(ax, ga_x, y2, ex["weights"], cell=c, cmap="Reds", vmin=0.0, vmax=1.0, role="attention",
                    fmt="{:.2f}", title="", row_labels=toks, col_labels=toks)
    label(ax, ga.x + 0.95, y2 + 0.38, "weights", fontsize=FONT["label"], color=edge, weight="bold", ha="left")
    label(ax, 1.95, y2 - 1.5 * c, r"$\times$", fontsize=14)
    grid_block(ax, 2.2, y2, ex["V"], cell=c, role="value", fmt="{:.0f}", title="V (values)")
    label(ax, 3.3, y2 - 1.5 * c, "=", fontsize=14)
    grid_block(ax, 3.6, y2, ex["output"], cell=c, role="output", fmt="{:.2f}", title="output")
    # one row by hand
    w = ex["weights"][0].tolist()
    s = ex["scores"][0].tolist()
    sc = ex["scaled"][0].tolist()
    o = ex["output"][0].tolist()
    lines = [
        f"Row {toks[0]} by hand:",
        "scores  (" + ", ".join(f"{v:.0f}" for v in s) + ")",
        rf"$\div\sqrt{{2}}$   (" + ", ".join(f"{v:.2f}" for v in sc) + ")",
        "softmax (" + ", ".join(f"{v:.2f}" for v in w) + ")",
        f"output = {w[0]:.2f} v$_{toks[0]}$ + {w[1]:.2f} v$_{toks[1]}$",
        f"       + {w[2]:.2f} v$_{toks[2]}$ = ({o[0]:.2f}, {o[1]:.2f})",
    ]
    for i, line in enumerate(lines):
        label(ax, 4.95, 1.9 - i * 0.27, line, fontsize=FONT["small"], ha="left", va="top",
              weight="bold" if i == 0 else "normal", family="monospace" if 0 < i < 4 else None)
    label(ax, 3.75, 0.05, "rows = queries (the token that attends), columns = keys (the token attended to)",
          fontsize=FONT["small"], va="bottom")
    del gq, gs
    return fig


_HEAD_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def _sliced_bar(ax, x, y, n_slices, slice_w, h, role, text, slice_labels=True):
    """A tensor drawn as one bar cut into ``n_slices`` feature slices (one per head), left edge at x, centre y."""
    face, edge = role_colors(role)
    for j in range(n_slices):
        box(ax, x + (j + 0.5) * slice_w, y, slice_w, h, f"{j}" if slice_labels else "", role=role, rounding=0.02,
            fontsize=FONT["small"], edge=_HEAD_COLORS[j % len(_HEAD_COLORS)], lw=2.0)
    label(ax, x - 0.08, y, text, ha="right", fontsize=FONT["label"], color=edge, weight="bold")
    return x, x + n_slices * slice_w


def draw_multi_head(n: int = 5, d_model: int = 16, num_heads: int = 4):
    """Multi-head attention with the shapes of one sequence of ``n`` tokens: project, split, attend, merge."""
    if d_model % num_heads:
        raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
    if not 1 <= num_heads <= len(_HEAD_COLORS):
        raise ValueError(f"num_heads must be between 1 and {len(_HEAD_COLORS)}")
    d_k = d_model // num_heads
    H = num_heads
    fig, ax = new_diagram(7.5, 4.9)
    label(ax, 3.75, 4.7, f"Multi-head attention: {H} heads are {H} feature slices of width $d_k$ = {d_k}",
          weight="bold")
    # input
    xb = box(ax, 0.5, 2.5, 0.7, 1.4, f"X\n({n}, {d_model})", role="input", fontsize=FONT["small"])
    # projections and sliced Q, K, V
    ys = {"query": 3.65, "key": 2.5, "value": 1.35}
    names = {"query": ("$W^Q$", "Q"), "key": ("$W^K$", "K"), "value": ("$W^V$", "V")}
    bar_x, slice_w = 2.75, 0.3
    bar_ends = {}
    for role, y in ys.items():
        wb = box(ax, 1.55, y, 0.55, 0.42, names[role][0], role="feedforward", fontsize=FONT["box"])
        arrow(ax, xb, wb)
        _, end = _sliced_bar(ax, bar_x, y, H, slice_w, 0.42, role, names[role][1])
        arrow(ax, wb.right, (bar_x - 0.3, y))
        bar_ends[role] = end
    label(ax, bar_x + H * slice_w / 2, 4.2, f"({n}, {d_model}) each", fontsize=FONT["small"])
    label(ax, bar_x + H * slice_w / 2, 0.82, f"split: ({n}, {d_model})\n" + r"$\to$" + f" ({H}, {n}, {d_k})",
          fontsize=FONT["small"], va="top")
    # per-head attention
    hx, hw = 5.0, 1.25
    top, bottom = 3.95, 1.05
    step = (top - bottom) / max(H - 1, 1)
    head_boxes = []
    for j in range(H):
        y = top - j * step if H > 1 else 2.5
        hb = box(ax, hx, y, hw, min(0.55, step * 0.8), f"head {j}\n({n}, {n}) weights", role="attention",
                 fontsize=FONT["small"], edge=_HEAD_COLORS[j], lw=2.0)
        head_boxes.append(hb)
    x_from = max(bar_ends.values()) + 0.08
    arrow(ax, (x_from, 2.5), (hx - hw / 2 - 0.05, 2.5), lw=2.0)
    label(ax, hx, 0.45, "one batched call of\nscaled_dot_product_attention", fontsize=FONT["small"], va="center")
    # merge: the heads' outputs side by side along the features, then W^O
    cx, cw = 6.05, 0.36
    ch = min(0.5, step * 0.75)
    for j, hb in enumerate(head_boxes):
        sb = box(ax, cx, hb.y, cw, ch, f"{j}", role="output", rounding=0.02, fontsize=FONT["small"],
                 edge=_HEAD_COLORS[j], lw=2.0)
        arrow(ax, hb.right, sb.left, color=_HEAD_COLORS[j], lw=1.4)
    box(ax, cx, (top + bottom) / 2, cw + 0.16, top - bottom + ch + 0.16, "", role="neutral", rounding=0.05, zorder=1)
    label(ax, cx, top + ch / 2 + 0.14, f"concat ({n}, {H}$\\cdot${d_k})", fontsize=FONT["small"], va="bottom")
    wo = box(ax, 6.95, 2.5, 0.55, 0.42, "$W^O$", role="feedforward")
    arrow(ax, (cx + cw / 2 + 0.08, 2.5), wo.left)
    ob = box(ax, 6.95, 1.4, 0.85, 0.55, f"output\n({n}, {d_model})", role="output", fontsize=FONT["small"])
    arrow(ax, wo.bottom, ob.top)
    return fig
