"""Masked-LM pretraining of DNABERT-mini on the shipped E. coli genome (single process or DDP).

:func:`pretrain` runs as its :class:`PretrainSettings` say; the command line
(``python -m cs502_lib.dnabert pretrain --out runs/dnabert ...`` or, on several processes,
``torchrun --nproc_per_node N -m cs502_lib.dnabert pretrain ...``) builds them from its options
(DistributedDataParallel; gloo on the CPU, nccl on GPUs).

* Data: random windows of the training region, both strands, span-masked
  (:mod:`cs502_lib.dnabert.data`). The global batch of a step depends only on
  ``(seed, step)``; rank r trains on its slice of rows, and each rank's loss is its sum
  over masked bases divided by the *global* number of masked bases (times the world
  size, which DDP's gradient averaging divides out), so N processes compute exactly
  the gradient of one process on the whole batch.
* Schedule (:func:`.optim.pretrain_lr_factor`): linear warm-up, then a constant learning
  rate; optionally a linear decay to 0 over the last ``decay_frac`` of the run, where the
  run's progress is the larger of ``step / steps`` and ``elapsed / max_minutes``.
* Evaluation: masked-token accuracy (all k bases right) on a fixed set of held-out
  windows from the last ``heldout_frac`` of the genome.
* Run directory ``out``: ``log.jsonl`` (one JSON object per record: step, loss,
  train_acc, eval_loss, eval_acc, lr, elapsed, ...), ``checkpoint.pt`` (model, optimizer,
  step, RNG, elapsed, log) and ``model/`` (``save_pretrained`` format, loadable with
  ``DNABertForMaskedLM.from_pretrained``). ``resume`` continues from ``checkpoint.pt``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm.auto import tqdm

from .data import GenomeCorpus, MaskedBatch, shard_rows
from .model import DNABertConfig, DNABertForMaskedLM, masked_lm_loss, masked_token_accuracy
from .optim import param_groups, pretrain_lr_factor, set_lr

__all__ = ["PretrainSettings", "model_config", "pretrain", "evaluate"]

#: Settings that define the model and the data stream; a resumed run takes them from the checkpoint.
_FROZEN_ON_RESUME = (
    "k", "layers", "d_model", "heads", "d_ff", "kmer_embedding", "sinusoidal_init", "conv_kernel", "dropout", "batch_size", "seq_len",
    "seed", "heldout_frac", "mask_prob", "eval_windows", "lr", "warmup", "weight_decay",
)


@dataclass(frozen=True)
class PretrainSettings:
    """Everything one pretraining run depends on (the command line's options, one field each).

    Attributes:
        out: run directory (``log.jsonl``, ``checkpoint.pt``, ``model/``).
        k, layers, d_model, heads, d_ff, kmer_embedding, sinusoidal_init, conv_kernel, dropout:
            the model (see :class:`~.model.DNABertConfig`; ``d_ff`` None = 4 * d_model).
        batch_size: GLOBAL batch size in windows, split across processes.
        seq_len: tokens per window incl. [CLS] and [SEP].
        lr, warmup, weight_decay: peak learning rate of AdamW, linear warm-up steps, weight decay.
        decay_frac: decay the learning rate linearly to 0 over this last fraction of the run.
        steps: stop after this many optimizer steps; max_minutes: after this much wall time
            (cumulative over resumes); stop_at: stop (with a checkpoint) after this step, as if interrupted.
        eval_every, eval_windows: evaluate on this many held-out windows every N steps.
        log_every: write a log record every N steps; checkpoint_every: checkpoint every N steps
            (None: eval_every).
        heldout_frac: last fraction of the genome kept out of training; mask_prob: span-masking rate.
        resume: continue from ``out/checkpoint.pt`` (the model and data settings come from it).
        seed: seed of the initialization and of the data stream.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
        progress: show a tqdm bar.
        save_rank_states: every rank writes its final parameters to ``out/rank<r>.pt`` (tests).
    """

    out: Path
    k: int = 6
    layers: int = 4
    d_model: int = 128
    heads: int = 4
    d_ff: int | None = None
    kmer_embedding: bool = False
    sinusoidal_init: bool = False
    conv_kernel: int = 0
    dropout: float = 0.0
    batch_size: int = 32
    seq_len: int = 128
    lr: float = 1e-3
    warmup: int = 200
    weight_decay: float = 0.01
    decay_frac: float = 0.0
    steps: int = 1_000_000
    max_minutes: float | None = None
    stop_at: int | None = None
    eval_every: int = 500
    eval_windows: int = 512
    log_every: int = 50
    checkpoint_every: int | None = None
    heldout_frac: float = 0.05
    mask_prob: float = 0.15
    resume: bool = False
    seed: int = 0
    device: str = "auto"
    progress: bool = True
    save_rank_states: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
        for name in ("steps", "eval_every", "log_every", "eval_windows", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {self.warmup}")
        if not 0.0 <= self.decay_frac < 1.0:
            raise ValueError(f"decay_frac must be in [0, 1), got {self.decay_frac}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ValueError(f"max_minutes must be positive, got {self.max_minutes}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {self.device!r}")

    def to_dict(self) -> dict:
        """JSON-ready (the ``"args"`` of ``checkpoint.pt``)."""
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


def model_config(s: PretrainSettings) -> DNABertConfig:
    """The model that the settings describe."""
    return DNABertConfig(
        k=s.k, d_model=s.d_model, num_layers=s.layers, num_heads=s.heads, d_ff=s.d_ff,
        max_len=max(512, s.seq_len), dropout=s.dropout, kmer_embedding=s.kmer_embedding,
        sinusoidal_init=s.sinusoidal_init, conv_kernel=s.conv_kernel,
    )


@torch.no_grad()
def evaluate(model: torch.nn.Module, data: MaskedBatch, batch_size: int = 64) -> dict[str, float]:
    """Masked-LM loss (per base) and masked-token accuracy of ``model`` on a fixed masked set."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    loss_sum, bases, correct, total = 0.0, 0, 0, 0
    for i in range(0, data.ids.shape[0], batch_size):
        chunk = data.rows(i, i + batch_size).to(device)
        logits = model(chunk.masked_ids)
        loss_sum += float(masked_lm_loss(logits, chunk.labels, reduction="sum"))
        c, t = masked_token_accuracy(logits, chunk.labels)
        correct, total, bases = correct + c, total + t, bases + t * logits.shape[-2]
    model.train(was_training)
    return {"eval_loss": loss_sum / max(bases, 1), "eval_acc": correct / max(total, 1), "eval_tokens": total}


class _Dist:
    """Process-group facts (a single process looks like a group of one)."""

    def __init__(self, device_choice: str) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = device_choice == "cuda" or (device_choice == "auto" and torch.cuda.is_available())
        if device_choice == "cuda" and not torch.cuda.is_available():
            raise ValueError("--device cuda was asked for, but CUDA is not available")
        self.device = torch.device(f"cuda:{local}" if use_cuda else "cpu")
        if use_cuda:
            torch.cuda.set_device(self.device)
        self.active = self.world > 1
        if self.active and not dist.is_initialized():
            dist.init_process_group("nccl" if use_cuda else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def all_sum(self, values: list[float]) -> list[float]:
        if not self.active:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def from_main(self, value: float) -> float:
        if not self.active:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.broadcast(t, 0)
        return float(t.item())

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def close(self) -> None:
        if self.active and dist.is_initialized():
            dist.destroy_process_group()


def _save_checkpoint(out: Path, model: DNABertForMaskedLM, opt, step: int, elapsed: float,
                     s: PretrainSettings, log: list[dict]) -> None:
    state = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "step": step,
        "elapsed": elapsed,
        "torch_rng": torch.get_rng_state(),
        "args": s.to_dict(),
        "config": model.config.to_dict(),
        "log": log,
    }
    tmp = out / "checkpoint.pt.tmp"
    torch.save(state, tmp)
    os.replace(tmp, out / "checkpoint.pt")
    model.save_pretrained(out / "model")


def pretrain(settings: PretrainSettings, genome: str | None = None) -> dict:
    """Pretrain as ``settings`` say; returns the last log record (on every rank).

    ``genome`` replaces the shipped E. coli genome (tests use a short random one).
    """
    s, ckpt = settings, None
    if s.resume:
        path = s.out / "checkpoint.pt"
        if not path.is_file():
            raise ValueError(f"resume: no checkpoint at {path}")
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        s = replace(s, **{name: ckpt["args"][name] for name in _FROZEN_ON_RESUME})
    ds = _Dist(s.device)
    try:
        return _Run(s, ds, ckpt, genome).train()
    finally:
        ds.close()


class _Run:
    """One pretraining run on one rank: the model, the optimizer, the data, the log and the loop."""

    def __init__(self, s: PretrainSettings, ds: _Dist, ckpt: dict | None, genome: str | None) -> None:
        self.s, self.ds, self.out = s, ds, s.out
        self.rows = shard_rows(s.batch_size, ds.rank, ds.world)
        if genome is None:
            from ..data import load_genome

            genome = load_genome()
        self.corpus = GenomeCorpus(genome, s.k, heldout_frac=s.heldout_frac, mask_prob=s.mask_prob)
        self.heldout = self.corpus.heldout_set(s.eval_windows, s.seq_len) if ds.main else None

        torch.manual_seed(s.seed)
        self.model = DNABertForMaskedLM(model_config(s)).to(ds.device)
        self.opt = torch.optim.AdamW(param_groups(self.model.named_parameters(), s.weight_decay),
                                     lr=s.lr, betas=(0.9, 0.98), eps=1e-6)
        self.step, self.elapsed0, self.log = 0, 0.0, []
        if ckpt is not None:
            self.model.load_state_dict(ckpt["model"])
            self.opt.load_state_dict(ckpt["optimizer"])
            self.step, self.elapsed0, self.log = ckpt["step"], ckpt["elapsed"], ckpt["log"]
            torch.set_rng_state(ckpt["torch_rng"])
        self.train_model = DDP(self.model) if ds.active else self.model
        if ds.main:
            self._start_log()
        self.t0 = time.perf_counter()

    def _start_log(self) -> None:
        s, model = self.s, self.model
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.out / "log.jsonl", "w") as f:  # rewritten from the checkpoint's copy on resume
            for rec in self.log:
                f.write(json.dumps(rec) + "\n")
        n_params = sum(p.numel() for p in model.parameters())
        print(f"DNABERT-mini: {n_params:,} parameters, config {model.config.to_dict()}", file=sys.stderr)
        print(f"processes {self.ds.world}, device {self.ds.device}, threads {torch.get_num_threads()}, "
              f"global batch {s.batch_size} x {s.seq_len} tokens, start step {self.step}", file=sys.stderr)

    def _elapsed(self) -> float:
        return self.elapsed0 + time.perf_counter() - self.t0

    def _append(self, record: dict) -> None:
        self.log.append(record)
        with open(self.out / "log.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    def _step(self, lr_factor: float) -> tuple[float, int, int]:
        """One optimizer step; (loss sum over this rank's masked bases, correct tokens, masked tokens)."""
        s, ds = self.s, self.ds
        set_lr(self.opt, s.lr, lr_factor)
        batch = self.corpus.train_batch(s.seed, self.step, s.batch_size, s.seq_len)
        global_bases = int((batch.labels != -100).sum()) * s.k
        local = batch.rows(*self.rows).to(ds.device)
        logits = self.train_model(local.masked_ids)
        loss_sum = masked_lm_loss(logits, local.labels, reduction="sum")
        # DDP averages gradients over ranks; scaling by world / global count makes that the global mean.
        loss = loss_sum * (ds.world / max(global_bases, 1))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self.step += 1
        c, t = masked_token_accuracy(logits.detach(), local.labels)
        return float(loss_sum.detach()), c, t

    def train(self) -> dict:
        s, ds = self.s, self.ds
        ckpt_every = s.checkpoint_every or s.eval_every
        max_s = s.max_minutes * 60 if s.max_minutes else None
        last_step = min(s.steps, s.stop_at) if s.stop_at is not None else s.steps
        acc = [0.0, 0.0, 0.0, 0.0]  # loss sum, bases, correct tokens, masked tokens (since the last record)
        bar = tqdm(total=last_step, initial=self.step, disable=not ds.main or not s.progress,
                   desc="pretrain", mininterval=2.0, dynamic_ncols=True)
        record: dict = self.log[-1] if self.log else {}
        self.train_model.train()
        while self.step < last_step:
            elapsed = ds.from_main(self._elapsed())
            if max_s is not None and elapsed >= max_s:
                break
            factor = pretrain_lr_factor(self.step + 1, s.warmup, max(self.step / s.steps, elapsed / max_s if max_s else 0.0),
                                        s.decay_frac)
            loss_sum, c, t = self._step(factor)
            acc = [acc[0] + loss_sum, acc[1] + t * s.k, acc[2] + c, acc[3] + t]
            bar.update(1)
            do_eval = self.step % s.eval_every == 0 or self.step == last_step
            if self.step % s.log_every == 0 or do_eval:
                record = self._record(ds.all_sum(acc), s.lr * factor, do_eval, bar)
                acc = [0.0, 0.0, 0.0, 0.0]
            if self.step % ckpt_every == 0 and self.step != last_step:
                if ds.main:
                    _save_checkpoint(self.out, self.model, self.opt, self.step, self._elapsed(), s, self.log)
                ds.barrier()
        bar.close()
        return self._finish(ds.all_sum(acc), record)  # all_sum: collective, every rank joins

    def _record(self, tot: list[float], lr: float, do_eval: bool, bar) -> dict:
        record = {
            "step": self.step,
            "loss": tot[0] / max(tot[1], 1),
            "train_acc": tot[2] / max(tot[3], 1),
            "lr": lr,
            "tokens": self.step * self.s.batch_size * self.s.seq_len,
            "elapsed": round(self._elapsed(), 2),
        }
        if do_eval and self.ds.main:
            record.update(evaluate(self.model, self.heldout))
        if self.ds.main:
            self._append(record)
            bar.set_postfix(loss=f"{record['loss']:.3f}", acc=f"{record['train_acc']:.3f}",
                            eval=f"{record.get('eval_acc', float('nan')):.3f}", refresh=False)
        return record

    def _finish(self, tot: list[float], record: dict) -> dict:
        """Evaluate and log the final state if the last record is not of it, checkpoint, return the last record."""
        s, ds, log, step = self.s, self.ds, self.log, self.step
        if ds.main and (not log or log[-1]["step"] != step or "eval_acc" not in log[-1]):
            # Stopped by the clock between records: evaluate and log the final state.
            record = {"step": step, "loss": tot[0] / tot[1] if tot[1] else None,
                      "train_acc": tot[2] / tot[3] if tot[3] else None,
                      "tokens": step * s.batch_size * s.seq_len,
                      "elapsed": round(self._elapsed(), 2)}
            record.update(evaluate(self.model, self.heldout))
            self._append(record)
        if ds.main:
            _save_checkpoint(self.out, self.model, self.opt, step, self._elapsed(), s, log)
            print(json.dumps(log[-1]), file=sys.stderr)
        ds.barrier()
        if s.save_rank_states:
            torch.save(self.model.state_dict(), self.out / f"rank{ds.rank}.pt")
        return log[-1] if ds.main else record
