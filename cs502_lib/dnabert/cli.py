"""Command line of DNABERT-mini: ``python -m cs502_lib.dnabert COMMAND ...``, the only module that parses options.

Each subcommand turns its options into the settings of one library function and prints its result:

========================  ===========  =====================================================================
command                   older name   library function
========================  ===========  =====================================================================
``pretrain``                           :func:`.pretrain.pretrain` (:class:`.pretrain.PretrainSettings`);
                                       also ``torchrun --nproc_per_node N -m cs502_lib.dnabert pretrain ...``
``mlm-baselines``         baselines    :func:`.mlm_baselines.mlm_baselines` (held-out masked windows)
``report``                             :func:`.report.save_curves` (the curves of a pretraining run)
``finetune``                           :func:`.finetune.finetune` (:class:`.finetune.FinetuneSettings`)
``classifier-baseline``   baseline     :func:`.classifier_baselines.run_baseline` (k-mer LR, one-hot LR, CNN)
``study``                              :func:`.study.run_study` (runs what chapter 10's cache lacks)
``results``                            :func:`.results.format_results` (the cached study as tables; also
                                       ``python -m cs502_lib.dnabert.results``)
========================  ===========  =====================================================================

Here, and only here: ``--threads`` is checked and applied (before the command runs), a
:class:`ValueError` (invalid settings) becomes exit status 2 and a model collapse
(:class:`~.tasks.ModelCollapseError`) exit status 3, each with its message on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields, replace
from pathlib import Path
from typing import Callable

import torch

from .classifier_baselines import MODELS, run_baseline
from .finetune import DEFAULTS, POOLINGS, FinetuneSettings, finetune
from .mlm_baselines import mlm_baselines
from .model import DEFAULT_CHECKPOINT
from .pretrain import PretrainSettings, pretrain
from .report import save_curves
from .results import format_results
from .study import PARTS, STUDY_FILE, load_study, run_study
from .tasks import TASKS, ModelCollapseError, print_result

__all__ = ["SUBCOMMANDS", "build_parser", "main", "pretrain_settings", "finetune_settings"]

#: Pretraining's defaults, which the ``pretrain`` and ``mlm-baselines`` options show and use.
_PRETRAIN = {f.name: f.default for f in fields(PretrainSettings)}


# ---- pretrain -------------------------------------------------------------------------------------------


def _add_pretrain(p: argparse.ArgumentParser) -> None:
    a, d = p.add_argument, _PRETRAIN
    a("--out", type=Path, required=True, help="run directory (log.jsonl, checkpoint.pt, model/)")
    a("--k", type=int, default=d["k"], help="k-mer length (default %(default)s)")
    a("--layers", type=int, default=d["layers"], help="encoder layers (default %(default)s)")
    a("--d-model", type=int, default=d["d_model"], help="model width (default %(default)s)")
    a("--heads", type=int, default=d["heads"], help="attention heads (default %(default)s)")
    a("--d-ff", type=int, default=d["d_ff"], help="feed-forward width (default 4 * d-model)")
    a("--kmer-embedding", action="store_true", help="add a free per-k-mer vector to the compositional embedding")
    a("--sinusoidal-init", action="store_true", help="start the learned position table at the sinusoidal encoding")
    a("--conv-kernel", type=int, default=d["conv_kernel"],
      help="width of a residual convolution over the token embeddings (0 = none)")
    a("--dropout", type=float, default=d["dropout"],
      help="dropout (default %(default)s: one pass over the data does not overfit)")
    a("--batch-size", type=int, default=d["batch_size"],
      help="GLOBAL batch size in windows, split across processes (default %(default)s)")
    a("--seq-len", type=int, default=d["seq_len"], help="tokens per window incl. [CLS] and [SEP] (default %(default)s)")
    a("--lr", type=float, default=d["lr"], help="peak learning rate of AdamW (default %(default)s)")
    a("--warmup", type=int, default=d["warmup"], help="linear warm-up steps (default %(default)s)")
    a("--weight-decay", type=float, default=d["weight_decay"], help="AdamW weight decay (default %(default)s)")
    a("--decay-frac", type=float, default=d["decay_frac"],
      help="decay the LR linearly to 0 over this last fraction of the run (default %(default)s: constant after warm-up)")
    a("--steps", type=int, default=d["steps"], help="stop after this many optimizer steps")
    a("--max-minutes", type=float, default=d["max_minutes"], help="stop after this much wall time (cumulative over resumes)")
    a("--stop-at", type=int, default=d["stop_at"], help="stop (with a checkpoint) after this step, as if interrupted")
    a("--eval-every", type=int, default=d["eval_every"],
      help="evaluate on the held-out windows every N steps (default %(default)s)")
    a("--eval-windows", type=int, default=d["eval_windows"], help="number of held-out windows (default %(default)s)")
    a("--log-every", type=int, default=d["log_every"], help="write a log record every N steps (default %(default)s)")
    a("--checkpoint-every", type=int, default=d["checkpoint_every"], help="checkpoint every N steps (default: --eval-every)")
    a("--heldout-frac", type=float, default=d["heldout_frac"], help="last fraction of the genome kept out of training")
    a("--mask-prob", type=float, default=d["mask_prob"], help="span-masking rate (default %(default)s)")
    a("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    a("--seed", type=int, default=d["seed"], help="seed of the initialization and of the data stream")
    a("--threads", type=int, default=None, help="torch CPU threads per process")
    a("--device", choices=("auto", "cpu", "cuda"), default=d["device"], help="auto: CUDA when available")
    a("--no-progress", action="store_true", help="no tqdm bar")
    # Tests: every rank writes its final parameters to OUT/rank<r>.pt (to check that DDP keeps them equal).
    a("--save-rank-states", action="store_true", help=argparse.SUPPRESS)


def pretrain_settings(args: argparse.Namespace) -> PretrainSettings:
    """The :class:`~.pretrain.PretrainSettings` of parsed ``pretrain`` options."""
    names = [f.name for f in fields(PretrainSettings) if f.name != "progress"]
    return PretrainSettings(**{n: getattr(args, n) for n in names}, progress=not args.no_progress)


def _run_pretrain(args: argparse.Namespace) -> dict:
    return pretrain(pretrain_settings(args))


# ---- mlm-baselines and report -------------------------------------------------------------------------


def _add_mlm_baselines(p: argparse.ArgumentParser) -> None:
    a, d = p.add_argument, _PRETRAIN  # the defaults are pretraining's evaluation set
    a("--k", type=int, default=d["k"])
    a("--seq-len", type=int, default=d["seq_len"])
    a("--eval-windows", type=int, default=d["eval_windows"])
    a("--heldout-frac", type=float, default=d["heldout_frac"])
    a("--mask-prob", type=float, default=d["mask_prob"])
    a("--context", type=int, default=5, help="largest number of neighbouring bases per side (default %(default)s)")
    a("--model", type=Path, default=None, help="also evaluate a saved DNABERT (a save_pretrained directory)")
    a("--json", action="store_true", help="print one JSON object as the last line")


def _run_mlm_baselines(args: argparse.Namespace) -> dict:
    out = mlm_baselines(k=args.k, seq_len=args.seq_len, eval_windows=args.eval_windows, heldout_frac=args.heldout_frac,
                        mask_prob=args.mask_prob, context=args.context, model=args.model)
    print(f"held-out masked tokens: {out['masked_tokens']} in {args.eval_windows} windows of {args.seq_len} tokens "
          f"(k={args.k})")
    print(f"{'frequency baseline (most frequent k-mer)':<48} {out['frequency']:.4%}")
    for c, acc in out["neighbour_count"].items():
        print(f"{f'neighbour count, {c} bases each side':<48} {acc:.4%}")
    if args.model is not None:
        print(f"{'DNABERT-mini (' + str(args.model) + ')':<48} {out['model']:.4%}")
    if args.json:
        print(json.dumps(out))
    return out


def _add_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", type=Path, help="a pretraining run directory (or a directory holding log.jsonl)")
    p.add_argument("--png", type=Path, default=None, help="output file (default RUN_DIR/curves.png)")
    p.add_argument("--baselines", type=Path, default=None, help="JSON written by `mlm-baselines --json`")


def _run_report(args: argparse.Namespace) -> Path:
    png = save_curves(args.run_dir, args.png, args.baselines)
    print(f"wrote {png}")
    return png


# ---- finetune -------------------------------------------------------------------------------------------


def _add_finetune(p: argparse.ArgumentParser) -> None:
    a = p.add_argument
    a("--task", choices=TASKS, required=True)
    a("--freeze-encoder", action="store_true", help="train only the classifier on a frozen encoder")
    a("--from-scratch", action="store_true", help="random initialization instead of the pretrained checkpoint")
    a("--checkpoint", type=Path, default=None, help=f"pretrained directory (default: {DEFAULT_CHECKPOINT})")
    a("--epochs", type=int, default=None, help="passes over the training set (default: per task)")
    a("--lr", type=float, default=None, help="peak learning rate (default: per task)")
    a("--batch-size", type=int, default=None)
    a("--pooling", choices=POOLINGS, default=None,
      help="mean of the token vectors, [CLS], maximum over the tokens, or flatten (position-aware) (default: per task)")
    a("--encoder-dropout", type=float, default=None, help="dropout inside the encoder while fine-tuning (default 0.1)")
    a("--layer-decay", type=float, default=None, help="layer-wise learning-rate factor (default 0.8)")
    a("--probe-epochs", type=int, default=None,
      help="full mode: train the head alone on the frozen encoder for this many epochs first (default: per task)")
    a("--probe-lr", type=float, default=None, help="learning rate of that head-only stage")
    a("--rc-augment", action=argparse.BooleanOptionalAction, default=None, help="also train on the reverse complements")
    a("--folds", type=int, default=10, help="promoters: cross-validation folds (default 10; 106 = leave-one-out)")
    a("--seed", type=int, default=0)
    a("--threads", type=int, default=None, help="torch CPU threads")
    a("--save", type=Path, default=None, help="save the fine-tuned model to this directory (tfbs, splice)")
    a("--no-progress", action="store_true", help="no tqdm bar")
    a("--max-train", type=int, default=None, help=argparse.SUPPRESS)  # quick checks and tests
    a("--max-eval", type=int, default=None, help=argparse.SUPPRESS)
    a("--json", action="store_true", help="print one JSON object as the last line of stdout")


def finetune_settings(args: argparse.Namespace) -> FinetuneSettings:
    """The task's :data:`~.finetune.DEFAULTS`, overridden by the options given on the command line."""
    s = DEFAULTS[args.task, "frozen" if args.freeze_encoder else "full"]
    changes = {f.name: getattr(args, f.name) for f in fields(FinetuneSettings) if getattr(args, f.name, None) is not None}
    return replace(s, **changes)


def _run_finetune(args: argparse.Namespace) -> dict:
    res = finetune(args.task, checkpoint=args.checkpoint, freeze_encoder=args.freeze_encoder,
                   from_scratch=args.from_scratch, settings=finetune_settings(args), seed=args.seed, folds=args.folds,
                   max_train=args.max_train, max_eval=args.max_eval, save=args.save, progress=not args.no_progress)
    print_result(f"DNABERT-mini, {res['mode']} fine-tuning from {res['init']} weights, {args.task}: {res['protocol']}",
                 res, f"{res['seconds']:.1f} s on {res['threads']} thread(s)", as_json=args.json)
    return res


# ---- classifier-baseline and results --------------------------------------------------------------------


def _add_classifier_baseline(p: argparse.ArgumentParser) -> None:
    a = p.add_argument
    a("--task", choices=TASKS, required=True)
    a("--model", choices=MODELS, required=True,
      help="kmer-lr: bag of k-mers + logistic regression; onehot-lr: one-hot + logistic regression; cnn: one-hot CNN")
    a("--k", type=int, default=6, help="k-mer length of kmer-lr (default 6)")
    a("--l2", type=float, default=None, help="L2 strength of the logistic regressions (default 1e-2 k-mers, 1e-1 one-hot)")
    a("--epochs", type=int, default=None, help="CNN epochs (default 15; splice 30)")
    a("--pool", choices=("local", "global"), default=None,
      help="CNN pooling: local keeps position, global one maximum per filter (default: tfbs global, others local)")
    a("--width", type=int, default=None, help="CNN filter width (default: tfbs 21, others 9)")
    a("--folds", type=int, default=10, help="promoters: cross-validation folds (default 10; 106 = leave-one-out)")
    a("--seed", type=int, default=0)
    a("--threads", type=int, default=None, help="torch CPU threads")
    a("--max-train", type=int, default=None, help=argparse.SUPPRESS)  # quick checks and tests
    a("--max-eval", type=int, default=None, help=argparse.SUPPRESS)
    a("--json", action="store_true", help="print one JSON object as the last line of stdout")


def _run_classifier_baseline(args: argparse.Namespace) -> dict:
    res = run_baseline(args.task, args.model, k=args.k, l2=args.l2, epochs=args.epochs, seed=args.seed, folds=args.folds,
                       pool=args.pool, width=args.width, max_train=args.max_train, max_eval=args.max_eval)
    print_result(f"{args.model} on {args.task}: {res['protocol']}", res, f"{res['seconds']:.1f} s", as_json=args.json)
    return res


def _add_results(p: argparse.ArgumentParser) -> None:
    p.add_argument("--study", type=Path, default=STUDY_FILE, help="the study cache (default: the committed one)")


def _run_results(args: argparse.Namespace) -> str:
    text = format_results(load_study(args.study))
    print(text)
    return text


def _add_study(p: argparse.ArgumentParser) -> None:
    a = p.add_argument
    a("--parts", nargs="+", choices=PARTS, default=list(PARTS), help="parts of the study to run (default: all)")
    a("--workers", type=int, default=2, help="processes, one torch thread each (default 2)")
    a("--out", type=Path, default=STUDY_FILE, help="the cache (default: the committed one)")
    a("--work", type=Path, default=Path("runs/study"), help="folder of the study's own pretrainings")
    a("--max-minutes", type=float, default=None, help="submit no new run after this many minutes")


def _run_study(args: argparse.Namespace) -> dict:
    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    return run_study(args.parts, workers=args.workers, out=args.out, work=args.work, max_minutes=args.max_minutes)


# ---- the parser -----------------------------------------------------------------------------------------

#: name -> (older names, one-line help, function adding the options, function running with the parsed options)
SUBCOMMANDS: dict[str, tuple[tuple[str, ...], str, Callable, Callable]] = {
    "pretrain": ((), "masked-LM pretraining on the shipped genome (also under torchrun)", _add_pretrain, _run_pretrain),
    "mlm-baselines": (("baselines",), "frequency and neighbour-count baselines on the held-out masked windows",
                      _add_mlm_baselines, _run_mlm_baselines),
    "report": ((), "plot the loss and accuracy curves of a pretraining run", _add_report, _run_report),
    "finetune": ((), "fine-tune on promoters, tfbs or splice and report test accuracy, F1, MCC",
                 _add_finetune, _run_finetune),
    "classifier-baseline": (("baseline",), "classical classifiers (k-mer LR, one-hot LR, CNN) on the fine-tuning tasks",
                            _add_classifier_baseline, _run_classifier_baseline),
    "results": ((), "print the chapters' results (mean +- sd over seeds) from the study cache",
                _add_results, _run_results),
    "study": ((), "run what the cache of chapter 10's study (seeds, label fractions, compute, k) lacks",
              _add_study, _run_study),
}


def _set_threads(threads: int | None) -> None:
    """Check and apply ``--threads`` (None: torch's default)."""
    if threads is None:
        return
    if threads < 1:
        raise ValueError(f"--threads must be at least 1, got {threads}")
    torch.set_num_threads(threads)


def _command(run: Callable) -> Callable:
    """The parser's ``func``: ``--threads`` first, then the subcommand."""

    def func(args: argparse.Namespace):
        _set_threads(getattr(args, "threads", None))
        return run(args)

    return func


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand; ``args.func(args)`` runs the parsed one."""
    parser = argparse.ArgumentParser(prog="python -m cs502_lib.dnabert",
                                     description="Command line of DNABERT-mini: pretraining, baselines, fine-tuning, results.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (aliases, help_text, add_arguments, run) in SUBCOMMANDS.items():
        p = sub.add_parser(name, aliases=list(aliases), help=help_text, description=help_text)
        add_arguments(p)
        p.set_defaults(func=_command(run))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; the exit status: 0, 2 for invalid settings, 3 for a model collapse."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ModelCollapseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
