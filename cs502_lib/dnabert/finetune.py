"""Fine-tuning DNABERT-mini on promoters, TF binding and splice sites (``python -m cs502_lib.dnabert finetune``).

The pretrained encoder (the committed checkpoint by default) gets a small classifier on
top, which turns the token vectors of the last layer into class scores. Four heads
(``pooling``): the mean of the real tokens' vectors, the ``[CLS]`` vector, the *maximum*
over the tokens of each feature (a motif counts wherever it occurs: promoters and TF
binding), or a position-aware *flatten* head (splice sites). Two modes:

* **full fine-tuning** (default): every weight is trained, with AdamW, a linear warm-up
  then linear decay of the learning rate, and *layer-wise* learning rates (the classifier
  gets ``head_lr_mult * lr``, the last encoder layer ``lr``, each layer below a factor
  ``layer_decay`` less, the embeddings least). With ``probe_epochs`` > 0 the head is first
  trained alone on the frozen encoder ("linear probing, then fine-tuning"): a randomly
  initialized head sends large, random gradients into the pretrained layers and can undo
  what pretraining learned before the head becomes useful.
* **frozen encoder** (``--freeze-encoder``): the encoder is fixed; only the head learns.
  The encoder then runs once per sequence (its outputs are cached), so this mode is fast:
  a probe of what pretraining learned.

``--from-scratch`` starts from random weights of the same architecture instead, which
measures what pretraining buys. Every run is seeded. A model that predicts one class
for every test sequence has *collapsed*; fine-tuning then stops with a
:class:`~.tasks.ModelCollapseError` (the command exits with status 3) instead of
reporting a chance-level accuracy as a result.

The schedule and the parameter groups come from :mod:`.optim`; the command line
(:mod:`.cli`) turns its options into a :class:`FinetuneSettings` and calls :func:`finetune`.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..bio.kmers import KmerTokenizer
from ..bio.sequences import reverse_complement
from .model import DEFAULT_CHECKPOINT, DNABertConfig, DNABertForSequenceClassification
from .optim import finetune_lr_factor, param_groups, set_lr
from .tasks import (CLASS_NAMES, TASKS, Split, check_not_collapsed, evaluation_protocol, label_fraction, metrics, subsample,
                    task_splits)

__all__ = [
    "FinetuneSettings",
    "DEFAULTS",
    "SequenceClassifier",
    "load_classifier",
    "encode",
    "train_classifier",
    "predict",
    "finetune",
]

FINETUNE_FILE = "finetune.json"
#: The heads a classifier can put on the encoder (see :class:`SequenceClassifier`).
POOLINGS = ("mean", "cls", "max", "flatten")


@dataclass
class FinetuneSettings:
    """Hyper-parameters of one fine-tuning run (see :data:`DEFAULTS` for each task's values).

    Attributes:
        epochs: passes over the training set.
        lr: peak learning rate of the last encoder layer (full) or of the head (frozen).
        batch_size: sequences per step.
        pooling: ``"mean"`` (mean of the real tokens' vectors), ``"cls"`` (the [CLS] vector),
            ``"max"`` (maximum over the tokens of each feature) or ``"flatten"`` (position-aware:
            all token vectors, projected and concatenated).
        layer_decay: each encoder layer below the last learns this factor slower (full mode).
        head_lr_mult: the pooler and classifier learn this many times faster than ``lr`` (full mode).
        warmup_frac: fraction of the steps with a linear warm-up; then linear decay to 0.
        weight_decay: AdamW weight decay (not on biases and LayerNorm weights).
        classifier_dropout: dropout before the last linear layer.
        encoder_dropout: dropout in the embeddings and encoder layers during fine-tuning.
        rc_augment: train on both strands (reverse complement, for tasks whose label does not
            depend on the strand: TF binding).
        probe_epochs: full mode only: first train the head alone on the frozen encoder for this
            many epochs (at ``probe_lr``), then fine-tune everything ("linear probing, then
            fine-tuning": a head that already works does not send large, random gradients into
            the pretrained layers at the start of fine-tuning).
        probe_lr: learning rate of that head-only stage.
        min_steps: each stage trains for at least this many optimizer steps (its epochs are raised
            when the training set is small: the label-efficiency runs on 1 % of the labels).
    """

    epochs: int = 3
    lr: float = 1e-3
    batch_size: int = 32
    pooling: str = "mean"
    layer_decay: float = 0.8
    head_lr_mult: float = 3.0
    warmup_frac: float = 0.1
    weight_decay: float = 0.01
    classifier_dropout: float = 0.1
    encoder_dropout: float = 0.1
    rc_augment: bool = False
    probe_epochs: int = 0
    probe_lr: float = 3e-3
    min_steps: int = 0

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs must be a positive integer, got {self.epochs!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if not 0.0 < self.layer_decay <= 1.0:
            raise ValueError(f"layer_decay must be in (0, 1], got {self.layer_decay!r}")
        if not isinstance(self.probe_epochs, int) or self.probe_epochs < 0:
            raise ValueError(f"probe_epochs must be a non-negative integer, got {self.probe_epochs!r}")
        if not self.probe_lr > 0:
            raise ValueError(f"probe_lr must be positive, got {self.probe_lr!r}")
        if not isinstance(self.min_steps, int) or self.min_steps < 0:
            raise ValueError(f"min_steps must be a non-negative integer, got {self.min_steps!r}")


#: Per task and mode (``"full"``/``"frozen"``): the settings the course's results use.
DEFAULTS: dict[tuple[str, str], FinetuneSettings] = {
    ("promoters", "full"): FinetuneSettings(epochs=10, lr=1e-4, batch_size=16, pooling="max",
                                            probe_epochs=200, probe_lr=3e-3),
    ("promoters", "frozen"): FinetuneSettings(epochs=200, lr=3e-3, batch_size=32, pooling="max"),
    ("tfbs", "full"): FinetuneSettings(epochs=2, lr=1e-3, batch_size=32, pooling="max", layer_decay=1.0,
                                       probe_epochs=5, probe_lr=3e-3),
    ("tfbs", "frozen"): FinetuneSettings(epochs=5, lr=3e-3, batch_size=32, pooling="max"),
    ("splice", "full"): FinetuneSettings(epochs=8, lr=1e-3, batch_size=32, pooling="flatten"),
    ("splice", "frozen"): FinetuneSettings(epochs=100, lr=3e-3, batch_size=64, pooling="flatten"),
}


class SequenceClassifier(DNABertForSequenceClassification):
    """:class:`~.model.DNABertForSequenceClassification` with a choice of pooling.

    * ``pooling="cls"``: the parent's ``classifier(dropout(tanh(pooler(h[:, 0]))))``;
    * ``pooling="mean"``: the same head on the mean of the last layer's vectors over the real
      tokens (``attention_mask`` True);
    * ``pooling="max"``: ``tanh(pooler(h_t))`` for every real token ``t``, then the maximum over
      the tokens of each of the ``d_model`` features, then ``classifier``: each feature is a
      detector that fires if its pattern occurs *anywhere* in the sequence;
    * ``pooling="flatten"``: a position-aware head for fixed-length inputs: every token vector is
      projected to ``flatten_dim`` numbers, ``tanh``, and all positions are concatenated
      (B, L * flatten_dim) before the last linear layer, so the classifier knows *where* each
      feature occurs (what splice sites need); it needs ``length``, the tokens per sequence.

    The head is chosen at construction (``pooling``); the flatten head's layers are created after
    the parent's pooler and classifier (seed with ``torch.manual_seed`` first for reproducible runs).
    ``features(ids, mask)`` is the input of the trainable head: (B, d_model) for cls/mean,
    the token vectors (B, L, d_model) for max and flatten; ``head(features)`` gives the logits.
    """

    def __init__(self, config: DNABertConfig, num_labels: int = 2, classifier_dropout: float = 0.1, *,
                 pooling: str = "mean", length: int | None = None, flatten_dim: int = 8) -> None:
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if pooling == "flatten" and length is None:
            raise ValueError("pooling='flatten' needs the number of tokens per sequence (length)")
        super().__init__(config, num_labels=num_labels, classifier_dropout=classifier_dropout)
        self.pooling = pooling
        self.flatten_length = int(length) if pooling == "flatten" else None
        if pooling == "flatten":
            self.token_proj = nn.Linear(config.d_model, flatten_dim)
            self.flat_out = nn.Linear(self.flatten_length * flatten_dim, num_labels)

    def features(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.bert(ids, attention_mask)  # (B, L, d)
        if self.pooling == "cls":
            return h[:, 0]
        if self.pooling == "flatten":
            if h.shape[1] != self.flatten_length:
                raise ValueError(f"the flatten head needs {self.flatten_length} tokens per sequence, got {h.shape[1]}")
            return h
        if self.pooling == "max":
            if attention_mask is None:
                return h
            # padded positions repeat the [CLS] vector: a duplicate of a real token never changes a maximum
            return torch.where(attention_mask.bool().unsqueeze(-1), h, h[:, :1])
        if attention_mask is None:
            return h.mean(1)
        w = attention_mask.unsqueeze(-1).to(h.dtype)
        return (h * w).sum(1) / w.sum(1).clamp_min(1.0)

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """Class logits from :meth:`features` -> (B, num_labels)."""
        if self.pooling == "flatten":
            return self.flat_out(self.dropout(torch.tanh(self.token_proj(features)).flatten(1)))
        return self.classifier(self.dropout(self._pool(features)))

    def _pool(self, features: torch.Tensor) -> torch.Tensor:
        """``tanh(pooler(features))``, reduced over the tokens by their maximum for the max head -> (B, d_model)."""
        z = torch.tanh(self.pooler(features))
        return z.amax(1) if self.pooling == "max" else z

    def head_named_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """``(name, parameter)`` of the head in use (what frozen mode trains)."""
        if self.pooling == "flatten":
            layers = {"token_proj": self.token_proj, "flat_out": self.flat_out}
        else:
            layers = {"pooler": self.pooler, "classifier": self.classifier}
        return [(f"{m}.{n}", p) for m, layer in layers.items() for n, p in layer.named_parameters()]

    def head_parameters(self) -> list:
        """The parameters of the head in use (trained in frozen mode)."""
        return [p for _, p in self.head_named_parameters()]

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(ids, attention_mask))

    def pooled(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.pooling == "flatten":
            raise ValueError("the flatten head has no pooled vector; use features() and head()")
        return self._pool(self.features(ids, attention_mask))


def load_classifier(num_labels: int, checkpoint: str | Path | None = None, *, from_scratch: bool = False,
                    pooling: str = "mean", classifier_dropout: float = 0.1, seed: int = 0,
                    length: int | None = None, encoder_dropout: float = 0.0) -> SequenceClassifier:
    """A :class:`SequenceClassifier` with the encoder of ``checkpoint`` (default: the committed one).

    With ``from_scratch`` only the checkpoint's *configuration* is used (random weights, seeded);
    without any checkpoint, the default :class:`~.model.DNABertConfig`. A directory saved by
    ``finetune --save`` reloads completely, with its head. ``length`` (tokens per sequence) is
    needed for ``pooling="flatten"``; ``encoder_dropout`` sets the dropout of the embeddings and
    encoder layers (pretraining used none).
    """
    torch.manual_seed(seed)
    path = DEFAULT_CHECKPOINT if checkpoint is None else Path(checkpoint)
    saved = path / FINETUNE_FILE
    if from_scratch:
        cfg_file = path / "config.json"
        config = DNABertConfig.from_dict(json.loads(cfg_file.read_text())) if cfg_file.is_file() else DNABertConfig()
        state = None
    else:
        if not (path / "model.pt").is_file():
            raise ValueError(
                f"no pretrained checkpoint at {path} (config.json + model.pt). Pretrain one with "
                "`python -m cs502_lib.dnabert pretrain --out runs/dnabert` and pass --checkpoint runs/dnabert/model, "
                "or use --from-scratch"
            )
        config, state = SequenceClassifier._load(path)
        if saved.is_file():  # a fine-tuned classifier: its own head
            info = json.loads(saved.read_text())
            pooling, length = info.get("pooling", pooling), info.get("length", length)
    model = SequenceClassifier(config, num_labels=num_labels, classifier_dropout=classifier_dropout,
                               pooling=pooling, length=length)
    if state is not None:
        if saved.is_file():
            model.load_state_dict(state)
        else:
            model.bert.load_state_dict({n[len("bert."):]: t for n, t in state.items() if n.startswith("bert.")})
    for m in model.bert.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = encoder_dropout
    return model


def encode(model: SequenceClassifier, seqs: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and attention mask of ``seqs`` for ``model``: ``[CLS]`` k-mers ``[SEP]``, padded."""
    return KmerTokenizer(model.config.k).encode_batch(seqs, max_len=model.config.max_len)


@torch.no_grad()
def predict(model: SequenceClassifier, seqs: list[str], batch_size: int = 128) -> torch.Tensor:
    """Predicted class of each sequence, LongTensor (N,) (eval mode)."""
    ids, mask = encode(model, seqs)
    model.eval()
    return torch.cat([model(ids[i : i + batch_size], mask[i : i + batch_size]).argmax(-1)
                      for i in range(0, len(seqs), batch_size)])


def _layer_lr_scale(name: str, n_layers: int, s: FinetuneSettings) -> float:
    """Layer-wise learning rates: head x head_lr_mult, top layer x 1, each lower layer x layer_decay more."""
    if not name.startswith("bert."):
        return s.head_lr_mult
    if name.startswith("bert.encoder.layers."):
        i = int(name.split(".")[3])
        return s.layer_decay ** (n_layers - 1 - i)
    if name.startswith("bert.encoder."):  # a final norm, if the encoder has one
        return 1.0
    return s.layer_decay**n_layers  # embeddings


def train_classifier(model: SequenceClassifier, seqs: list[str], labels: torch.Tensor, s: FinetuneSettings, *,
                     freeze_encoder: bool = False, seed: int = 0, progress: bool = True,
                     desc: str = "fine-tune") -> list[float]:
    """Train ``model`` on ``(seqs, labels)`` in place; returns the mean training loss of each epoch.

    Frozen mode caches the encoder's features once and trains only the head on them (epochs of
    shuffled mini-batches). In full mode with ``s.probe_epochs`` > 0, that head-only training
    runs first (``probe_epochs`` epochs at ``probe_lr``), then every weight is trained.
    """
    labels = labels.long()
    if s.probe_epochs and not freeze_encoder:  # stage 1: the head alone, on the frozen encoder
        probe = replace(s, epochs=s.probe_epochs, lr=s.probe_lr, probe_epochs=0)
        train_classifier(model, seqs, labels, probe, freeze_encoder=True, seed=seed, progress=progress,
                         desc=f"{desc} (head only)")
    g = torch.Generator().manual_seed(seed)
    if s.rc_augment:
        seqs = list(seqs) + [reverse_complement(x) for x in seqs]
        labels = torch.cat([labels, labels])
    model.freeze_encoder(freeze_encoder)
    ids, mask = encode(model, seqs)
    if freeze_encoder:  # the encoder's features once (eval mode); only the head learns, every weight decayed
        model.eval()
        with torch.no_grad():
            feats = torch.cat([model.features(ids[i : i + 128], mask[i : i + 128]) for i in range(0, len(seqs), 128)])
        forward = lambda idx: model.head(feats[idx])  # noqa: E731
        params = param_groups(model.head_named_parameters(), s.weight_decay, exempt=False)
    else:  # every weight, with layer-wise learning rates
        forward = lambda idx: model(ids[idx], mask[idx])  # noqa: E731
        n_layers = len(model.bert.encoder.layers)
        params = param_groups(model.named_parameters(), s.weight_decay, lambda name: _layer_lr_scale(name, n_layers, s))
    opt = torch.optim.AdamW(params, lr=s.lr)
    n = len(seqs)
    steps_per_epoch = math.ceil(n / s.batch_size)
    epochs = max(s.epochs, math.ceil(s.min_steps / steps_per_epoch))
    total = epochs * steps_per_epoch
    losses: list[float] = []
    step = 0
    bar = tqdm(total=total, desc=desc, disable=not progress, mininterval=2.0, dynamic_ncols=True)
    for _ in range(epochs):
        if freeze_encoder:
            model.train()
            model.bert.eval()
        else:
            model.train()
        tot, cnt = 0.0, 0
        for idx in torch.randperm(n, generator=g).split(s.batch_size):
            set_lr(opt, s.lr, finetune_lr_factor(step, total, s.warmup_frac))
            loss = F.cross_entropy(forward(idx), labels[idx])
            if not torch.isfinite(loss):
                raise FloatingPointError(f"the fine-tuning loss became {loss.item()}; lower the learning rate (--lr)")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for grp in opt.param_groups for p in grp["params"]], 1.0)
            opt.step()
            tot += float(loss.detach()) * len(idx)
            cnt += len(idx)
            step += 1
            bar.update(1)
        losses.append(tot / cnt)
        bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
    bar.close()
    model.eval()
    return losses


def _n_tokens(checkpoint: str | Path | None, split: Split) -> int:
    """Tokens per sequence ([CLS] + k-mers + [SEP]) of a fixed-length task, for the flatten head."""
    path = DEFAULT_CHECKPOINT if checkpoint is None else Path(checkpoint)
    cfg = path / "config.json"
    k = json.loads(cfg.read_text())["k"] if cfg.is_file() else DNABertConfig().k
    return max(len(x) for x in split.train_seqs) - k + 1 + 2


def finetune(task: str, *, checkpoint: str | Path | None = None, freeze_encoder: bool = False,
             from_scratch: bool = False, settings: FinetuneSettings | None = None, seed: int = 0,
             folds: int = 10, max_train: int | None = None, max_eval: int | None = None,
             save: str | Path | None = None, progress: bool = True, check_collapse: bool = True,
             fraction: float = 1.0, split_seed: int = 0) -> dict:
    """Fine-tune on ``task``'s fixed split(s) and evaluate; returns a JSON-ready dict.

    Args:
        task: ``"promoters"`` (cross-validated over ``folds`` folds), ``"tfbs"`` or ``"splice"``.
        checkpoint: pretrained directory (default: the committed checkpoint).
        freeze_encoder: train only the pooler and classifier.
        from_scratch: random initialization instead of the pretrained weights.
        settings: hyper-parameters (default: :data:`DEFAULTS` of the task and mode).
        seed: seed of the classifier's initialization and of the batch order.
        max_train, max_eval: subsample the splits (quick checks and tests only).
        fraction: train on this stratified fraction of the training labels (:func:`~.tasks.label_fraction`,
            drawn with ``seed``); the evaluation sets are unchanged.
        split_seed: promoters: the seed of the cross-validation folds (repeated cross-validation).
        save: save the fine-tuned model there (``save_pretrained`` + ``finetune.json``; not for promoters).
        check_collapse: raise :class:`~.tasks.ModelCollapseError` when the test predictions hold one class.

    Returns:
        ``{"task", "mode", "init", "protocol", "accuracy", "f1", "mcc", "n", "predicted_counts",
        "train_loss", "settings", "seconds", ...}``: the test split's metrics at the top level,
        the held-out part's under ``"heldout"`` (tfbs).
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    mode = "frozen" if freeze_encoder else "full"
    s = settings or DEFAULTS[task, mode]
    if save is not None and task == "promoters":
        raise ValueError("--save is not available for promoters (cross-validation trains one model per fold)")
    num_classes = len(CLASS_NAMES[task])
    t0 = time.perf_counter()
    preds: dict[str, list[torch.Tensor]] = {}
    truth: dict[str, list[torch.Tensor]] = {}
    curves = []
    splits = task_splits(task, folds=folds, seed=split_seed if task == "promoters" else 0)
    for f, split in enumerate(splits):
        split = label_fraction(subsample(split, max_train, max_eval, seed=seed), fraction, seed=seed)
        model = load_classifier(num_classes, checkpoint, from_scratch=from_scratch, pooling=s.pooling,
                                classifier_dropout=s.classifier_dropout, seed=seed, length=_n_tokens(checkpoint, split),
                                encoder_dropout=s.encoder_dropout)
        desc = f"{task} fold {f + 1}/{len(splits)}" if len(splits) > 1 else task
        curves.append(train_classifier(model, split.train_seqs, split.train_labels, s, freeze_encoder=freeze_encoder,
                                       seed=seed, progress=progress, desc=desc))
        for name, (seqs, y) in split.evals.items():
            preds.setdefault(name, []).append(predict(model, seqs))
            truth.setdefault(name, []).append(y)
    if save is not None:
        model.save_pretrained(save)
        (Path(save) / FINETUNE_FILE).write_text(json.dumps(
            {"task": task, "mode": mode, "pooling": s.pooling, "length": model.flatten_length, "classes": list(CLASS_NAMES[task]),
             "settings": asdict(s), "seed": seed}, indent=2) + "\n")
    result = {
        "task": task,
        "mode": mode,
        "init": "scratch" if from_scratch else "pretrained",
        "checkpoint": None if from_scratch else str(checkpoint or DEFAULT_CHECKPOINT),
        "protocol": evaluation_protocol(task, folds),
        "classes": list(CLASS_NAMES[task]),
    }
    result |= _scores(preds, truth, curves, num_classes)
    result["settings"] = (asdict(s) | {"seed": seed} | ({"folds": folds, "split_seed": split_seed} if task == "promoters" else {})
                          | ({"fraction": fraction} if fraction != 1.0 else {}))
    result["threads"] = torch.get_num_threads()
    result["seconds"] = round(time.perf_counter() - t0, 2)
    if check_collapse:
        check_not_collapsed(torch.cat(preds["test"]), num_classes, split="test")
    return result


def _scores(preds: dict[str, list[torch.Tensor]], truth: dict[str, list[torch.Tensor]], curves: list[list[float]],
            num_classes: int) -> dict:
    """The test split's metrics at the top level, the other splits' under their names, and the mean loss curve."""
    result: dict = {}
    for name in preds:
        m = metrics(torch.cat(truth[name]), torch.cat(preds[name]), num_classes)
        if name == "test":
            result.update(m)
        else:
            result[name] = m
    result["train_loss"] = [round(x, 5) for x in (curves[0] if len(curves) == 1 else
                                                   [sum(c[i] for c in curves) / len(curves) for i in range(len(curves[0]))])]
    return result

