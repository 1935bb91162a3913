"""The cached results table of the DNABERT chapters: every baseline and fine-tuning run, with timings.

:func:`write_results` (the command ``python -m cs502_lib.dnabert results``, also reachable as
``python -m cs502_lib.dnabert.results``) runs them all (three tasks; the three classical
baselines; fine-tuning full and frozen, from the pretrained checkpoint and from scratch)
and writes ``cs502_lib/dnabert/results/finetune_results.json``, which the chapters read
instead of retraining. ``only="baselines"`` or ``"finetune"`` (``--only``) reruns one part and
keeps the other from the existing file; ``tasks`` (``--tasks``) restricts the tasks.
Expect 20 to 40 minutes on 2 CPU cores for everything (the per-run seconds are in the file).

:data:`PUBLISHED` holds the reference figures published on the same data sets and splits
(see ``cs502_lib/data/README.md``).
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import time
from pathlib import Path

import torch

from .finetune import DEFAULTS, finetune
from .model import DEFAULT_CHECKPOINT
from .classifier_baselines import MODELS, run_baseline
from .tasks import TASKS, ModelCollapseError

__all__ = ["RESULTS_FILE", "PUBLISHED", "load_results", "results_table", "write_results"]

RESULTS_FILE = Path(__file__).resolve().parent / "results" / "finetune_results.json"

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


def load_results(path: str | Path | None = None) -> dict:
    """The cached results (``{"baselines": [...], "finetune": [...], ...}``)."""
    path = Path(path) if path is not None else RESULTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no cached results at {path}; run `python -m cs502_lib.dnabert results`")
    return json.loads(path.read_text())


def results_table(results: dict, task: str) -> list[dict]:
    """Rows ``{"method", "accuracy", "f1", "mcc", "heldout", "seconds", "source"}`` of one task, for a table."""
    rows = []
    for r in results.get("baselines", []):
        if r["task"] == task:
            rows.append({"method": {"kmer-lr": f"{r['params'].get('k', 6)}-mer logistic regression",
                                    "onehot-lr": "one-hot logistic regression", "cnn": "one-hot CNN"}[r["model"]],
                         "accuracy": r["accuracy"], "f1": r["f1"], "mcc": r["mcc"],
                         "heldout": r.get("heldout", {}).get("accuracy"), "seconds": r["seconds"], "source": "baseline (this course)"})
    for r in results.get("finetune", []):
        if r["task"] == task:
            if "error" in r:
                rows.append({"method": f"DNABERT-mini, {r['mode']}, {r['init']}", "accuracy": None, "f1": None, "mcc": None,
                             "heldout": None, "seconds": r.get("seconds"), "source": r["error"][:60]})
                continue
            rows.append({"method": f"DNABERT-mini, {'fine-tuned' if r['mode'] == 'full' else 'frozen encoder'}, "
                                   f"{'pretrained' if r['init'] == 'pretrained' else 'from scratch'}",
                         "accuracy": r["accuracy"], "f1": r["f1"], "mcc": r["mcc"],
                         "heldout": r.get("heldout", {}).get("accuracy"), "seconds": r["seconds"], "source": "DNABERT-mini (this course)"})
    for method, acc, source in PUBLISHED[task]:
        rows.append({"method": method, "accuracy": acc, "f1": None, "mcc": None, "heldout": None, "seconds": None,
                     "source": f"published: {source}"})
    return rows


def _checkpoint_info(path: Path) -> dict:
    info: dict = {"path": str(path.relative_to(Path(__file__).resolve().parents[2])) if path.is_relative_to(Path(__file__).resolve().parents[2]) else str(path)}
    weights = path / "model.pt"
    if weights.is_file():
        info["model_pt_sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    cfg = path / "config.json"
    if cfg.is_file():
        info["config"] = json.loads(cfg.read_text())
    for name in ("log.jsonl", "pretrain_log.jsonl"):
        log = path / name
        if log.is_file():
            recs = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
            evals = [r for r in recs if "eval_acc" in r]
            if evals:
                info["pretrain_steps"] = evals[-1]["step"]
                info["pretrain_eval_acc"] = evals[-1]["eval_acc"]
    return info



def write_results(*, tasks: tuple[str, ...] | list[str] = TASKS, only: str | None = None,
                  checkpoint: str | Path = DEFAULT_CHECKPOINT, out: str | Path = RESULTS_FILE,
                  save_splice: str | Path | None = None) -> dict:
    """Run the baselines and fine-tunings of ``tasks`` and write them to ``out`` (after every run).

    Args:
        tasks: the tasks to rerun; the others' runs are kept from the existing file.
        only: ``"baselines"`` or ``"finetune"``: rerun that part only, keep the other.
        checkpoint: the pretrained checkpoint that fine-tuning starts from.
        out: the results file.
        save_splice: also save the fully fine-tuned pretrained splice model there (for the attention maps).

    Returns:
        What was written. The machine's record takes torch's current number of threads.
    """
    if only not in (None, "baselines", "finetune"):
        raise ValueError(f"only must be 'baselines' or 'finetune', got {only!r}")
    checkpoint, out_path = Path(checkpoint), Path(out)
    old = json.loads(out_path.read_text()) if out_path.is_file() else {}
    out = {
        "note": "written by `python -m cs502_lib.dnabert results`; test-split metrics (promoters: pooled cross-validation)",
        "machine": {"processor": platform.processor() or platform.machine(), "torch": torch.__version__,
                    "threads": torch.get_num_threads()},
        "checkpoint": _checkpoint_info(checkpoint),
        "baselines": [r for r in old.get("baselines", []) if r["task"] not in tasks or only == "finetune"],
        "finetune": [r for r in old.get("finetune", []) if r["task"] not in tasks or only == "baselines"],
    }
    if only == "baselines" and "checkpoint" in old:
        out["checkpoint"] = old["checkpoint"]

    def save() -> None:
        out["written"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(out, indent=1) + "\n")

    t_all = time.perf_counter()
    for task in tasks:
        if only != "finetune":
            for model in MODELS:
                res = run_baseline(task, model)
                out["baselines"].append(res)
                print(f"{task:10s} {model:24s} acc {res['accuracy']:.4f} ({res['seconds']:.0f} s)", flush=True)
                save()
        if only != "baselines":
            for mode in ("full", "frozen"):
                for scratch in (False, True):
                    save_dir = save_splice if (task == "splice" and mode == "full" and not scratch) else None
                    out["finetune"].append(_finetune_or_collapse(task, mode, scratch, checkpoint, save_dir))
                    save()
    out["total_seconds"] = round(time.perf_counter() - t_all, 1)
    save()
    print(f"wrote {out_path}")
    return out


def _finetune_or_collapse(task: str, mode: str, scratch: bool, checkpoint: Path, save_dir: Path | None) -> dict:
    """One fine-tuning run of the table with the task's :data:`~.finetune.DEFAULTS`; a collapse is recorded, not raised."""
    t0 = time.perf_counter()
    try:
        res = finetune(task, checkpoint=checkpoint, freeze_encoder=mode == "frozen",
                       from_scratch=scratch, progress=False, save=save_dir)
    except ModelCollapseError as err:
        res = {"task": task, "mode": mode, "init": "scratch" if scratch else "pretrained",
               "error": str(err), "seconds": round(time.perf_counter() - t0, 2),
               "settings": DEFAULTS[task, mode].__dict__}
    acc = f"{res['accuracy']:.4f}" if "accuracy" in res else "COLLAPSED"
    label = f"{mode}/{'scratch' if scratch else 'pretrained'}"
    print(f"{task:10s} DNABERT {label:24s} acc {acc} ({res['seconds']:.0f} s)", flush=True)
    return res


if __name__ == "__main__":  # the command's older spelling: python -m cs502_lib.dnabert.results [...]
    from .cli import main

    sys.exit(main(["results", *sys.argv[1:]]))
