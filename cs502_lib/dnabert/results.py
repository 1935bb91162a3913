"""The chapters' results, read from the study cache: means and spreads over seeds, paired differences, figures.

Nothing here trains: :mod:`.study` runs the experiments and caches one record per run
(``python -m cs502_lib.dnabert study``); this module turns the cache into what chapters 9
and 10 and the command ``python -m cs502_lib.dnabert results`` show. Every accuracy is a
mean +- standard deviation over the seeds of the run (promoters: repeated stratified 10-fold
cross-validation, one repetition per seed), and two methods are compared *paired*, seed by
seed (same folds, same label subset), with a 95 % interval of the mean difference.

:data:`PUBLISHED` holds the reference figures published on the same data sets and splits
(see ``cs502_lib/data/README.md``).
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from .study import FRACTIONS, H200_CHECKPOINT, KS, LABEL_SEEDS, LABEL_TASKS, SEEDS, load_study
from .tasks import TASKS, evaluation_protocol

__all__ = ["SPLICE_MODEL", "PUBLISHED", "METHODS", "SHORT", "load_study", "accuracies", "summary", "seeds_table", "paired",
           "label_curves", "plot_label_efficiency", "compute_rows", "k_rows", "adapt_rows", "pm", "format_results"]

#: The fully fine-tuned splice model whose attention chapter 10 inspects (seed 0, pretrained; its
#: ``finetune.json`` holds the settings; ``python -m cs502_lib.dnabert finetune --task splice --save DIR`` remakes it).
SPLICE_MODEL = Path(__file__).resolve().parent / "results" / "splice_model"

#: Published accuracies on the same data and protocol: task -> [(method, accuracy, source)].
PUBLISHED: dict[str, list[tuple[str, float, str]]] = {
    "promoters": [
        ("KBANN (4/106 errors)", 102 / 106, "Towell, Shavlik & Noordewier 1990, leave-one-out"),
        ("backpropagation (about 8/106 errors)", 98 / 106, "Towell, Shavlik & Noordewier 1990, leave-one-out"),
        ("nearest neighbour (about 13/106 errors)", 93 / 106, "Towell, Shavlik & Noordewier 1990, leave-one-out"),
    ],
    "tfbs": [
        ("one-hot CNN (janggu's example)", 0.85, "Kopp et al. 2020, janggu README: 'around 85%'"),
    ],
    "splice": [
        ("RBF network", 0.959, "StatLog (Michie, Spiegelhalter & Taylor 1994)"),
        ("DIPOL92", 0.952, "StatLog"),
        ("backpropagation", 0.912, "StatLog"),
        ("k-nearest neighbour", 0.845, "StatLog"),
    ],
}

#: The study's method keys (the middle part of a run's key) and their names in tables and figures.
METHODS: dict[str, str] = {
    "kmer-lr": "6-mer logistic regression",
    "onehot-lr": "one-hot logistic regression",
    "cnn": "one-hot CNN",
    "dnabert-full-pretrained": "DNABERT-mini fine-tuned, pretrained",
    "dnabert-full-scratch": "DNABERT-mini fine-tuned, from scratch",
    "dnabert-frozen-pretrained": "DNABERT-mini frozen, pretrained",
    "dnabert-frozen-scratch": "DNABERT-mini frozen, random encoder",
    "dnabert-full-tapt": "DNABERT-mini fine-tuned, task-adapted",
    "dnabert-frozen-h200": "DNABERT-mini frozen, H200 checkpoint",
    "dnabert-full-h200": "DNABERT-mini fine-tuned, H200 checkpoint",
} | {f"dnabert-frozen-k{k}": f"DNABERT-mini frozen, k = {k} (short run)" for k in KS} \
  | {f"dnabert-frozen-k{k}-random": f"DNABERT-mini frozen, k = {k}, random weights" for k in KS}

#: Short names of the methods, for narrow tables and legends.
SHORT: dict[str, str] = {
    "kmer-lr": "6-mer LR", "onehot-lr": "one-hot LR", "cnn": "CNN",
    "dnabert-full-pretrained": "pretrained", "dnabert-full-scratch": "from scratch", "dnabert-full-tapt": "task-adapted",
    "dnabert-frozen-pretrained": "frozen, pretrained", "dnabert-frozen-scratch": "frozen, random",
    "dnabert-frozen-h200": "frozen, H200", "dnabert-full-h200": "fine-tuned, H200",
} | {f"dnabert-frozen-k{k}": f"frozen, k = {k}" for k in KS} | {f"dnabert-frozen-k{k}-random": f"random, k = {k}" for k in KS}

#: Two-sided 95 % quantiles of Student's t by degrees of freedom (for the paired intervals).
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def _records(study: dict, task: str, method: str, fraction: float = 1.0, seeds=SEEDS) -> list[dict]:
    runs = study["runs"]
    return [runs[k] for s in seeds if (k := f"{task}/{method}/f{fraction:g}/s{s}") in runs]


def accuracies(study: dict, task: str, method: str, fraction: float = 1.0, seeds=SEEDS, key: str = "accuracy") -> list[float]:
    """The cached accuracies of one method, in seed order (``key="heldout_accuracy"``: TF's held-out part)."""
    return [r[key] for r in _records(study, task, method, fraction, seeds) if key in r]


def summary(values: list[float]) -> dict:
    """``{"mean", "sd", "n", "values"}``; sd is the sample standard deviation (0 for one value)."""
    if not values:
        return {"mean": None, "sd": None, "n": 0, "values": []}
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "sd": sd, "n": len(values), "values": list(values)}


def seeds_table(study: dict, task: str) -> list[dict]:
    """One row per method on ``task`` with all labels: ``{"method", "key", "mean", "sd", "n", "collapsed", "heldout", "source"}``."""
    rows = []
    for key in ("kmer-lr", "onehot-lr", "cnn", "dnabert-full-pretrained", "dnabert-full-scratch",
                "dnabert-frozen-pretrained", "dnabert-frozen-scratch", "dnabert-frozen-h200", "dnabert-full-h200"):
        recs = _records(study, task, key)
        if not recs:
            continue
        row = {"method": METHODS[key], "key": key, **summary([r["accuracy"] for r in recs]),
               "collapsed": sum(r.get("collapsed", False) for r in recs), "source": "this course"}
        held = [r["heldout_accuracy"] for r in recs if "heldout_accuracy" in r]
        row["heldout"] = summary(held) if held else None
        rows.append(row)
    for method, acc, source in PUBLISHED[task]:
        rows.append({"method": method, "key": None, "mean": acc, "sd": None, "n": 1, "values": [acc], "collapsed": 0,
                     "heldout": None, "source": f"published: {source}"})
    return rows


def paired(study: dict, task: str, a: str, b: str, fraction: float = 1.0, seeds=SEEDS) -> dict:
    """Accuracy of ``a`` minus ``b``, seed by seed: ``{"diff", "sd", "n", "low", "high", "inside_noise"}``.

    ``low``/``high`` bound the 95 % interval of the mean difference (Student's t on the n paired
    differences); ``inside_noise`` is True when that interval contains 0.
    """
    xa = {r["settings"]["seed"]: r["accuracy"] for r in _records(study, task, a, fraction, seeds)}
    xb = {r["settings"]["seed"]: r["accuracy"] for r in _records(study, task, b, fraction, seeds)}
    d = [xa[s] - xb[s] for s in seeds if s in xa and s in xb]
    if len(d) < 2:
        raise ValueError(f"{task}: {a} vs {b} at {fraction:g}: {len(d)} paired seeds cached, need at least 2")
    mean, sd = statistics.fmean(d), statistics.stdev(d)
    half = _T95[len(d) - 1] * sd / math.sqrt(len(d))
    return {"diff": mean, "sd": sd, "n": len(d), "low": mean - half, "high": mean + half,
            "inside_noise": mean - half <= 0.0 <= mean + half}


LABEL_METHODS = ("dnabert-full-pretrained", "dnabert-full-tapt", "dnabert-full-scratch", "cnn", "kmer-lr")


def label_curves(study: dict, task: str) -> dict[str, list[dict]]:
    """Method -> one :func:`summary` per label fraction (with ``"fraction"``), seeds :data:`LABEL_SEEDS`."""
    return {m: [{"fraction": f, **summary(accuracies(study, task, m, f, LABEL_SEEDS))} for f in FRACTIONS]
            for m in LABEL_METHODS}


def plot_label_efficiency(study: dict):
    """Accuracy against the fraction of training labels, one panel per task, mean +- sd bands."""
    import matplotlib.pyplot as plt

    colors = {"dnabert-full-pretrained": "tab:blue", "dnabert-full-tapt": "tab:purple",
              "dnabert-full-scratch": "lightsteelblue", "cnn": "tab:orange", "kmer-lr": "tab:gray"}
    fig, axes = plt.subplots(len(LABEL_TASKS), 1, figsize=(7.5, 7.6), sharex=True)
    for ax, task in zip(axes, LABEL_TASKS):
        n_train = _n_train(study, task)
        for m, points in label_curves(study, task).items():
            pts = [p for p in points if p["n"]]
            x = [p["fraction"] * 100 for p in pts]
            mean = [p["mean"] for p in pts]
            sd = [p["sd"] for p in pts]
            label = f"DNABERT-mini, {SHORT[m]}" if m.startswith("dnabert") else METHODS[m]
            ax.plot(x, mean, "o-", color=colors[m], label=label, lw=1.6, ms=4)
            ax.fill_between(x, [a - s for a, s in zip(mean, sd)], [a + s for a, s in zip(mean, sd)], color=colors[m], alpha=0.2)
        ax.set_xscale("log")
        ax.set_xticks([f * 100 for f in FRACTIONS], [f"{f * 100:g} %" for f in FRACTIONS])
        ax.set(ylabel="test accuracy", title=f"{task}: {n_train:,} training sequences at 100 %")
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("fraction of the training labels (log scale)")
    axes[-1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def _n_train(study: dict, task: str) -> int:
    from .tasks import task_splits

    return len(task_splits(task)[0].train_seqs)


def compute_rows(study: dict) -> list[dict]:
    """The CPU checkpoint against the H200 one: pretraining compute, masked-LM accuracy, downstream means."""
    import json

    from .model import DEFAULT_CHECKPOINT

    rows = []
    for name, path, init in (("CPU, 60 min, 1 thread", DEFAULT_CHECKPOINT, "pretrained"), ("H200, 4.5 min", H200_CHECKPOINT, "h200")):
        log = [json.loads(line) for line in (path / "log.jsonl").read_text().splitlines() if line.strip()]
        evals = [r for r in log if "eval_acc" in r]
        row = {"checkpoint": name, "tokens": evals[-1]["tokens"],
               "steps": evals[-1]["step"], "minutes": log[-1]["elapsed"] / 60, "mlm_acc": evals[-1]["eval_acc"]}
        for task in TASKS:
            row[f"{task}_frozen"] = summary(accuracies(study, task, f"dnabert-frozen-{init}"))
        row["promoters_full"] = summary(accuracies(study, "promoters", f"dnabert-full-{init}"))
        rows.append(row)
    return rows


def k_rows(study: dict) -> list[dict]:
    """One row per k of the short pretrainings: held-out loss per base, promoters with the frozen encoder, pretrained and random."""
    rows = []
    for k in KS:
        pre = study["pretraining"].get(f"k{k}")
        if pre is None:
            continue
        rows.append({"k": k, "vocab": 4**k, "steps": pre["steps"], "seconds": pre["seconds"], "eval_loss": pre["eval_loss"],
                     "eval_acc": pre["eval_acc"], "promoters_frozen": summary(accuracies(study, "promoters", f"dnabert-frozen-k{k}")),
                     "promoters_random": summary(accuracies(study, "promoters", f"dnabert-frozen-k{k}-random"))})
    return rows


def adapt_rows(study: dict) -> list[dict]:
    """Task-adaptive pretraining per task: seconds and masked-LM scores on the task's test sequences before/after."""
    out = []
    for task in LABEL_TASKS:
        pre = study["pretraining"].get(f"tapt-{task}")
        if pre is not None:
            out.append({"task": task, "seconds": pre["seconds"], "steps": pre["settings"]["steps"],
                        "batch_size": pre["settings"]["batch_size"],
                        "before": pre["before"], "after": pre["after"]})
    return out


def pm(s: dict | None, digits: int = 3) -> str:
    """A :func:`summary` as ``"mean +- sd"`` (a single published figure as its value; ``"-"`` when empty)."""
    if not s or s.get("mean") is None:
        return "-"
    return f"{s['mean']:.{digits}f}" if not s.get("sd") and s["n"] == 1 else f"{s['mean']:.{digits}f} +- {s['sd']:.{digits}f}"


def format_results(study: dict | None = None) -> str:
    """The study as plain-text tables (what ``python -m cs502_lib.dnabert results`` prints)."""
    study = study if study is not None else load_study()
    lines = [f"DNABERT-mini study, written {study.get('written')}; mean +- sd over seeds (n in brackets)"]
    for task in TASKS:
        lines += ["", f"{task.upper()}: {evaluation_protocol(task)}"]
        for row in seeds_table(study, task):
            n = f"(n={row['n']})" if row["key"] else "(published)"
            held = f"  held-out {pm(row['heldout'])}" if row.get("heldout") else ""
            lines.append(f"  {row['method']:44s} {pm(row):>15s} {n}{held}")
    for task in LABEL_TASKS:
        lines += ["", f"LABEL EFFICIENCY, {task} (test accuracy by fraction of training labels, seeds {list(LABEL_SEEDS)})"]
        lines.append("  " + " " * 38 + "".join(f"{f * 100:>16g}%" for f in FRACTIONS))
        for m, pts in label_curves(study, task).items():
            lines.append(f"  {SHORT[m]:38s}" + "".join(f"{pm(p):>17s}" for p in pts))
    lines += ["", "COMPUTE (frozen encoder unless said)"]
    for r in compute_rows(study):
        lines.append(f"  {r['checkpoint']:22s} {r['tokens'] / 1e6:6.1f} M tokens, masked-LM acc {r['mlm_acc']:.4f}; "
                     + ", ".join(f"{t} {pm(r[f'{t}_frozen'])}" for t in TASKS) + f"; promoters full {pm(r['promoters_full'])}")
    lines += ["", "k (short pretraining, same steps each; promoters, frozen encoder)"]
    for r in k_rows(study):
        lines.append(f"  k={r['k']}  loss/base {r['eval_loss']:.4f}  token acc {r['eval_acc']:.4f}  {r['seconds']:.0f} s  "
                     f"promoters {pm(r['promoters_frozen'])} (random encoder {pm(r['promoters_random'])})")
    return "\n".join(lines)


if __name__ == "__main__":  # the command's older spelling: python -m cs502_lib.dnabert.results [...]
    import sys

    from .cli import main

    sys.exit(main(["results", *sys.argv[1:]]))
