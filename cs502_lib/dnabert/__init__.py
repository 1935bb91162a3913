"""DNABERT-mini: a small BERT over overlapping k-mers, pretrained on the E. coli 536 genome.

- :mod:`.model`: :class:`DNABertConfig`, :class:`DNABertModel` (embeddings + :class:`cs502_lib.nn.Encoder`),
  :class:`DNABertForMaskedLM` (factorized per-base head), :class:`DNABertForSequenceClassification`
  ([CLS] pooling; ``from_pretrained()`` loads the committed checkpoint), the loss and the accuracy.
- :mod:`.data`: genome windows (both strands), the held-out region, deterministic batches.
- :mod:`.optim`: the learning-rate schedules and the weight-decay parameter groups (pretraining and fine-tuning).
- :mod:`.pretrain`: :class:`~.pretrain.PretrainSettings` and the training loop (single process or
  DistributedDataParallel).
- :mod:`.mlm_baselines`: most-frequent-k-mer and neighbour-count baselines on the same held-out windows.
- :mod:`.report`: the curves of a pretraining run.
- :mod:`.tasks`: the three classification tasks (promoters, TF binding, splice sites), their fixed splits,
  metrics and the model-collapse check.
- :mod:`.finetune`: :class:`~.finetune.FinetuneSettings`, the classifier with its four heads
  (mean, [CLS], max, flatten), training and evaluation.
- :mod:`.classifier_baselines`: k-mer and one-hot logistic regression and a one-hot CNN on the same tasks.
- :mod:`.adapt`: task-adaptive pretraining (more masked-LM training on a task's unlabelled sequences)
  and the masked-LM score of a checkpoint on a task's sequences.
- :mod:`.study`: the recipe of chapter 10's experiments (seeds, label fractions, compute, k) and the
  runner that caches them (``results/study.json``).
- :mod:`.results`: the cached study as the chapters' tables and figures (mean +- sd over seeds, paired
  differences) and the published reference figures.
- :mod:`.cli`: the command line.

Command line: ``python -m cs502_lib.dnabert {pretrain,mlm-baselines,report,finetune,classifier-baseline,study,results} --help``
(``torchrun --nproc_per_node N -m cs502_lib.dnabert pretrain ...`` for several processes).
The committed checkpoint and its record are in ``cs502_lib/dnabert/checkpoints/``; a second one, the same
recipe pretrained for 4.5 minutes on an H200 GPU, in ``cs502_lib/dnabert/checkpoints_h200/``.
"""

from .model import (
    DEFAULT_CHECKPOINT,
    DNABertConfig,
    DNABertForMaskedLM,
    DNABertForSequenceClassification,
    DNABertModel,
    masked_lm_loss,
    masked_token_accuracy,
    predicted_kmer_ids,
)

__all__ = [
    "DNABertConfig", "DNABertModel", "DNABertForMaskedLM", "DNABertForSequenceClassification",
    "masked_lm_loss", "masked_token_accuracy", "predicted_kmer_ids", "DEFAULT_CHECKPOINT",
]
