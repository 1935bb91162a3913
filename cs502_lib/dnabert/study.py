"""When does pretraining pay? The recipe of chapter 10's experiments, and the runner that caches them.

:func:`recipe` lists every run (a :class:`Run`: task, method, seed, label fraction, and for
DNABERT-mini the mode and the encoder it starts from) and every pretraining the runs need (a
:class:`Pretraining`); :func:`run_study` (the command ``python -m cs502_lib.dnabert study``)
executes what the cache at :data:`STUDY_FILE` lacks, on ``workers`` processes of one thread
each, and writes every finished run into it at once, so an interrupted study resumes. The
chapter and ``python -m cs502_lib.dnabert results`` only read the cache; a test checks that
every run of the recipe is in it with exactly the settings the recipe gives today.

The parts (:data:`PARTS`):

* ``seeds``: every method on every task with all its labels, over :data:`SEEDS` seeds
  (promoters: the seed also reshuffles the 10 folds, i.e. repeated stratified cross-validation);
* ``labels``: splice and TF binding with 1, 3, 10, 30 and 100 % of the training labels
  (:func:`~.tasks.label_fraction`, the same subset for every method of a seed), full fine-tuning
  from the pretrained checkpoint, from scratch and after task-adaptive pretraining
  (:mod:`.adapt`), against the CNN and the k-mer model, over :data:`LABEL_SEEDS` seeds;
* ``compute``: the committed CPU checkpoint against the H200 checkpoint (22x the tokens),
  frozen encoder on every task, and fully fine-tuned promoters;
* ``k``: one short pretraining per k = 3..6 (the same number of steps each), then the frozen
  encoder on promoters, next to a frozen *random* encoder of the same k (tokens without pretraining).

Every model trained with SGD makes at least :data:`MIN_STEPS` optimizer steps (on 1 % of the
labels an epoch is one or two steps).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from .adapt import ADAPT_FILE, AdaptSettings, adapt, domain_mlm
from .classifier_baselines import MODELS, run_baseline
from .finetune import DEFAULTS, FinetuneSettings, finetune
from .model import DEFAULT_CHECKPOINT
from .pretrain import PretrainSettings, pretrain
from .tasks import TASKS

__all__ = ["STUDY_FILE", "H200_CHECKPOINT", "PARTS", "Run", "Pretraining", "recipe", "run_settings",
           "load_study", "run_study"]

STUDY_FILE = Path(__file__).resolve().parent / "results" / "study.json"
#: The second shipped checkpoint: the same recipe pretrained for 4.5 minutes on an H200 (see its RECORD.md).
H200_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints_h200"
PARTS = ("seeds", "labels", "compute", "k")
SEEDS = (0, 1, 2, 3, 4)
LABEL_SEEDS = (0, 1, 2)
FRACTIONS = (0.01, 0.03, 0.1, 0.3, 1.0)
LABEL_TASKS = ("splice", "tfbs")
KS = (3, 4, 5, 6)
MIN_STEPS = 50
#: The short pretraining of the k comparison: the committed checkpoint's recipe, this many steps.
K_STEPS = 500
ADAPT = AdaptSettings(steps=600, batch_size=32, lr=5e-4)


@dataclass(frozen=True)
class Pretraining:
    """A pretraining that some runs start from: ``tapt-<task>`` (task-adaptive) or ``k<k>`` (short, from scratch)."""

    name: str

    def directory(self, work: Path) -> Path:
        """Where its ``save_pretrained`` model lies under the work folder."""
        return work / self.name / ("model" if self.name.startswith("k") else "")

    def settings(self, work: Path) -> dict:
        if self.name.startswith("tapt-"):
            return {"kind": "adapt", "task": self.name[5:], "source": "pretrained"} | asdict(ADAPT)
        s = _k_settings(int(self.name[1:]), work)
        return {"kind": "pretrain"} | {k: v for k, v in s.to_dict().items() if k not in ("out", "progress", "device")}


def _k_settings(k: int, work: Path) -> PretrainSettings:
    return PretrainSettings(out=work / f"k{k}", k=k, layers=4, d_model=128, heads=4, batch_size=32, seq_len=128, lr=1e-3,
                            warmup=200, conv_kernel=13, sinusoidal_init=True, decay_frac=0.2, steps=K_STEPS,
                            eval_every=K_STEPS, log_every=50, seed=0, device="cpu", progress=False)


@dataclass(frozen=True)
class Run:
    """One cached result: a classical baseline (``method`` in MODELS) or DNABERT-mini (``method="dnabert"``).

    ``init`` (DNABERT-mini): ``pretrained`` (the committed CPU checkpoint), ``scratch`` (random weights),
    ``h200`` (:data:`H200_CHECKPOINT`), ``tapt`` (after task-adaptive pretraining), ``k3``..``k6`` (the short
    pretraining per k) or ``k3-random``..``k6-random`` (random weights of that k's model: what the tokens alone give).
    """

    task: str
    method: str
    seed: int
    fraction: float = 1.0
    mode: str = ""
    init: str = ""

    @property
    def key(self) -> str:
        what = self.method if self.method != "dnabert" else f"dnabert-{self.mode}-{self.init}"
        return f"{self.task}/{what}/f{self.fraction:g}/s{self.seed}"

    @property
    def needs(self) -> Pretraining | None:
        if self.init == "tapt":
            return Pretraining(f"tapt-{self.task}")
        if self.init.startswith("k"):
            return Pretraining(self.init.removesuffix("-random"))
        return None


def recipe() -> tuple[list[Run], list[Pretraining]]:
    """Every run of the study and every pretraining they need, without duplicates."""
    runs: list[Run] = []
    dn = lambda task, seed, mode, init, f=1.0: Run(task, "dnabert", seed, f, mode, init)  # noqa: E731
    for task in TASKS:                                                     # seeds
        runs += [Run(task, m, s) for m in MODELS for s in SEEDS]
        runs += [dn(task, s, mode, init) for mode in ("full", "frozen") for init in ("pretrained", "scratch") for s in SEEDS]
    for task in LABEL_TASKS:                                               # labels
        for f in FRACTIONS:
            runs += [Run(task, m, s, f) for m in ("cnn", "kmer-lr") for s in LABEL_SEEDS]
            runs += [dn(task, s, "full", init, f) for init in ("pretrained", "scratch", "tapt") for s in LABEL_SEEDS]
    runs += [dn(task, s, "frozen", "h200") for task in TASKS for s in SEEDS]  # compute
    runs += [dn("promoters", s, "full", "h200") for s in SEEDS]
    runs += [dn("promoters", s, "frozen", f"k{k}{r}") for k in KS for r in ("", "-random") for s in SEEDS]  # k
    unique = list(dict.fromkeys(runs))
    pre = list(dict.fromkeys(r.needs for r in unique if r.needs is not None))
    return unique, pre


def _checkpoint(run: Run, work: Path) -> Path:
    if run.init in ("pretrained", "scratch"):
        return DEFAULT_CHECKPOINT
    if run.init == "h200":
        return H200_CHECKPOINT
    return run.needs.directory(work)


def _sha(path: Path) -> str:
    """The first 16 hex digits of ``path/model.pt``'s sha256 (read once per file version, not once per run)."""
    st = (path / "model.pt").stat()
    return _sha_of(str(path / "model.pt"), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=32)
def _sha_of(file: str, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(Path(file).read_bytes()).hexdigest()[:16]


def _finetune_settings(run: Run) -> FinetuneSettings:
    """The fine-tuning settings of a DNABERT-mini run: the task's DEFAULTS, at least MIN_STEPS steps."""
    return replace(DEFAULTS[run.task, run.mode], min_steps=MIN_STEPS)


def run_settings(run: Run, work: Path | None = None) -> dict:
    """Everything ``run``'s result depends on (compared with the cache's copy by the tests)."""
    work = Path(work or "runs/study")
    base = {"key": run.key, "task": run.task, "method": run.method, "seed": run.seed, "fraction": run.fraction}
    if run.method != "dnabert":
        return base | {"min_steps": MIN_STEPS if run.method == "cnn" else 0}
    s = _finetune_settings(run)
    start = {"checkpoint_sha": _sha(_checkpoint(run, work))} if run.init in ("pretrained", "h200") else {}
    if run.needs is not None:
        start = {"pretraining": run.needs.settings(work)}
    return base | {"mode": run.mode, "init": run.init, "finetune": asdict(s)} | start


def _execute(run: Run, work: Path) -> dict:
    """Run one :class:`Run` (in a worker process, one thread); its JSON record."""
    torch.set_num_threads(1)
    record = {"settings": run_settings(run, work)}
    if run.method != "dnabert":
        res = run_baseline(run.task, run.method, seed=run.seed, fraction=run.fraction, split_seed=run.seed,
                           min_steps=MIN_STEPS if run.method == "cnn" else 0, check_collapse=False)
    else:
        res = finetune(run.task, checkpoint=_checkpoint(run, work), freeze_encoder=run.mode == "frozen",
                       from_scratch=run.init == "scratch" or run.init.endswith("-random"), settings=_finetune_settings(run),
                       seed=run.seed, fraction=run.fraction, split_seed=run.seed, progress=False, check_collapse=False)
    keep = ("accuracy", "f1", "mcc", "n", "predicted_counts", "seconds")
    record |= {k: res[k] for k in keep}
    # a model that predicts one class for every test sequence is kept, with its (majority-share) accuracy, and flagged
    record["collapsed"] = sum(c > 0 for c in res["predicted_counts"]) == 1
    if "heldout" in res:
        record["heldout_accuracy"] = res["heldout"]["accuracy"]
    return record


def _execute_pretraining(p: Pretraining, work: Path) -> dict:
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    if p.name.startswith("tapt-"):
        rec = adapt(p.name[5:], p.directory(work), ADAPT)
        out = {"before": rec["before"], "after": rec["after"], "seconds": rec["seconds"]}
    else:
        last = pretrain(_k_settings(int(p.name[1:]), work))
        out = {"eval_loss": last["eval_loss"], "eval_acc": last["eval_acc"], "steps": last["step"],
               "tokens": last["tokens"], "seconds": round(time.perf_counter() - t0, 1),
               "promoters_mlm": domain_mlm(p.directory(work), "promoters")}
    return {"settings": p.settings(work), "model_sha": _sha(p.directory(work))} | out


def load_study(path: str | Path | None = None) -> dict:
    """The cached study (``{"runs": {key: record}, "pretraining": {name: record}, ...}``)."""
    path = Path(path or STUDY_FILE)
    if not path.is_file():
        raise FileNotFoundError(f"no cached study at {path}; run `python -m cs502_lib.dnabert study`")
    return json.loads(path.read_text())


def _priority(run: Run) -> tuple:
    """Cheap and widely used first; the long full fine-tunings last."""
    if run.method != "dnabert":
        return (0 if run.fraction == 1.0 else 5, run.seed)
    if run.task == "promoters":
        return (2 if run.init in ("pretrained", "scratch") else 3, run.seed, run.mode)
    if run.mode == "frozen":
        return (4, run.seed)
    if run.fraction < 1.0:
        return (6, run.fraction, run.seed)
    return (7 if run.seed in LABEL_SEEDS else 8, run.seed)


def run_study(parts: tuple[str, ...] | list[str] = PARTS, *, workers: int = 2, out: str | Path | None = None,
              work: str | Path = "runs/study", max_minutes: float | None = None) -> dict:
    """Run what the cache lacks of ``parts`` (all runs of the recipe whose key is missing or whose settings changed).

    Args:
        parts: which parts of :data:`PARTS` (a run shared by two parts runs once).
        workers: processes, one torch thread each.
        out: the cache (default :data:`STUDY_FILE`); work: folder of the study's own pretrainings.
        max_minutes: submit nothing new after this long (the cache keeps what finished).
    """
    bad = [p for p in parts if p not in PARTS]
    if bad:
        raise ValueError(f"parts must be among {PARTS}, got {bad}")
    out, work = Path(out or STUDY_FILE), Path(work)
    cache = json.loads(out.read_text()) if out.is_file() else {}
    cache.setdefault("runs", {})
    cache.setdefault("pretraining", {})
    cache["machine"] = {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                        "torch": torch.__version__, "threads_per_run": 1}
    runs, pre = _select(parts)
    todo_pre = [p for p in pre if cache["pretraining"].get(p.name, {}).get("settings") != p.settings(work)
                or not (p.directory(work) / "model.pt").is_file()]
    done_pre = {p.name for p in pre if p not in todo_pre}
    todo = [r for r in runs if not _cached(cache["runs"].get(r.key), r, work, done_pre)]
    print(f"study: {len(todo_pre)} pretrainings and {len(todo)} runs to do ({len(runs) - len(todo)} cached)", flush=True)

    def save() -> None:
        cache["written"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(cache, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, out)

    t_start, inflight = time.perf_counter(), {}
    queue = sorted(todo_pre, key=lambda p: p.name) + sorted(todo, key=_priority)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        while queue or inflight:
            late = max_minutes is not None and time.perf_counter() - t_start > 60 * max_minutes
            while not late and len(inflight) < workers:
                job = next((j for j in queue if isinstance(j, Pretraining) or j.needs is None or j.needs.name in done_pre), None)
                if job is None:
                    break
                queue.remove(job)
                fn = _execute_pretraining if isinstance(job, Pretraining) else _execute
                inflight[pool.submit(fn, job, work)] = job
            if not inflight:
                break
            finished, _ = wait(inflight, return_when=FIRST_COMPLETED)
            for fut in finished:
                job = inflight.pop(fut)
                rec = fut.result()
                if isinstance(job, Pretraining):
                    cache["pretraining"][job.name] = rec
                    done_pre.add(job.name)
                    print(f"  pretraining {job.name}: {rec['seconds']:.0f} s", flush=True)
                else:
                    cache["runs"][job.key] = rec
                    print(f"  {job.key:44s} acc {rec.get('accuracy', float('nan')):.4f} ({rec.get('seconds', 0):.0f} s)", flush=True)
                save()
    save()
    return cache


def _cached(record: dict | None, run: Run, work: Path, done_pre: set[str]) -> bool:
    """Whether ``record`` is ``run``'s result with today's settings (a run whose pretraining reruns is not)."""
    if record is None or (run.needs is not None and run.needs.name not in done_pre):
        return False
    return record.get("settings") == run_settings(run, work)


def _select(parts) -> tuple[list[Run], list[Pretraining]]:
    """The runs of the recipe that belong to ``parts``."""
    runs, pre = recipe()
    keep = [r for r in runs if set(parts_of(r)) & set(parts)]
    names = {r.needs.name for r in keep if r.needs is not None}
    return keep, [p for p in pre if p.name in names]


def parts_of(run: Run) -> list[str]:
    """The parts of the study that use ``run``."""
    out = []
    if run.fraction == 1.0 and run.init in ("", "pretrained", "scratch"):
        out.append("seeds")
    if run.task in LABEL_TASKS and run.mode in ("", "full") and run.method in ("dnabert", "cnn", "kmer-lr") \
            and run.seed in LABEL_SEEDS and run.init in ("", "pretrained", "scratch", "tapt"):
        out.append("labels")
    if run.init == "h200":
        out.append("compute")
    if run.init.startswith("k"):
        out.append("k")
    return out
