"""Drawing primitives shared by every diagram of the book.

Coordinates: :func:`new_diagram` makes an Axes whose data units are **inches of the figure** (x from 0 to
``width_in``, y from 0 to ``height_in``, equal aspect, axis off), so a box of width 1.0 is one inch wide on the
figure, and a font size in points can be reasoned about directly against box sizes.

Legibility: an output image is shown at most :data:`BOOK_CONTENT_PX` pixels wide at a 1280 px window. A figure
wider than that is scaled down by the browser, and its text with it; :func:`text_px_on_page` computes the size
each text ends up with, and :func:`texts_outside_figure` finds text that would be cut off. The tests of every
diagram use both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colors as mcolors
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

from ..plotting import label_color

__all__ = [
    "PALETTE", "BOOK_CONTENT_PX", "FIG_DPI", "MIN_TEXT_PX", "FONT", "Box",
    "new_diagram", "role_colors", "box", "arrow", "label", "grid_block",
    "text_color_for", "text_px_on_page", "texts_outside_figure", "text_labels",
]

#: Width, in px, at which an output image is shown in the book at a 1280 px browser window (Jupyter Book 1.x,
#: sphinx-book-theme): the content column is about 730 px, the image box of a cell output 676 px (measured).
BOOK_CONTENT_PX = 676
#: The dpi at which the inline backend renders figures into the page (matplotlib's default figure.dpi).
FIG_DPI = 100
#: The smallest text height, in pixels on the page, that the book accepts.
MIN_TEXT_PX = 8.0

#: Default font sizes, in points, for diagram text.
FONT = {"title": 12, "box": 10, "small": 9, "label": 10, "cell": 9}

#: One colour pair (fill, edge) per role, shared by every diagram so that a reader learns them once.
#: Fills are light enough for dark text (see :func:`text_color_for`).
PALETTE: dict[str, tuple[str, str]] = {
    "input": ("#e8eef7", "#4a6fa5"),        # token embeddings, x_t
    "query": ("#fde2c8", "#d9822b"),        # Q (orange)
    "key": ("#d6ecd2", "#3f8f4f"),          # K (green)
    "value": ("#dcd6f0", "#6a55a8"),        # V (purple)
    "attention": ("#fbd3dc", "#c0395a"),    # scores, weights, softmax (rose)
    "norm": ("#fff3b0", "#b59a00"),         # layer norm, Add & Norm (yellow)
    "feedforward": ("#cfe8f3", "#2b7fa8"),  # feed-forward, linear layers (blue)
    "output": ("#e3e3e3", "#555555"),       # outputs, predictions (grey)
    "hidden": ("#f3e0f0", "#9b4f96"),       # recurrent hidden state h_t (mauve)
    "cell": ("#ffe9a8", "#c08a00"),         # LSTM cell state c_t (amber)
    "gate": ("#f7d7c4", "#b5562b"),         # sigmoid / tanh gates
    "op": ("#ffffff", "#333333"),           # pointwise operations (+, x, tanh)
    "neutral": ("#f5f5f5", "#888888"),
}


def role_colors(role: str) -> tuple[str, str]:
    """(fill, edge) colours of a role of :data:`PALETTE`; a KeyError names the known roles."""
    try:
        return PALETTE[role]
    except KeyError:
        raise KeyError(f"unknown role {role!r}; known roles: {', '.join(PALETTE)}") from None


def new_diagram(width_in: float, height_in: float, *, dpi: int = FIG_DPI):
    """A new figure of ``width_in`` x ``height_in`` inches with one Axes filling it.

    The Axes has axis off, equal aspect and data units of inches: x in [0, width_in], y in [0, height_in].
    Returns ``(fig, ax)``.
    """
    fig = plt.figure(figsize=(width_in, height_in), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width_in)
    ax.set_ylim(0, height_in)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


@dataclass(frozen=True)
class Box:
    """Geometry of a drawn box (centre x, y; width w; height h) with its anchor points."""

    x: float
    y: float
    w: float
    h: float

    @property
    def center(self) -> tuple[float, float]:
        return (self.x, self.y)

    @property
    def left(self) -> tuple[float, float]:
        return (self.x - self.w / 2, self.y)

    @property
    def right(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y)

    @property
    def top(self) -> tuple[float, float]:
        return (self.x, self.y + self.h / 2)

    @property
    def bottom(self) -> tuple[float, float]:
        return (self.x, self.y - self.h / 2)

    def anchor_towards(self, point: tuple[float, float]) -> tuple[float, float]:
        """The middle of the side of the box that faces ``point``."""
        dx, dy = point[0] - self.x, point[1] - self.y
        if abs(dx) * self.h >= abs(dy) * self.w:
            return self.right if dx > 0 else self.left
        return self.top if dy > 0 else self.bottom


def text_color_for(fill) -> str:
    """Dark text on light fills, white text on dark fills (the rule of :func:`cs502_lib.plotting.label_color`)."""
    return label_color(fill)


def box(ax, x: float, y: float, w: float, h: float, text: str = "", *, role: str = "neutral",
        fontsize: float | None = None, rounding: float = 0.08, lw: float = 1.4, fill: str | None = None,
        edge: str | None = None, weight: str = "normal", zorder: int = 2, **text_kw) -> Box:
    """A rounded box centred at (x, y), coloured by ``role``, with ``text`` centred in it. Returns its :class:`Box`."""
    face, edgec = role_colors(role)
    face = fill or face
    edgec = edge or edgec
    pad = min(rounding, w / 4, h / 4)
    patch = FancyBboxPatch((x - w / 2 + pad, y - h / 2 + pad), w - 2 * pad, h - 2 * pad,
                           boxstyle=f"round,pad={pad}", facecolor=face, edgecolor=edgec, lw=lw, zorder=zorder)
    ax.add_patch(patch)
    if text:
        ax.text(x, y, text, ha="center", va="center", fontsize=fontsize or FONT["box"],
                color=text_color_for(face), weight=weight, zorder=zorder + 1, **text_kw)
    return Box(x, y, w, h)


def _point(p, other) -> tuple[float, float]:
    if isinstance(p, Box):
        target = other.center if isinstance(other, Box) else other
        return p.anchor_towards(target)
    return (float(p[0]), float(p[1]))


def arrow(ax, start, end, *, color: str = "#333333", lw: float = 1.4, style: str = "-|>",
          mutation_scale: float = 12, connectionstyle: str = "arc3,rad=0", shrink: float = 0.0,
          text: str = "", text_offset: tuple[float, float] = (0.0, 0.0), fontsize: float | None = None,
          zorder: int = 1, **kw):
    """An arrow from ``start`` to ``end``; each is a point (x, y) or a :class:`Box` (then the side facing the
    other end is used). ``text`` is written at the arrow's middle, moved by ``text_offset``. Returns the patch."""
    p0, p1 = _point(start, end), _point(end, start)
    patch = FancyArrowPatch(p0, p1, arrowstyle=style, mutation_scale=mutation_scale, color=color, lw=lw,
                            connectionstyle=connectionstyle, shrinkA=shrink, shrinkB=shrink, zorder=zorder, **kw)
    ax.add_patch(patch)
    if text:
        mx, my = (p0[0] + p1[0]) / 2 + text_offset[0], (p0[1] + p1[1]) / 2 + text_offset[1]
        ax.text(mx, my, text, ha="center", va="center", fontsize=fontsize or FONT["small"], color=color,
                zorder=zorder + 2)
    return patch


def label(ax, x: float, y: float, text: str, *, fontsize: float | None = None, color: str = "#111111",
          ha: str = "center", va: str = "center", **kw):
    """Plain text at (x, y) in diagram units (inches); returns the Text artist."""
    return ax.text(x, y, text, fontsize=fontsize or FONT["label"], color=color, ha=ha, va=va, **kw)


def grid_block(ax, x: float, y: float, values=None, *, shape: tuple[int, int] | None = None, cell: float = 0.32,
               role: str = "neutral", fmt: str = "{:.2f}", title: str = "", shape_text: str | None = None,
               fontsize: float | None = None, cmap: str | None = None, vmin: float | None = None,
               vmax: float | None = None, row_labels: Sequence[str] | None = None,
               col_labels: Sequence[str] | None = None, lw: float = 1.0) -> Box:
    """A tensor drawn as a grid of cells with its top-left corner at (x, y).

    ``values`` (2-D array-like) are written in the cells with ``fmt``; without values give ``shape`` (rows, cols)
    and the cells stay empty. Cells are filled with the role's colour, or by ``cmap`` over [vmin, vmax] (the
    text colour then follows each cell's luminance). ``title`` is written above the grid, ``shape_text``
    (default ``"rows x cols"`` when values are given) below it. Row and column labels go left and above.
    Returns the :class:`Box` of the grid itself.
    """
    if values is not None:
        arr = np.asarray(values, dtype=float)
        if arr.ndim == 1:
            arr = arr[None, :]
        rows, cols = arr.shape
    elif shape is not None:
        arr, (rows, cols) = None, shape
    else:
        raise ValueError("grid_block needs values or shape")
    face, edgec = role_colors(role)
    fs = fontsize or FONT["cell"]
    cm = plt.get_cmap(cmap) if cmap else None
    if arr is not None and cm is not None:
        lo = float(np.min(arr)) if vmin is None else vmin
        hi = float(np.max(arr)) if vmax is None else vmax
        span = hi - lo if hi > lo else 1.0
    for i in range(rows):
        for j in range(cols):
            fill = face
            if arr is not None and cm is not None:
                fill = mcolors.to_hex(cm((arr[i, j] - lo) / span))
            ax.add_patch(Rectangle((x + j * cell, y - (i + 1) * cell), cell, cell, facecolor=fill,
                                   edgecolor=edgec, lw=lw, zorder=2))
            if arr is not None:
                ax.text(x + (j + 0.5) * cell, y - (i + 0.5) * cell, fmt.format(arr[i, j]), ha="center",
                        va="center", fontsize=fs, color=text_color_for(fill), zorder=3)
    w, h = cols * cell, rows * cell
    if row_labels is not None:
        for i, t in enumerate(row_labels):
            ax.text(x - 0.06, y - (i + 0.5) * cell, t, ha="right", va="center", fontsize=fs, color="#111111")
    if col_labels is not None:
        for j, t in enumerate(col_labels):
            ax.text(x + (j + 0.5) * cell, y + 0.06, t, ha="center", va="bottom", fontsize=fs, color="#111111")
    top_extra = 0.22 if col_labels is not None else 0.0
    if title:
        ax.text(x + w / 2, y + 0.08 + top_extra, title, ha="center", va="bottom", fontsize=FONT["label"],
                color=edgec, weight="bold")
    if shape_text is None and arr is not None:
        shape_text = f"{rows} x {cols}"
    if shape_text:
        ax.text(x + w / 2, y - h - 0.08, shape_text, ha="center", va="top", fontsize=FONT["small"], color="#333333")
    return Box(x + w / 2, y - h / 2, w, h)


# ---------------------------------------------------------------- legibility helpers (used by the tests)

def text_labels(fig) -> list[str]:
    """The strings of every visible, non-empty Text artist in the figure (titles, tick labels, annotations)."""
    out = []
    for t in fig.findobj(lambda a: isinstance(a, plt.Text)):
        if t.get_visible() and t.get_text().strip():
            out.append(t.get_text())
    return out


def text_px_on_page(fig, *, content_px: float = BOOK_CONTENT_PX, dpi: float = FIG_DPI) -> list[tuple[str, float]]:
    """(text, height in page pixels) for every visible text of ``fig`` when it is shown in the book.

    The inline backend renders the figure at ``dpi``, so a ``s`` pt font is ``s * dpi / 72`` px on the image;
    an image wider than the content column (``content_px``) is scaled down to fit it.
    """
    width_px = fig.get_figwidth() * dpi
    scale = min(1.0, content_px / width_px)
    out = []
    for t in fig.findobj(lambda a: isinstance(a, plt.Text)):
        if t.get_visible() and t.get_text().strip():
            out.append((t.get_text(), t.get_fontsize() * dpi / 72 * scale))
    return out


def texts_outside_figure(fig, *, tol_px: float = 1.0) -> list[str]:
    """The visible texts whose rendered extent leaves the figure (they would be cut off when shown)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    W, H = fig.bbox.width, fig.bbox.height
    bad = []
    for t in fig.findobj(lambda a: isinstance(a, plt.Text)):
        if not (t.get_visible() and t.get_text().strip()):
            continue
        bb = t.get_window_extent(renderer)
        if bb.x0 < -tol_px or bb.y0 < -tol_px or bb.x1 > W + tol_px or bb.y1 > H + tol_px:
            bad.append(t.get_text())
    return bad
