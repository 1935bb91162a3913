"""Masked-LM pretraining of DNABERT-mini on the shipped E. coli genome (single process or DDP).

Run it as ``python -m cs502_lib.dnabert pretrain --out runs/dnabert ...`` or, on several
processes, ``torchrun --nproc_per_node N -m cs502_lib.dnabert pretrain ...``
(DistributedDataParallel; gloo on the CPU, nccl on GPUs).

* Data: random windows of the training region, both strands, span-masked
  (:mod:`cs502_lib.dnabert.data`). The global batch of a step depends only on
  ``(seed, step)``; rank r trains on its slice of rows, and each rank's loss is its sum
  over masked bases divided by the *global* number of masked bases (times the world
  size, which DDP's gradient averaging divides out), so N processes compute exactly
  the gradient of one process on the whole batch.
* Schedule: linear warm-up, then a constant learning rate; optionally a linear decay
  to 0 over the last ``--decay-frac`` of the run, where the run's progress is the larger
  of ``step / --steps`` and ``elapsed / --max-minutes``.
* Evaluation: masked-token accuracy (all k bases right) on a fixed set of held-out
  windows from the last ``--heldout-frac`` of the genome.
* Run directory ``--out``: ``log.jsonl`` (one JSON object per record: step, loss,
  train_acc, eval_loss, eval_acc, lr, elapsed, ...), ``checkpoint.pt`` (model, optimizer,
  step, RNG, elapsed, log) and ``model/`` (``save_pretrained`` format, loadable with
  ``DNABertForMaskedLM.from_pretrained``). ``--resume`` continues from ``checkpoint.pt``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm.auto import tqdm

from .data import GenomeCorpus, MaskedBatch, shard_rows
from .model import DNABertConfig, DNABertForMaskedLM, masked_lm_loss, masked_token_accuracy

__all__ = ["add_arguments", "run", "evaluate", "lr_factor"]

#: Arguments that define the model and the data stream; a resumed run takes them from the checkpoint.
_FROZEN_ON_RESUME = (
    "k", "layers", "d_model", "heads", "d_ff", "kmer_embedding", "sinusoidal_init", "conv_kernel", "dropout", "batch_size", "seq_len",
    "seed", "heldout_frac", "mask_prob", "eval_windows", "lr", "warmup", "weight_decay",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``pretrain`` subcommand's options."""
    a = p.add_argument
    a("--out", type=Path, required=True, help="run directory (log.jsonl, checkpoint.pt, model/)")
    a("--k", type=int, default=6, help="k-mer length (default 6)")
    a("--layers", type=int, default=4, help="encoder layers (default 4)")
    a("--d-model", type=int, default=128, help="model width (default 128)")
    a("--heads", type=int, default=4, help="attention heads (default 4)")
    a("--d-ff", type=int, default=None, help="feed-forward width (default 4 * d-model)")
    a("--kmer-embedding", action="store_true", help="add a free per-k-mer vector to the compositional embedding")
    a("--sinusoidal-init", action="store_true", help="start the learned position table at the sinusoidal encoding")
    a("--conv-kernel", type=int, default=0, help="width of a residual convolution over the token embeddings (0 = none)")
    a("--dropout", type=float, default=0.0, help="dropout (default 0: one pass over the data does not overfit)")
    a("--batch-size", type=int, default=32, help="GLOBAL batch size in windows, split across processes (default 32)")
    a("--seq-len", type=int, default=128, help="tokens per window incl. [CLS] and [SEP] (default 128)")
    a("--lr", type=float, default=1e-3, help="peak learning rate of AdamW (default 1e-3)")
    a("--warmup", type=int, default=200, help="linear warm-up steps (default 200)")
    a("--weight-decay", type=float, default=0.01, help="AdamW weight decay (default 0.01)")
    a("--decay-frac", type=float, default=0.0,
      help="decay the LR linearly to 0 over this last fraction of the run (default 0: constant after warm-up)")
    a("--steps", type=int, default=1_000_000, help="stop after this many optimizer steps")
    a("--max-minutes", type=float, default=None, help="stop after this much wall time (cumulative over resumes)")
    a("--stop-at", type=int, default=None, help="stop (with a checkpoint) after this step, as if interrupted")
    a("--eval-every", type=int, default=500, help="evaluate on the held-out windows every N steps (default 500)")
    a("--eval-windows", type=int, default=512, help="number of held-out windows (default 512)")
    a("--log-every", type=int, default=50, help="write a log record every N steps (default 50)")
    a("--checkpoint-every", type=int, default=None, help="checkpoint every N steps (default: --eval-every)")
    a("--heldout-frac", type=float, default=0.05, help="last fraction of the genome kept out of training")
    a("--mask-prob", type=float, default=0.15, help="span-masking rate (default 0.15)")
    a("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    a("--seed", type=int, default=0, help="seed of the initialization and of the data stream")
    a("--threads", type=int, default=None, help="torch CPU threads per process")
    a("--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto: CUDA when available")
    a("--no-progress", action="store_true", help="no tqdm bar")
    # Tests: every rank writes its final parameters to OUT/rank<r>.pt (to check that DDP keeps them equal).
    a("--save-rank-states", action="store_true", help=argparse.SUPPRESS)


def model_config(args: argparse.Namespace) -> DNABertConfig:
    return DNABertConfig(
        k=args.k, d_model=args.d_model, num_layers=args.layers, num_heads=args.heads, d_ff=args.d_ff,
        max_len=max(512, args.seq_len), dropout=args.dropout, kmer_embedding=args.kmer_embedding,
        sinusoidal_init=args.sinusoidal_init, conv_kernel=args.conv_kernel,
    )


def lr_factor(step: int, warmup: int, progress: float, decay_frac: float) -> float:
    """Multiplier of the peak LR at optimizer step ``step`` (1-based) and run progress in [0, 1]."""
    f = min(1.0, step / warmup) if warmup > 0 else 1.0
    if decay_frac > 0 and progress > 1.0 - decay_frac:
        f *= max(0.0, (1.0 - progress) / decay_frac)
    return f


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
                     args: argparse.Namespace, log: list[dict]) -> None:
    state = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "step": step,
        "elapsed": elapsed,
        "torch_rng": torch.get_rng_state(),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "func"},
        "config": model.config.to_dict(),
        "log": log,
    }
    tmp = out / "checkpoint.pt.tmp"
    torch.save(state, tmp)
    os.replace(tmp, out / "checkpoint.pt")
    model.save_pretrained(out / "model")


def _check_args(args: argparse.Namespace) -> None:
    for name in ("steps", "eval_every", "log_every", "eval_windows", "batch_size"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.lr <= 0:
        raise ValueError(f"--lr must be positive, got {args.lr}")
    if args.warmup < 0:
        raise ValueError(f"--warmup must be >= 0, got {args.warmup}")
    if not 0.0 <= args.decay_frac < 1.0:
        raise ValueError(f"--decay-frac must be in [0, 1), got {args.decay_frac}")
    if args.max_minutes is not None and args.max_minutes <= 0:
        raise ValueError(f"--max-minutes must be positive, got {args.max_minutes}")
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be at least 1, got {args.threads}")


def run(args: argparse.Namespace, genome: str | None = None) -> dict:
    """Pretrain as the options say; returns the last log record (on every rank).

    ``genome`` replaces the shipped E. coli genome (tests use a short random one).
    """
    _check_args(args)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    out: Path = Path(args.out)
    ckpt = None
    if args.resume:
        path = out / "checkpoint.pt"
        if not path.is_file():
            raise ValueError(f"--resume: no checkpoint at {path}")
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        for name in _FROZEN_ON_RESUME:
            setattr(args, name, ckpt["args"][name])
    ds = _Dist(args.device)
    try:
        return _train(args, ds, out, ckpt, genome)
    finally:
        ds.close()


def _train(args, ds: _Dist, out: Path, ckpt: dict | None, genome: str | None) -> dict:
    start_rows, stop_rows = shard_rows(args.batch_size, ds.rank, ds.world)
    if genome is None:
        from ..data import load_genome

        genome = load_genome()
    corpus = GenomeCorpus(genome, args.k, heldout_frac=args.heldout_frac, mask_prob=args.mask_prob)
    heldout = corpus.heldout_set(args.eval_windows, args.seq_len) if ds.main else None

    torch.manual_seed(args.seed)
    model = DNABertForMaskedLM(model_config(args)).to(ds.device)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.dim() < 2 or "norm" in name else decay).append(p)
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.98), eps=1e-6,
    )
    step, elapsed0, log = 0, 0.0, []
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        step, elapsed0, log = ckpt["step"], ckpt["elapsed"], ckpt["log"]
        torch.set_rng_state(ckpt["torch_rng"])
    train_model = DDP(model) if ds.active else model
    if ds.main:
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "log.jsonl", "w") as f:  # rewritten from the checkpoint's copy on resume
            for rec in log:
                f.write(json.dumps(rec) + "\n")
        n_params = sum(p.numel() for p in model.parameters())
        print(f"DNABERT-mini: {n_params:,} parameters, config {model.config.to_dict()}", file=sys.stderr)
        print(f"processes {ds.world}, device {ds.device}, threads {torch.get_num_threads()}, "
              f"global batch {args.batch_size} x {args.seq_len} tokens, start step {step}", file=sys.stderr)
    ckpt_every = args.checkpoint_every or args.eval_every
    max_s = args.max_minutes * 60 if args.max_minutes else None
    last_step = min(args.steps, args.stop_at) if args.stop_at is not None else args.steps

    acc = [0.0, 0.0, 0.0, 0.0]  # loss sum, bases, correct tokens, masked tokens (since the last record)
    t0 = time.perf_counter()
    bar = tqdm(total=last_step, initial=step, disable=not ds.main or args.no_progress,
               desc="pretrain", mininterval=2.0, dynamic_ncols=True)
    record: dict = log[-1] if log else {}
    train_model.train()
    while step < last_step:
        elapsed = ds.from_main(elapsed0 + time.perf_counter() - t0)
        if max_s is not None and elapsed >= max_s:
            break
        progress = max(step / args.steps, elapsed / max_s if max_s else 0.0)
        lr = args.lr * lr_factor(step + 1, args.warmup, progress, args.decay_frac)
        for group in opt.param_groups:
            group["lr"] = lr

        batch = corpus.train_batch(args.seed, step, args.batch_size, args.seq_len)
        global_bases = int((batch.labels != -100).sum()) * args.k
        local = batch.rows(start_rows, stop_rows).to(ds.device)
        logits = train_model(local.masked_ids)
        loss_sum = masked_lm_loss(logits, local.labels, reduction="sum")
        # DDP averages gradients over ranks; scaling by world / global count makes that the global mean.
        loss = loss_sum * (ds.world / max(global_bases, 1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1

        c, t = masked_token_accuracy(logits.detach(), local.labels)
        acc = [acc[0] + float(loss_sum.detach()), acc[1] + t * args.k, acc[2] + c, acc[3] + t]
        bar.update(1)
        do_eval = step % args.eval_every == 0 or step == last_step
        if step % args.log_every == 0 or do_eval:
            tot = ds.all_sum(acc)
            record = {
                "step": step,
                "loss": tot[0] / max(tot[1], 1),
                "train_acc": tot[2] / max(tot[3], 1),
                "lr": lr,
                "tokens": step * args.batch_size * args.seq_len,
                "elapsed": round(elapsed0 + time.perf_counter() - t0, 2),
            }
            acc = [0.0, 0.0, 0.0, 0.0]
            if do_eval and ds.main:
                record.update(evaluate(model, heldout))
            if ds.main:
                log.append(record)
                with open(out / "log.jsonl", "a") as f:
                    f.write(json.dumps(record) + "\n")
                bar.set_postfix(loss=f"{record['loss']:.3f}", acc=f"{record['train_acc']:.3f}",
                                eval=f"{record.get('eval_acc', float('nan')):.3f}", refresh=False)
        if step % ckpt_every == 0 and step != last_step:
            if ds.main:
                _save_checkpoint(out, model, opt, step, elapsed0 + time.perf_counter() - t0, args, log)
            ds.barrier()
    bar.close()
    tot = ds.all_sum(acc)  # what was trained since the last record (collective: every rank joins)
    if ds.main and (not log or log[-1]["step"] != step or "eval_acc" not in log[-1]):
        # Stopped by the clock between records: evaluate and log the final state.
        record = {"step": step, "loss": tot[0] / tot[1] if tot[1] else None,
                  "train_acc": tot[2] / tot[3] if tot[3] else None,
                  "tokens": step * args.batch_size * args.seq_len,
                  "elapsed": round(elapsed0 + time.perf_counter() - t0, 2)}
        record.update(evaluate(model, heldout))
        log.append(record)
        with open(out / "log.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
    if ds.main:
        _save_checkpoint(out, model, opt, step, elapsed0 + time.perf_counter() - t0, args, log)
        print(json.dumps(log[-1]), file=sys.stderr)
    ds.barrier()
    if getattr(args, "save_rank_states", False):
        torch.save(model.state_dict(), out / f"rank{ds.rank}.pt")
    return log[-1] if ds.main else record
