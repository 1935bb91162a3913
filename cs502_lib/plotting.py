"""Figures the chapters share (heatmaps, curves) and a helper that shows a function's source."""

from __future__ import annotations

import inspect
from typing import Sequence

import matplotlib.pyplot as plt
from matplotlib import colors as mcolors
import torch

__all__ = ["heatmap", "label_color", "plot_curves", "show_source", "sci"]


def relative_luminance(color) -> float:
    """Relative luminance (WCAG 2) of a matplotlib colour, from 0 (black) to 1 (white)."""
    r, g, b = mcolors.to_rgb(color)

    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)


def label_color(background) -> str:
    """The text colour with the higher contrast on ``background``: near-black on light colours, white on dark."""
    lum = relative_luminance(background)
    return "#111111" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "white"


def heatmap(
    matrix,
    *,
    xlabels: Sequence[str] | None = None,
    ylabels: Sequence[str] | None = None,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    ax=None,
    cmap: str = "viridis",
    annotate: bool = False,
    colorbar: bool = True,
    fmt: str = ".2f",
    annotate_fontsize: float = 9,
    **kwargs,
):
    """Draw a 2-D matrix (tensor or array) as a heatmap; returns the matplotlib Axes.

    With ``annotate=True`` every cell shows its value (formatted with ``fmt``) in a colour chosen against the
    cell's own colour (see :func:`label_color`), so that labels stay readable on light and dark cells alike.
    """
    m = matrix.detach().cpu().float().numpy() if isinstance(matrix, torch.Tensor) else matrix
    if getattr(m, "ndim", 2) != 2:
        raise ValueError(f"heatmap needs a 2-D matrix, got shape {getattr(m, 'shape', None)}")
    if ax is None:
        _, ax = plt.subplots(figsize=kwargs.pop("figsize", (5, 4)))
    im = ax.imshow(m, cmap=cmap, aspect="auto", **kwargs)
    if xlabels is not None:
        ax.set_xticks(range(len(xlabels)), labels=list(xlabels), rotation=90 if len(xlabels) > 8 else 0)
    if ylabels is not None:
        ax.set_yticks(range(len(ylabels)), labels=list(ylabels))
    if annotate:
        # each label's colour is chosen against its own cell: dark text on light cells, white on dark ones
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                cell_rgba = im.cmap(im.norm(m[i, j]))
                ax.text(j, i, f"{m[i, j]:{fmt}}", ha="center", va="center", color=label_color(cell_rgba),
                        fontsize=annotate_fontsize)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if colorbar:
        ax.figure.colorbar(im, ax=ax)
    return ax


def plot_curves(curves: dict[str, Sequence[float]], *, x=None, title: str = "", xlabel: str = "", ylabel: str = "", logy: bool = False, ax=None):
    """Plot several named curves on one Axes; returns the Axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for name, ys in curves.items():
        ax.plot(x if x is not None else range(len(ys)), ys, label=name)
    if logy:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


def show_source(obj) -> object:
    """Show the source of a cs502_lib function or class, highlighted in Jupyter (plain text elsewhere).

    The book uses this to show exactly the code it teaches, from the library. Lines longer than the page wraps
    them in the HTML (instead of a horizontal scroll bar); the code itself is unchanged.
    """
    src = inspect.getsource(obj)
    try:
        from IPython.display import Code
    except ImportError:  # pragma: no cover - outside Jupyter
        print(src)
        return None

    class _WrappedCode(Code):
        def _repr_html_(self):
            return super()._repr_html_().replace("<pre>", '<pre style="white-space: pre-wrap; overflow-wrap: anywhere;">', 1)

    return _WrappedCode(src, language="python")


_SUPERSCRIPT = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")


def sci(x: float, digits: int = 0) -> str:
    """A number in scientific notation for prose: ``sci(4.2e-14) == "4 × 10⁻¹⁴"``, ``sci(3.1e5, 1) == "3.1 × 10⁵"``.

    The chapters glue such strings into their text (myst-nb ``glue``), so numbers in prose come from the run.
    """
    if x == 0:
        return "0"
    mantissa, exponent = f"{x:.{digits}e}".split("e")
    exp = int(exponent)
    if exp == 0:
        return mantissa
    return f"{mantissa} \u00d7 10{str(exp).translate(_SUPERSCRIPT)}"
