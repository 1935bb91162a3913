"""Curves of a pretraining run: ``python -m cs502_lib.dnabert report RUN_DIR [--png FILE] [--baselines JSON]``.

Reads ``log.jsonl`` (written by ``pretrain``) and draws two panels against the step:
the masked-LM loss per base (train; held-out at evaluations) and the masked-token
accuracy (train; held-out), with the baselines as horizontal lines when a JSON file
written by ``mlm-baselines --json`` is given (:func:`save_curves` writes them to a PNG file).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

__all__ = ["read_log", "plot_run", "save_curves"]


def read_log(path: str | Path) -> list[dict]:
    """The records of a ``log.jsonl`` file (a run directory or the file itself)."""
    path = Path(path)
    if path.is_dir():
        path = path / "log.jsonl"
    if not path.is_file():
        raise ValueError(f"no pretraining log at {path}")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_run(log: list[dict], baselines: dict | None = None, title: str = "DNABERT-mini pretraining"):
    """A matplotlib Figure with the loss and accuracy curves of a run."""
    import matplotlib.pyplot as plt

    train = [r for r in log if r.get("loss") is not None]
    evals = [r for r in log if "eval_acc" in r]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    ax_loss.plot([r["step"] for r in train], [r["loss"] for r in train], label="train (per base)")
    ax_loss.plot([r["step"] for r in evals], [r["eval_loss"] for r in evals], "o-", label="held-out (per base)")
    ax_loss.axhline(math.log(4), color="gray", ls=":", label="chance, ln 4")
    ax_loss.set(title="masked-LM loss", xlabel="optimizer step", ylabel="cross-entropy per base (nats)")
    ax_loss.legend()
    ax_acc.plot([r["step"] for r in train], [100 * r["train_acc"] for r in train], label="train")
    ax_acc.plot([r["step"] for r in evals], [100 * r["eval_acc"] for r in evals], "o-", label="held-out")
    if baselines:
        ax_acc.axhline(100 * baselines["neighbour_count_best"], color="C3", ls="--",
                       label=f"neighbour count (c={baselines['neighbour_count_best_c']})")
        ax_acc.axhline(100 * baselines["frequency"], color="gray", ls=":", label="most frequent k-mer")
    ax_acc.set(title="masked-token accuracy (all k bases right)", xlabel="optimizer step", ylabel="accuracy (%)")
    ax_acc.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def save_curves(run_dir: str | Path, png: str | Path | None = None, baselines: str | Path | None = None) -> Path:
    """Draw the curves of ``run_dir`` to ``png`` (default ``run_dir/curves.png``) with the Agg backend.

    ``baselines``: a file whose last line is the JSON object written by ``mlm-baselines --json``.
    """
    import matplotlib

    matplotlib.use("Agg")
    log = read_log(run_dir)
    lines = json.loads(Path(baselines).read_text().strip().splitlines()[-1]) if baselines else None
    fig = plot_run(log, lines)
    png = Path(png) if png else Path(run_dir) / "curves.png"
    fig.savefig(png, dpi=110)
    return png
