"""Diagrams of recurrent networks: the RNN unrolled in time, the LSTM cell and the GRU cell (chapters 2 and 3).

Each ``draw_*`` function returns a matplotlib Figure about 7.5 inches wide (the book's content width), with every
text at 9 pt or more. The colours follow :data:`cs502_lib.diagrams._draw.PALETTE`: inputs blue, hidden states
mauve, the LSTM's cell state amber, gates orange, pointwise operations white circles.
"""

from __future__ import annotations

from ._draw import FONT, arrow, box, label, new_diagram, role_colors

__all__ = ["draw_rnn_unrolled", "draw_lstm_cell", "draw_gru_cell"]


def _op(ax, x, y, text, r=0.19):
    """A pointwise operation drawn as a small circle (x, +, tanh)."""
    return box(ax, x, y, 2 * r, 2 * r, text, role="op", rounding=r * 0.98, fontsize=FONT["box"] + 1)


def draw_rnn_unrolled(steps: int = 4):
    """The RNN folded (one cell with a loop) and unrolled over ``steps`` time steps that share their weights."""
    if steps < 2:
        raise ValueError("steps must be at least 2")
    fig, ax = new_diagram(7.5, 3.2)
    y_x, y_f, y_h = 0.5, 1.45, 2.4
    bw, bh = 0.62, 0.46
    # folded view
    fx = 0.75
    xb = box(ax, fx, y_x, bw, bh, "$x_t$", role="input")
    fb = box(ax, fx, y_f, bw, bh, "$f$", role="feedforward")
    hb = box(ax, fx, y_h, bw, bh, "$h_t$", role="hidden")
    arrow(ax, xb, fb)
    arrow(ax, fb, hb)
    loop_color = role_colors("hidden")[1]
    arrow(ax, (fx + bw / 2, y_h), (fx + bw / 2, y_f + 0.08), connectionstyle="arc3,rad=-0.9", color=loop_color)
    label(ax, fx + 0.98, y_f + 0.47, "$h_{t-1}$", color=loop_color, fontsize=FONT["small"])
    label(ax, fx, 2.97, "folded", fontsize=FONT["label"], weight="bold")
    label(ax, 2.0, y_f, "=", fontsize=20)
    # unrolled view
    h0x, x0, dx = 2.55, 3.45, 1.1
    prev = box(ax, h0x, y_f, 0.5, bh, "$h_0$", role="hidden")
    xs = [x0 + i * dx for i in range(steps)]
    for i, x in enumerate(xs, start=1):
        t = str(i) if i < steps else "T"
        xi = box(ax, x, y_x, bw, bh, f"$x_{{{t}}}$", role="input")
        fi = box(ax, x, y_f, bw, bh, "$f$", role="feedforward")
        hi = box(ax, x, y_h, bw, bh, f"$h_{{{t}}}$", role="hidden")
        arrow(ax, xi, fi)
        arrow(ax, fi, hi)
        label(ax, x + 0.36, (y_x + y_f) / 2, "$W_{xh}$", fontsize=FONT["small"], color="#444444", ha="left")
        last = i == steps
        arrow(ax, prev.right if not isinstance(prev, tuple) else prev, fi.left, color=loop_color,
              linestyle="--" if last and steps > 2 else "-")
        label(ax, (prev.right[0] + fi.left[0]) / 2, y_f + 0.2, "..." if last and steps > 2 else "$W_{hh}$",
              fontsize=FONT["small"], color=loop_color)
        prev = fi
    label(ax, (xs[0] + xs[-1]) / 2, 2.97, f"unrolled over time: the same $f$ at every step", fontsize=FONT["label"],
          weight="bold")
    label(ax, 5.2, 0.08, r"$f:\ h_t = \tanh(x_t W_{xh} + h_{t-1} W_{hh} + b_h)$", fontsize=FONT["small"])
    return fig


def _gate(ax, x, y, name, act):
    return box(ax, x, y, 0.82, 0.56, f"{name}\n{act}", role="gate", fontsize=FONT["small"])


def draw_lstm_cell():
    """The LSTM cell: gates i, f, g, o computed from [h_{t-1}, x_t], the cell-state path c_{t-1} -> c_t
    (multiply by f, add i * g), and the hidden state h_t = o * tanh(c_t)."""
    fig, ax = new_diagram(7.5, 4.5)
    cell_edge = role_colors("cell")[1]
    hid_edge = role_colors("hidden")[1]
    inp_edge = role_colors("input")[1]
    # the cell's outline
    box(ax, 3.75, 2.12, 5.5, 3.25, "", role="neutral", rounding=0.15, zorder=0)
    label(ax, 3.75, 4.25, "LSTM cell: three sigmoid gates, one candidate, and the cell-state path", weight="bold")
    y_c, y_g, y_bus = 3.3, 1.55, 0.8
    # cell-state path (top)
    fx, px = 1.9, 3.4
    fmul = _op(ax, fx, y_c, r"$\times$")
    plus = _op(ax, px, y_c, "+")
    arrow(ax, (0.15, y_c), fmul.left, color=cell_edge, lw=2.6)
    arrow(ax, fmul.right, plus.left, color=cell_edge, lw=2.6)
    arrow(ax, plus.right, (7.35, y_c), color=cell_edge, lw=2.6)
    label(ax, 0.42, y_c + 0.25, "$c_{t-1}$", color=cell_edge)
    label(ax, 7.1, y_c + 0.25, "$c_t$", color=cell_edge)
    label(ax, 5.1, y_c + 0.22, "cell state: only scaled and added", fontsize=FONT["small"], color=cell_edge)
    # gates
    gf = _gate(ax, fx, y_g, "forget", r"$f_t=\sigma$")
    gi = _gate(ax, 2.95, y_g, "input", r"$i_t=\sigma$")
    gg = _gate(ax, 3.95, y_g, "candidate", r"$g_t=\tanh$")
    go = _gate(ax, 5.0, y_g, "output", r"$o_t=\sigma$")
    arrow(ax, gf.top, fmul.bottom)
    imul = _op(ax, px, 2.45, r"$\times$")
    arrow(ax, gi.top, imul, connectionstyle="arc3,rad=0")
    arrow(ax, gg.top, imul, connectionstyle="arc3,rad=0")
    arrow(ax, imul.top, plus.bottom)
    # output path
    tx = 5.95
    th = box(ax, tx, 2.5, 0.62, 0.36, "tanh", role="op", fontsize=FONT["small"])
    omul = _op(ax, tx, y_g, r"$\times$")
    arrow(ax, (tx, y_c), th.top, color=cell_edge, lw=1.6)
    arrow(ax, th.bottom, omul.top)
    arrow(ax, go.right, omul.left)
    arrow(ax, omul.right, (7.35, y_g), color=hid_edge, lw=2.2)
    label(ax, 7.1, y_g + 0.25, "$h_t$", color=hid_edge)
    # inputs: h_{t-1} and x_t on a bus under the gates
    arrow(ax, (0.15, y_bus), (1.25, y_bus), color=hid_edge, lw=2.0, style="-")
    label(ax, 0.42, y_bus + 0.23, "$h_{t-1}$", color=hid_edge)
    arrow(ax, (1.25, 0.12), (1.25, y_bus), color=inp_edge, lw=2.0, style="-")
    label(ax, 0.95, 0.25, "$x_t$", color=inp_edge)
    arrow(ax, (1.25, y_bus), (go.x, y_bus), color="#333333", lw=1.6, style="-")
    for g in (gf, gi, gg, go):
        arrow(ax, (g.x, y_bus), g.bottom)
    label(ax, 3.45, y_bus - 0.2, r"$z_t = x_t W_x + h_{t-1} W_h + b$, split into $i, f, g, o$",
          fontsize=FONT["small"], va="top")
    label(ax, 3.75, 0.06, r"$c_t = f_t \odot c_{t-1} + i_t \odot g_t \qquad h_t = o_t \odot \tanh(c_t)$",
          fontsize=FONT["label"], va="bottom")
    return fig


def draw_gru_cell():
    """The GRU cell (PyTorch's form): reset gate r, update gate z, candidate n; h_t = (1 - z) * n + z * h_{t-1}."""
    fig, ax = new_diagram(7.5, 4.2)
    hid_edge = role_colors("hidden")[1]
    inp_edge = role_colors("input")[1]
    box(ax, 3.75, 2.0, 5.5, 3.05, "", role="neutral", rounding=0.15, zorder=0)
    label(ax, 3.75, 3.95, "GRU cell: two gates, and the hidden state is also the memory", weight="bold")
    y_h, y_g, y_bus = 3.1, 1.5, 0.8
    zmul = _op(ax, 1.8, y_h, r"$\times$")
    plus = _op(ax, 4.6, y_h, "+")
    arrow(ax, (0.15, y_h), zmul.left, color=hid_edge, lw=2.4)
    arrow(ax, zmul.right, plus.left, color=hid_edge, lw=2.4)
    arrow(ax, plus.right, (7.35, y_h), color=hid_edge, lw=2.4)
    label(ax, 0.42, y_h + 0.25, "$h_{t-1}$", color=hid_edge)
    label(ax, 7.1, y_h + 0.25, "$h_t$", color=hid_edge)
    gz = _gate(ax, 1.8, y_g, "update", r"$z_t=\sigma$")
    gr = _gate(ax, 3.3, y_g, "reset", r"$r_t=\sigma$")
    gn = _gate(ax, 4.6, y_g, "candidate", r"$n_t=\tanh$")
    arrow(ax, gz.top, zmul.bottom, text="$z_t$", text_offset=(-0.2, 0))
    one_minus = box(ax, 3.3, 2.4, 0.6, 0.36, "$1-z$", role="op", fontsize=FONT["small"])
    arrow(ax, (gz.x + 0.2, gz.top[1]), one_minus.left, connectionstyle="arc3,rad=-0.2")
    nmul = _op(ax, 4.6, 2.4, r"$\times$")
    arrow(ax, one_minus.right, nmul.left)
    arrow(ax, gn.top, nmul.bottom)
    arrow(ax, nmul.top, plus.bottom)
    arrow(ax, gr.right, gn.left)
    label(ax, 3.95, 1.07, r"$r_t \odot (h_{t-1}W_{hn})$", fontsize=FONT["small"])
    arrow(ax, (0.15, y_bus), (1.1, y_bus), color=hid_edge, lw=2.0, style="-")
    label(ax, 0.42, y_bus + 0.23, "$h_{t-1}$", color=hid_edge)
    arrow(ax, (1.1, 0.12), (1.1, y_bus), color=inp_edge, lw=2.0, style="-")
    label(ax, 0.8, 0.25, "$x_t$", color=inp_edge)
    arrow(ax, (1.1, y_bus), (gn.x, y_bus), color="#333333", lw=1.6, style="-")
    for g in (gr, gz, gn):
        arrow(ax, (g.x, y_bus), g.bottom)
    label(ax, 5.25, 2.2, "$h_t = (1-z_t)\\odot n_t$\n$\\qquad + z_t \\odot h_{t-1}$", fontsize=FONT["small"],
          ha="left")
    label(ax, 3.75, 0.06, "3 weight blocks instead of the LSTM's 4: about 3/4 of its parameters",
          fontsize=FONT["small"], va="bottom")
    return fig
