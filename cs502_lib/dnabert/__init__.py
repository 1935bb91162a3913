"""DNABERT-mini: a small BERT over overlapping k-mers, pretrained on the E. coli 536 genome.

- :mod:`.model`: :class:`DNABertConfig`, :class:`DNABertModel` (embeddings + :class:`cs502_lib.nn.Encoder`),
  :class:`DNABertForMaskedLM` (factorized per-base head), :class:`DNABertForSequenceClassification`
  ([CLS] pooling; ``from_pretrained()`` loads the committed checkpoint), the loss and the accuracy.
- :mod:`.data`: genome windows (both strands), the held-out region, deterministic batches.
- :mod:`.pretrain`: the training loop (single process or DistributedDataParallel).
- :mod:`.baselines`: most-frequent-k-mer and neighbour-count baselines on the same held-out windows.
- :mod:`.report`: the curves of a run.

Command line: ``python -m cs502_lib.dnabert {pretrain,baselines,report} --help``
(``torchrun --nproc_per_node N -m cs502_lib.dnabert pretrain ...`` for several processes).
The committed checkpoint and its record are in ``cs502_lib/dnabert/checkpoints/``.
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
