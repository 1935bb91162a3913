"""Diagrams of the Transformer: the whole model, the encoder block and the decoder block (chapters 7 and 8).

Each ``draw_*`` function returns a matplotlib Figure at most 7.5 inches wide (the book's content width), so that it
is shown at its natural size, with every text at 9 pt or more. Colours follow
:data:`cs502_lib.diagrams._draw.PALETTE`: embeddings blue-grey, attention rose, Add & Norm yellow, feed-forward
blue, the output layers grey. Residual (identity) paths are drawn in one colour, :data:`RESIDUAL_COLOR`, so that
the reader can follow them around every sublayer.

- :func:`draw_transformer`: the encoder-decoder model of Vaswani et al. (2017), both stacks with their N x,
  embeddings plus positional encoding, masked self-attention, cross-attention, the final linear layer and softmax.
- :func:`draw_encoder_block`: one encoder layer in close-up, "Add" and "Norm" drawn as two steps, the residual
  path and the tensor shapes visible.
- :func:`draw_decoder_block`: one decoder layer in close-up, with the causal mask and the encoder's memory
  entering the cross-attention as keys and values.
"""

from __future__ import annotations

from ._draw import FONT, Box, arrow, box, label, new_diagram, role_colors

__all__ = ["draw_transformer", "draw_encoder_block", "draw_decoder_block", "RESIDUAL_COLOR"]

#: Colour of every residual (identity) path.
RESIDUAL_COLOR = "#2e8b57"
_LINE = "#333333"


def _op(ax, x, y, text="+", r=0.15) -> Box:
    """A pointwise operation (the residual addition) drawn as a small white circle."""
    return box(ax, x, y, 2 * r, 2 * r, text, role="op", rounding=r * 0.98, fontsize=FONT["box"] + 1)


def _path(ax, points, *, color=_LINE, lw=1.4):
    """A polyline through ``points`` whose last segment ends in an arrow head."""
    xs, ys = zip(*points[:-1])
    ax.plot(xs, ys, color=color, lw=lw, zorder=1)
    arrow(ax, points[-2], points[-1], color=color, lw=lw)


def _dot(ax, x, y, color=_LINE):
    ax.plot([x], [y], "o", ms=4.5, color=color, zorder=3)


def _positional_symbol(ax, x, y, r=0.2):
    """The positional-encoding symbol: a circle with one period of a sine inside."""
    import numpy as np

    box(ax, x, y, 2 * r, 2 * r, "", role="op", rounding=r * 0.98)
    t = np.linspace(-0.75 * r, 0.75 * r, 40)
    ax.plot(x + t, y + 0.5 * r * np.sin(t / (0.75 * r) * np.pi), color=_LINE, lw=1.2, zorder=4)
    return Box(x, y, 2 * r, 2 * r)


def _frame(ax, x, y_bottom, y_top, w, stack_text, side):
    """The grey frame of a repeated block and its "N x" label on the ``side`` ("left" or "right")."""
    box(ax, x, (y_bottom + y_top) / 2, w, y_top - y_bottom, "", role="neutral", rounding=0.12, zorder=0)
    lx = x - w / 2 - 0.08 if side == "left" else x + w / 2 + 0.08
    label(ax, lx, (y_bottom + y_top) / 2, stack_text, ha="right" if side == "left" else "left",
          fontsize=FONT["title"], weight="bold")


def _fan_in(ax, x_from, y_from, target: Box, offsets, texts=None):
    """Arrows from one point into the bottom of ``target`` at horizontal ``offsets`` (e.g. Q, K, V)."""
    for i, off in enumerate(offsets):
        end = (target.x + off, target.y - target.h / 2)
        arrow(ax, (x_from, y_from), end)
        if texts:
            tx = x_from + 0.55 * (end[0] - x_from) + (0.16 if off >= 0 else -0.16)
            ty = y_from + 0.55 * (end[1] - y_from)
            label(ax, tx, ty, texts[i], fontsize=FONT["small"], color="#444444")


def _sublayer_compact(ax, x, y_in, text, role, side, *, w=2.0, h=0.42, gap=0.6, fan=(-0.55, 0.0, 0.55),
                      fan_texts=None, residual_dx=1.2):
    """A sublayer with its "Add & Norm" box and the residual path around it (the whole-model diagram).

    ``y_in`` is the height of the branch point under the sublayer. Returns the Add & Norm box.
    """
    sub = box(ax, x, y_in + 0.35 + h / 2, w, h, text, role=role)
    if fan:
        _fan_in(ax, x, y_in, sub, fan, fan_texts)
    norm = box(ax, x, sub.y + gap, w, 0.36, "Add & Norm", role="norm", fontsize=FONT["small"])
    arrow(ax, sub, norm)
    rx = x - residual_dx if side == "left" else x + residual_dx
    _dot(ax, x, y_in, RESIDUAL_COLOR)
    _path(ax, [(x, y_in), (rx, y_in), (rx, norm.y), norm.left if side == "left" else norm.right],
          color=RESIDUAL_COLOR)
    return norm


def draw_transformer(stack_text: str = "N ×"):
    """The Transformer of Vaswani et al. (2017): the encoder stack (left) and the decoder stack (right).

    Encoder: input embedding plus positional encoding, then N identical layers of multi-head self-attention and a
    feed-forward network, each followed by Add & Norm (residual connection, then layer normalization). Decoder:
    output embedding (the target shifted right) plus positional encoding, then N layers of masked multi-head
    self-attention, cross-attention whose keys and values come from the encoder's output, and a feed-forward
    network, each with Add & Norm; then a linear layer and a softmax give the next-token probabilities.
    """
    fig, ax = new_diagram(7.4, 9.2)
    ex, dx, bw = 2.15, 5.3, 2.0
    small = FONT["small"]

    # ---- encoder (left)
    label(ax, ex, 0.25, "Inputs (source tokens)", fontsize=small)
    emb = box(ax, ex, 0.85, bw, 0.42, "Input embedding", role="input")
    arrow(ax, (ex, 0.42), emb)
    add_e = _op(ax, ex, 1.55)
    arrow(ax, emb, add_e)
    pe_e = _positional_symbol(ax, ex - 0.65, 1.55)
    arrow(ax, pe_e, add_e)
    label(ax, ex - 0.92, 1.55, "Positional\nencoding", fontsize=small, ha="right")
    enc_bottom = 2.0
    y_branch = 2.3
    arrow(ax, add_e, (ex, y_branch), style="-")
    n1 = _sublayer_compact(ax, ex, y_branch, "Multi-head\nself-attention", "attention", "left")
    y_branch2 = n1.y + 0.38
    arrow(ax, n1, (ex, y_branch2), style="-")
    n2 = _sublayer_compact(ax, ex, y_branch2, "Feed forward", "feedforward", "left", fan=(0.0,))
    enc_top = n2.y + 0.5
    _frame(ax, ex, enc_bottom, enc_top, 2.85, stack_text, "left")
    label(ax, ex - 1.3, enc_top - 0.17, "Encoder", fontsize=FONT["label"], weight="bold", ha="left")

    # ---- decoder (right)
    label(ax, dx, 0.25, "Outputs (target, shifted right)", fontsize=small)
    demb = box(ax, dx, 0.85, bw, 0.42, "Output embedding", role="input")
    arrow(ax, (dx, 0.42), demb)
    add_d = _op(ax, dx, 1.55)
    arrow(ax, demb, add_d)
    pe_d = _positional_symbol(ax, dx + 0.65, 1.55)
    arrow(ax, pe_d, add_d)
    label(ax, dx + 0.92, 1.55, "Positional\nencoding", fontsize=small, ha="left")
    dec_bottom = 2.0
    arrow(ax, add_d, (dx, y_branch), style="-")
    m1 = _sublayer_compact(ax, dx, y_branch, "Masked multi-head\nself-attention", "attention", "right")
    yb2 = m1.y + 0.38
    arrow(ax, m1, (dx, yb2), style="-")
    m2 = _sublayer_compact(ax, dx, yb2, "Multi-head\ncross-attention", "attention", "right", fan=(0.55,))
    label(ax, dx + 0.72, yb2 + 0.1, "Q", fontsize=small, color="#444444")
    yb3 = m2.y + 0.38
    arrow(ax, m2, (dx, yb3), style="-")
    m3 = _sublayer_compact(ax, dx, yb3, "Feed forward", "feedforward", "right", fan=(0.0,))
    dec_top = m3.y + 0.5
    _frame(ax, dx, dec_bottom, dec_top, 2.85, "× N", "right")
    label(ax, dx + 1.3, dec_top - 0.17, "Decoder", fontsize=FONT["label"], weight="bold", ha="right")

    # encoder output -> keys and values of every decoder layer's cross-attention
    cross = Box(dx, m2.y - 0.6, bw, 0.42)
    mid = (ex + 1.43 + dx - 1.43) / 2
    top_out = enc_top + 0.45
    arrow(ax, n2, (ex, top_out), style="-")
    kv_color = role_colors("value")[1]
    _path(ax, [(ex, top_out), (mid, top_out), (mid, cross.y - 0.1), (cross.x - bw / 2, cross.y - 0.1)],
          color=kv_color, lw=1.8)
    label(ax, (ex + mid) / 2, top_out + 0.17, "encoder output: K, V", fontsize=small, color=kv_color)

    # output layers
    lin = box(ax, dx, dec_top + 0.5, bw, 0.4, "Linear", role="feedforward")
    arrow(ax, m3, lin)
    soft = box(ax, dx, lin.y + 0.62, bw, 0.4, "Softmax", role="output")
    arrow(ax, lin, soft)
    arrow(ax, soft, (dx, soft.y + 0.48))
    label(ax, dx, soft.y + 0.62, "Output probabilities (next token)", fontsize=small)

    # legend for the residual colour
    label(ax, 0.15, 8.95, "green: residual (identity) path", fontsize=small, color=RESIDUAL_COLOR, ha="left")
    label(ax, 0.15, 8.65, "Add & Norm = LayerNorm(x + sublayer(x))", fontsize=small, ha="left")
    return fig


def _sublayer_detailed(ax, x, y_in, text, role, *, w=2.4, h=0.5, fan=(-0.6, 0.0, 0.6), fan_texts=("Q", "K", "V"),
                       residual_dx=1.55, sub_box=None):
    """A sublayer, then "+" (the residual addition) and LayerNorm as two visible steps (the close-ups).

    ``sub_box`` draws the sublayer itself and returns its Box (for a multi-box sublayer such as the FFN).
    Returns ``(sublayer box, add circle, norm box)``.
    """
    if sub_box is None:
        sub = box(ax, x, y_in + 0.45 + h / 2, w, h, text, role=role)
        _fan_in(ax, x, y_in, sub, fan, fan_texts)
    else:
        sub = sub_box(y_in)
    add = _op(ax, x, sub.y + sub.h / 2 + 0.42)
    arrow(ax, sub, add)
    norm = box(ax, x, add.y + 0.62, w, 0.42, "LayerNorm", role="norm")
    arrow(ax, add, norm)
    rx = x - residual_dx
    _dot(ax, x, y_in, RESIDUAL_COLOR)
    _path(ax, [(x, y_in), (rx, y_in), (rx, add.y), add.left], color=RESIDUAL_COLOR, lw=1.8)
    label(ax, rx - 0.1, (y_in + add.y) / 2, "residual\n(identity)", fontsize=FONT["small"], color=RESIDUAL_COLOR,
          ha="right")
    return sub, add, norm


def _add_norm_bracket(ax, x_right, add: Box, norm: Box, text="Add & Norm"):
    """A bracket right of the Add circle and the LayerNorm box, naming the pair."""
    y0, y1 = add.y - add.h / 2, norm.y + norm.h / 2
    c = role_colors("norm")[1]
    ax.plot([x_right, x_right + 0.12, x_right + 0.12, x_right], [y0, y0, y1, y1], color=c, lw=1.6, zorder=1)
    label(ax, x_right + 0.2, (y0 + y1) / 2, text, fontsize=FONT["small"], color="#6b5a00", ha="left",
          weight="bold")


def _ffn_stack(ax, x, w):
    """The position-wise feed-forward network as three small boxes; returns a drawer for _sublayer_detailed."""

    def draw(y_in):
        l1 = box(ax, x, y_in + 0.5, w, 0.36, r"Linear $d_{model} \to d_{ff}$", role="feedforward",
                 fontsize=FONT["small"])
        arrow(ax, (x, y_in), l1)
        relu = box(ax, x, l1.y + 0.5, w * 0.6, 0.32, "ReLU", role="feedforward", fontsize=FONT["small"])
        arrow(ax, l1, relu)
        l2 = box(ax, x, relu.y + 0.5, w, 0.36, r"Linear $d_{ff} \to d_{model}$", role="feedforward",
                 fontsize=FONT["small"])
        arrow(ax, relu, l2)
        return Box(x, (l1.y - l1.h / 2 + l2.y + l2.h / 2) / 2, w, l2.y + l2.h / 2 - (l1.y - l1.h / 2))

    return draw


def _self_attention_with_mask(ax, x: float, w: float, input_text: str, title: str, mask_text: str,
                              mask_dy: float = 0.0):
    """The bottom of a layer's close-up: the input's label and arrow, the self-attention sublayer (at y = 0.9)
    and its mask entering from the right (its label ``mask_dy`` above the arrow); the sublayer's Add and Norm."""
    small = FONT["small"]
    label(ax, x, 0.22, input_text, fontsize=small)
    y0 = 0.9
    arrow(ax, (x, 0.38), (x, y0), style="-")
    att, add, norm = _sublayer_detailed(ax, x, y0, title, "attention")
    mx = x + w / 2 + 0.25
    label(ax, mx + 0.08, att.y + mask_dy, mask_text, fontsize=small, ha="left", color="#444444")
    arrow(ax, (mx + 0.05, att.y), att.right, color="#444444")
    return add, norm


def draw_encoder_block():
    """One encoder layer in close-up: multi-head self-attention and the feed-forward network, each followed by
    the residual addition ("Add") and layer normalization ("Norm"), with the identity paths and the shapes."""
    fig, ax = new_diagram(6.6, 7.6)
    x, w = 3.3, 2.4
    small = FONT["small"]
    # the optional padding mask
    add1, norm1 = _self_attention_with_mask(ax, x, w, r"input $x$: (B, n, $d_{model}$)", "Multi-head\nself-attention",
                                            "padding mask\n(B, 1, 1, n)", mask_dy=-0.02)
    _add_norm_bracket(ax, x + w / 2 + 0.12, add1, norm1)
    y1 = norm1.y + 0.55
    arrow(ax, norm1, (x, y1), style="-")
    ffn, add2, norm2 = _sublayer_detailed(ax, x, y1, "", "feedforward", sub_box=_ffn_stack(ax, x, w))
    label(ax, x + w / 2 + 0.12, ffn.y, "position-wise\nfeed-forward", fontsize=small, ha="left",
          color=role_colors("feedforward")[1])
    _add_norm_bracket(ax, x + w / 2 + 0.12, add2, norm2)
    arrow(ax, norm2, (x, norm2.y + 0.55))
    label(ax, x, norm2.y + 0.72, r"output $y$: (B, n, $d_{model}$), input of the next layer", fontsize=small)
    label(ax, 0.12, 7.4, r"$h = \mathrm{LayerNorm}(x + \mathrm{MultiHead}(x, x, x))$", fontsize=small, ha="left")
    label(ax, 0.12, 7.1, r"$y = \mathrm{LayerNorm}(h + \mathrm{FFN}(h))$", fontsize=small, ha="left")
    return fig


def draw_decoder_block():
    """One decoder layer in close-up: masked self-attention (causal mask), cross-attention whose queries come
    from the decoder and whose keys and values are the encoder's output (the memory), and the feed-forward
    network; each followed by the residual addition and layer normalization."""
    fig, ax = new_diagram(7.2, 9.6)
    x, w = 3.2, 2.4
    small = FONT["small"]
    add1, norm1 = _self_attention_with_mask(ax, x, w, r"target so far $x$: (B, m, $d_{model}$)",
                                            "Masked multi-head\nself-attention",
                                            "causal mask (m, m):\nposition i sees\npositions j ≤ i")
    _add_norm_bracket(ax, x + w / 2 + 0.12, add1, norm1, "Add & Norm 1")
    y1 = norm1.y + 0.55
    arrow(ax, norm1, (x, y1), style="-")
    cross, add2, norm2 = _sublayer_detailed(ax, x, y1, "Multi-head\ncross-attention", "attention",
                                            fan=(-0.6,), fan_texts=("Q",))
    # the memory: keys and values from the encoder, entering from the right
    kv = role_colors("value")[1]
    mem_x = x + w / 2 + 1.55
    label(ax, mem_x, y1 - 0.25, "encoder output\n(memory)\n(B, n, $d_{model}$)", fontsize=small, color=kv)
    for off, t in ((0.0, "K"), (0.6, "V")):
        end = (x + off, cross.y - cross.h / 2)
        _path(ax, [(mem_x, y1 + 0.08), (mem_x, y1 + 0.2), (x + off, y1 + 0.2), end], color=kv, lw=1.6)
        label(ax, end[0] + 0.14, (end[1] + y1 + 0.2) / 2, t, fontsize=small, color=kv)
    _add_norm_bracket(ax, x + w / 2 + 0.12, add2, norm2, "Add & Norm 2")
    y2 = norm2.y + 0.55
    arrow(ax, norm2, (x, y2), style="-")
    ffn, add3, norm3 = _sublayer_detailed(ax, x, y2, "", "feedforward", sub_box=_ffn_stack(ax, x, w))
    _add_norm_bracket(ax, x + w / 2 + 0.12, add3, norm3, "Add & Norm 3")
    arrow(ax, norm3, (x, norm3.y + 0.5))
    label(ax, x, norm3.y + 0.66, r"output: (B, m, $d_{model}$), to the next layer or the Linear + softmax",
          fontsize=small)
    return fig
