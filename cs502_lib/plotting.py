"""Figures the chapters share (heatmaps, curves) and a helper that shows a function's source."""

from __future__ import annotations

import inspect
from typing import Sequence

import matplotlib.pyplot as plt
import torch

__all__ = ["heatmap", "plot_curves", "show_source"]


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
    **kwargs,
):
    """Draw a 2-D matrix (tensor or array) as a heatmap; returns the matplotlib Axes."""
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
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", color="w", fontsize=8)
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

    The book uses this to show exactly the code it teaches, from the library.
    """
    src = inspect.getsource(obj)
    try:
        from IPython.display import Code

        return Code(src, language="python")
    except ImportError:  # pragma: no cover - outside Jupyter
        print(src)
        return None
