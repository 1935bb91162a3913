"""Command line of DNABERT-mini: ``python -m cs502_lib.dnabert {pretrain,baselines,report} ...``.

Each subcommand lives in its own module and registers itself in :data:`SUBCOMMANDS`
as ``name -> (help, add_arguments, run)``; adding one (for example ``finetune``) is one
more entry.
"""

from __future__ import annotations

import argparse
import sys

from . import baselines, finetune, pretrain, report, task_baselines

#: name -> (one-line help, function adding the options to a parser, function running with the parsed args)
SUBCOMMANDS = {
    "pretrain": ("masked-LM pretraining on the shipped genome (also under torchrun)", pretrain.add_arguments, pretrain.run),
    "baselines": ("frequency and neighbour-count baselines on the held-out masked windows", baselines.add_arguments, baselines.run),
    "report": ("plot the loss and accuracy curves of a pretraining run", report.add_arguments, report.run),
    "finetune": ("fine-tune on promoters, tfbs or splice and report test accuracy, F1, MCC", finetune.add_arguments, finetune.run),
    "baseline": ("classical classifiers (k-mer LR, one-hot LR, CNN) on the fine-tuning tasks", task_baselines.add_arguments, task_baselines.run),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cs502_lib.dnabert", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_arguments, run) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(p)
        p.set_defaults(func=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
