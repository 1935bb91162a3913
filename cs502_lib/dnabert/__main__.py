"""``python -m cs502_lib.dnabert COMMAND ...``: the command line of DNABERT-mini (:mod:`.cli`).

Commands (older names in brackets; ``COMMAND --help`` lists the options):

- ``pretrain``: masked-LM pretraining on the shipped genome (also under
  ``torchrun --nproc_per_node N -m cs502_lib.dnabert pretrain ...``);
- ``mlm-baselines`` (``baselines``): frequency and neighbour-count baselines on the held-out masked windows;
- ``report``: the loss and accuracy curves of a pretraining run;
- ``finetune``: fine-tune on promoters, tfbs or splice (``--json``: the last line of stdout is the result);
- ``classifier-baseline`` (``baseline``): k-mer LR, one-hot LR and CNN on the fine-tuning tasks;
- ``study``: run what the cache of chapter 10's experiments lacks (seeds, label fractions, compute, k);
- ``results``: print the cached study as tables, mean +- sd over seeds (also ``python -m cs502_lib.dnabert.results``).

Exit status: 0; 2 for invalid settings; 3 when a classifier collapses to one class.
"""

import sys

from .cli import SUBCOMMANDS, build_parser, main

__all__ = ["SUBCOMMANDS", "build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
