"""Task-adaptive pretraining: more masked-LM training on a task's own unlabelled sequences.

DNABERT-mini is pretrained on the *E. coli* genome; two of the chapter's tasks are primate
splice sites and mammalian ChIP-seq peaks. :func:`adapt` continues the masked-LM training of a
checkpoint on the *training* sequences of one task (their labels are never read), so that the
encoder sees the k-mer statistics of the domain it is fine-tuned on, then saves the result
as a ``save_pretrained`` directory that :func:`~.finetune.finetune` accepts as ``checkpoint``.

:func:`domain_mlm` measures how well a checkpoint predicts masked tokens of a task's *test*
sequences (fixed span masks): the same held-out measure as pretraining's, on another domain.

Each batch is ``batch_size`` training sequences drawn with replacement, half of them read on
the reverse strand, span-masked as in pretraining; AdamW with the pretraining's betas, a linear
warm-up then linear decay to 0; a pure function of ``(seed, step)``, like the genome batches.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..bio.kmers import KmerTokenizer
from ..bio.masking import span_mask
from ..bio.sequences import reverse_complement
from .data import MaskedBatch, step_generator
from .model import DEFAULT_CHECKPOINT, DNABertForMaskedLM, masked_lm_loss
from .optim import finetune_lr_factor, param_groups, set_lr
from .pretrain import evaluate
from .tasks import TASKS, task_splits

__all__ = ["AdaptSettings", "SequenceCorpus", "adapt", "domain_mlm"]

ADAPT_FILE = "adapt.json"


@dataclass(frozen=True)
class AdaptSettings:
    """One task-adaptive pretraining run.

    Attributes:
        steps: optimizer steps; batch_size: sequences per step.
        lr: peak learning rate (after ``warmup_frac`` of the steps; then linear decay to 0).
        weight_decay: AdamW weight decay; mask_prob: span-masking rate (as in pretraining).
        seed: seed of the batches and masks.
    """

    steps: int = 600
    batch_size: int = 32
    lr: float = 5e-4
    warmup_frac: float = 0.1
    weight_decay: float = 0.01
    mask_prob: float = 0.15
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")


class SequenceCorpus:
    """Masked-LM batches drawn from a list of sequences (both strands), tokenized with ``k``-mers."""

    def __init__(self, seqs: list[str], k: int, mask_prob: float = 0.15) -> None:
        if not seqs:
            raise ValueError("SequenceCorpus needs at least one sequence")
        self.seqs, self.k, self.mask_prob = [s.upper() for s in seqs], k, mask_prob
        self.tok = KmerTokenizer(k)

    def batch(self, generator: torch.Generator, batch_size: int) -> MaskedBatch:
        """``batch_size`` sequences drawn with replacement, half reverse-complemented, span-masked."""
        idx = torch.randint(len(self.seqs), (batch_size,), generator=generator).tolist()
        rev = (torch.rand(batch_size, generator=generator) < 0.5).tolist()
        chosen = [reverse_complement(self.seqs[i]) if r else self.seqs[i] for i, r in zip(idx, rev)]
        return self.masked(chosen, generator)

    def masked(self, seqs: list[str], generator: torch.Generator) -> MaskedBatch:
        ids, _ = self.tok.encode_batch(seqs)
        masked, labels = span_mask(ids, self.k, self.mask_prob, generator=generator)
        return MaskedBatch(ids, masked, labels)


def domain_mlm(checkpoint: str | Path | None, task: str, max_seqs: int = 512) -> dict:
    """Masked-LM loss per base and masked-token accuracy of ``checkpoint`` on ``task``'s test sequences.

    The first ``max_seqs`` test sequences (promoters: all 106), span-masked once with a fixed seed.
    """
    model = DNABertForMaskedLM.from_pretrained(checkpoint or DEFAULT_CHECKPOINT)
    split = task_splits(task)[0]
    seqs = split.train_seqs + split.evals["test"][0] if task == "promoters" else split.evals["test"][0]
    corpus = SequenceCorpus(seqs[:max_seqs], model.config.k)
    data = corpus.masked(corpus.seqs, step_generator(0, 0, stream=2))
    with torch.no_grad():
        return evaluate(model, data)


def adapt(task: str, out: str | Path, settings: AdaptSettings | None = None,
          checkpoint: str | Path | None = None) -> dict:
    """Continue masked-LM training of ``checkpoint`` on ``task``'s unlabelled training sequences.

    Writes ``out`` (``config.json``, ``model.pt`` and ``adapt.json``, the run's record) and
    returns the record: settings, seconds, and the masked-LM scores on the task's test
    sequences before and after (:func:`domain_mlm`).
    """
    if task not in TASKS or task == "promoters":
        raise ValueError(f"task must be 'tfbs' or 'splice' (the promoters are E. coli already), got {task!r}")
    s, out = settings or AdaptSettings(), Path(out)
    source = Path(checkpoint or DEFAULT_CHECKPOINT)
    before = domain_mlm(source, task)
    t0 = time.perf_counter()
    torch.manual_seed(s.seed)
    model = DNABertForMaskedLM.from_pretrained(source)
    corpus = SequenceCorpus(task_splits(task)[0].train_seqs, model.config.k, s.mask_prob)
    opt = torch.optim.AdamW(param_groups(model.named_parameters(), s.weight_decay), lr=s.lr, betas=(0.9, 0.98), eps=1e-6)
    model.train()
    losses = []
    for step in range(s.steps):
        set_lr(opt, s.lr, finetune_lr_factor(step, s.steps, s.warmup_frac))
        batch = corpus.batch(step_generator(s.seed, step), s.batch_size)
        loss = masked_lm_loss(model(batch.masked_ids), batch.labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.detach()))
    seconds = round(time.perf_counter() - t0, 1)
    model.eval()
    model.save_pretrained(out)
    record = {"task": task, "source": str(source), "settings": asdict(s), "seconds": seconds,
              "threads": torch.get_num_threads(), "train_loss_first_last": [losses[0], sum(losses[-50:]) / len(losses[-50:])],
              "before": before, "after": domain_mlm(out, task)}
    (out / ADAPT_FILE).write_text(json.dumps(record, indent=1) + "\n")
    return record
