"""DNABERT-mini: a small BERT over overlapping k-mer tokens, built from cs502_lib's own layers.

The encoder is :class:`cs502_lib.nn.Encoder` (post-LN layers of the course, with the
fused attention kernel switched on). Two things differ from a textbook BERT, both
because a k-mer is not an arbitrary word but k bases:

* **Compositional input embedding.** The embedding of a k-mer is the sum of k learned
  vectors, one per (position in the k-mer, base) pair, so ``ACGTAC`` and ``ACGTAG``
  share five of their six terms. A free per-k-mer vector can be added on top
  (``kmer_embedding=True``). The five special tokens have their own vectors.
* **Factorized masked-LM head.** Instead of one softmax over the 4**k k-mers, the head
  makes k independent 4-way predictions, one per base of the masked k-mer
  (logits of shape (B, L, k, 4)). A masked token counts as right only when all k
  bases are right, so the accuracy is the same quantity as a 4**k-way argmax.

A plain 4**k-softmax BERT with one-hot k-mer embeddings has to discover from scratch
that token ids are made of bases; on 2 CPU cores it stays at chance for a long time.
With the two changes above the same encoder leaves the plateau after a few thousand
steps (see ``checkpoints/README.md`` for the measured curves).

Shapes: ``ids`` LongTensor (B, L) of :func:`~cs502_lib.bio.kmers.build_kmer_vocab` ids,
``attention_mask`` BoolTensor (B, L), True = a real token (False = [PAD]).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import require_ndim, require_positive_int, require_tensor
from ..bio.kmers import NUM_SPECIAL, kmer_bases
from ..bio.masking import IGNORE_INDEX
from ..nn import Encoder, sinusoidal_positional_encoding

__all__ = [
    "DNABertConfig",
    "KmerEmbedding",
    "DNABertModel",
    "DNABertForMaskedLM",
    "DNABertForSequenceClassification",
    "base_labels",
    "masked_lm_loss",
    "masked_token_accuracy",
    "predicted_kmer_ids",
    "DEFAULT_CHECKPOINT",
]

#: The committed pretrained checkpoint (a directory written by ``save_pretrained``).
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints"

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.pt"


@dataclass
class DNABertConfig:
    """Hyper-parameters of DNABERT-mini.

    Attributes:
        k: k-mer length; the vocabulary has ``4**k + 5`` ids.
        d_model: width of the encoder.
        num_layers: number of encoder layers.
        num_heads: attention heads (``d_model % num_heads == 0``).
        d_ff: hidden width of the feed-forward sublayers (default ``4 * d_model``).
        max_len: most tokens per sequence (size of the learned position table).
        dropout: dropout in the embeddings and the encoder.
        kmer_embedding: add a free per-k-mer vector to the compositional embedding.
        sinusoidal_init: start the learned position table at the sinusoidal encoding
            (whose dot products depend on relative offsets) instead of small random values.
        conv_kernel: if > 0, a residual 1-D convolution of this (odd) width over the token
            embeddings before the encoder, so that every token starts with its neighbours'
            bases (0 = none, a plain BERT embedding).
    """

    k: int = 6
    d_model: int = 128
    num_layers: int = 4
    num_heads: int = 4
    d_ff: int | None = None
    max_len: int = 512
    dropout: float = 0.0
    kmer_embedding: bool = False
    sinusoidal_init: bool = False
    conv_kernel: int = 0

    def __post_init__(self) -> None:
        for name in ("k", "d_model", "num_layers", "num_heads", "max_len"):
            require_positive_int(name, getattr(self, name))
        if self.d_ff is None:
            self.d_ff = 4 * self.d_model
        require_positive_int("d_ff", self.d_ff)
        if self.d_model % self.num_heads:
            raise ValueError(
                f"d_model must be divisible by num_heads, got d_model={self.d_model} and num_heads={self.num_heads}"
            )
        if not isinstance(self.conv_kernel, int) or self.conv_kernel < 0 or (self.conv_kernel and self.conv_kernel % 2 == 0):
            raise ValueError(f"conv_kernel must be 0 or an odd positive integer, got {self.conv_kernel!r}")
        if not isinstance(self.dropout, (int, float)) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")

    @property
    def vocab_size(self) -> int:
        return NUM_SPECIAL + 4**self.k

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DNABertConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown DNABertConfig fields {sorted(unknown)}")
        return cls(**d)


def _check_ids(ids: torch.Tensor, attention_mask: torch.Tensor | None, max_len: int) -> None:
    require_tensor("ids", ids)
    require_ndim("ids", ids, 2)
    if ids.dtype != torch.long:
        raise ValueError(f"ids must be a torch.long tensor of token ids, got dtype {ids.dtype}")
    if ids.shape[1] > max_len:
        raise ValueError(f"sequence length {ids.shape[1]} exceeds the model's max_len={max_len}")
    if attention_mask is not None:
        require_tensor("attention_mask", attention_mask)
        if attention_mask.dtype != torch.bool:
            raise ValueError(f"attention_mask must be a torch.bool tensor (True = real token), got {attention_mask.dtype}")
        if attention_mask.shape != ids.shape:
            raise ValueError(
                f"attention_mask must have the shape of ids {tuple(ids.shape)}, got {tuple(attention_mask.shape)}"
            )


class KmerEmbedding(nn.Module):
    """Compositional k-mer embedding + learned positions, then LayerNorm and dropout.

    ``e[b, t] = sum_j base[j, bases(ids[b, t])[j]]  (+ kmer[ids[b, t]])`` for a k-mer; a special
    token uses ``special[id]`` instead of the base sum. With ``conv_kernel`` > 0,
    ``e = e + conv(e)`` over the token axis. Then ``x = LayerNorm(e + pos[t])``.

    ``forward(ids, attention_mask=None)``: LongTensor (B, L) (and BoolTensor (B, L)) -> (B, L, d_model).
    """

    def __init__(self, config: DNABertConfig) -> None:
        super().__init__()
        self.k, d = config.k, config.d_model
        self.base = nn.Embedding(4 * config.k, d)  # row 4*j + b: base b at position j of the k-mer
        self.special = nn.Embedding(NUM_SPECIAL, d)
        self.kmer = nn.Embedding(config.vocab_size, d) if config.kmer_embedding else None
        w = config.conv_kernel
        self.conv = nn.Conv1d(d, d, w, padding=w // 2) if w else None
        self.position = nn.Embedding(config.max_len, d)
        self.norm = nn.LayerNorm(d)
        self.dropout = nn.Dropout(config.dropout)
        self.register_buffer("offsets", 4 * torch.arange(config.k), persistent=False)
        std = 1.0 / math.sqrt(config.k)  # the k terms sum to roughly unit variance
        nn.init.normal_(self.base.weight, std=std)
        nn.init.normal_(self.special.weight, std=1.0)
        if config.sinusoidal_init:
            with torch.no_grad():
                self.position.weight.copy_(sinusoidal_positional_encoding(config.max_len, d))
        else:
            nn.init.normal_(self.position.weight, std=0.02)
        if self.kmer is not None:
            nn.init.normal_(self.kmer.weight, std=0.02)

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        bases = kmer_bases(ids, self.k)  # (B, L, k), -1 for special tokens
        is_special = ids < NUM_SPECIAL  # (B, L)
        x = self.base(bases.clamp_min(0) + self.offsets).sum(dim=-2)  # (B, L, d)
        x = torch.where(is_special.unsqueeze(-1), self.special(ids.clamp_max(NUM_SPECIAL - 1)), x)
        if self.kmer is not None:
            x = x + self.kmer(ids)
        if self.conv is not None:
            if attention_mask is not None:  # padding must not leak into real tokens
                x = x * attention_mask.unsqueeze(-1)
            x = x + self.conv(x.transpose(1, 2)).transpose(1, 2)
        x = x + self.position.weight[: ids.shape[1]]
        return self.dropout(self.norm(x))


class DNABertModel(nn.Module):
    """Embeddings + :class:`cs502_lib.nn.Encoder`: ``forward(ids, attention_mask=None) -> (B, L, d_model)``."""

    def __init__(self, config: DNABertConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = KmerEmbedding(config)
        self.encoder = Encoder(
            config.num_layers, config.d_model, config.num_heads, config.d_ff, config.dropout, fused=True
        )

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        _check_ids(ids, attention_mask, self.config.max_len)
        x = self.embeddings(ids, attention_mask)
        mask = None
        if attention_mask is not None and not bool(attention_mask.all()):
            mask = attention_mask[:, None, None, :]  # (B, 1, 1, L): padded keys are hidden
        return self.encoder(x, mask)


class _Pretrained(nn.Module):
    """``save_pretrained(path)`` / ``from_pretrained(path)``: a directory with config.json and model.pt (fp32)."""

    def save_pretrained(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / CONFIG_FILE).write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
        state = {name: t.detach().to("cpu", torch.float32).clone() for name, t in self.state_dict().items()}
        torch.save(state, path / WEIGHTS_FILE)
        return path

    @staticmethod
    def _load(path: str | Path | None) -> tuple[DNABertConfig, dict[str, torch.Tensor]]:
        path = DEFAULT_CHECKPOINT if path is None else Path(path)
        if not (path / CONFIG_FILE).is_file() or not (path / WEIGHTS_FILE).is_file():
            raise ValueError(f"{path} is not a DNABERT checkpoint directory (it needs {CONFIG_FILE} and {WEIGHTS_FILE})")
        config = DNABertConfig.from_dict(json.loads((path / CONFIG_FILE).read_text()))
        state = torch.load(path / WEIGHTS_FILE, map_location="cpu", weights_only=True)
        return config, state


class MaskedLMHead(nn.Module):
    """Dense + GELU + LayerNorm, then k 4-way base predictions: (B, L, d_model) -> logits (B, L, k, 4)."""

    def __init__(self, config: DNABertConfig) -> None:
        super().__init__()
        self.k = config.k
        self.dense = nn.Linear(config.d_model, config.d_model)
        self.norm = nn.LayerNorm(config.d_model)
        self.out = nn.Linear(config.d_model, 4 * config.k)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        logits = self.out(self.norm(F.gelu(self.dense(h))))
        return logits.unflatten(-1, (self.k, 4))


class DNABertForMaskedLM(_Pretrained):
    """DNABERT-mini with the factorized masked-LM head.

    ``forward(ids, attention_mask=None)`` -> base logits (B, L, k, 4); ``logits[b, t, j]``
    scores the four bases (A, C, G, T) of base j of the k-mer at token t.
    Use :func:`masked_lm_loss` and :func:`masked_token_accuracy` with the labels of
    :func:`~cs502_lib.bio.masking.span_mask`.

    Example:
        >>> model = DNABertForMaskedLM(DNABertConfig(k=3, d_model=32, num_layers=1, num_heads=2))
        >>> model(torch.full((2, 10), 7)).shape
        torch.Size([2, 10, 3, 4])
    """

    def __init__(self, config: DNABertConfig) -> None:
        super().__init__()
        self.config = config
        self.bert = DNABertModel(config)
        self.mlm_head = MaskedLMHead(config)

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.mlm_head(self.bert(ids, attention_mask))

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None) -> "DNABertForMaskedLM":
        """Load a directory written by :meth:`save_pretrained` (default: the committed checkpoint)."""
        config, state = cls._load(path)
        model = cls(config)
        model.load_state_dict(state)
        return model


class DNABertForSequenceClassification(_Pretrained):
    """DNABERT-mini encoder + a classifier on the [CLS] token.

    ``forward(ids, attention_mask=None)`` -> logits (B, num_labels), computed as
    ``classifier(dropout(tanh(pooler(h[:, 0]))))`` where ``h`` is the encoder output
    and position 0 holds [CLS] (as :meth:`KmerTokenizer.encode_batch` writes it).

    Args:
        config: the encoder's configuration.
        num_labels: number of classes (>= 2).
        classifier_dropout: dropout before the last linear layer.

    Load the pretrained encoder with :meth:`from_pretrained`; the pooler and the classifier
    start fresh (seed with ``torch.manual_seed`` first for reproducible runs).
    :meth:`freeze_encoder` keeps the encoder's weights fixed (linear-probe style fine-tuning).
    """

    def __init__(self, config: DNABertConfig, num_labels: int = 2, classifier_dropout: float = 0.1) -> None:
        super().__init__()
        require_positive_int("num_labels", num_labels)
        if num_labels < 2:
            raise ValueError(f"num_labels must be at least 2, got {num_labels}")
        self.config = config
        self.num_labels = num_labels
        self.bert = DNABertModel(config)
        self.pooler = nn.Linear(config.d_model, config.d_model)
        self.dropout = nn.Dropout(classifier_dropout)
        self.classifier = nn.Linear(config.d_model, num_labels)

    def pooled(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The pooled [CLS] representation, (B, d_model)."""
        return torch.tanh(self.pooler(self.bert(ids, attention_mask)[:, 0]))

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.classifier(self.dropout(self.pooled(ids, attention_mask)))

    def classify(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted class of each sequence, LongTensor (B,) (eval mode, no gradient)."""
        was_training = self.training
        self.eval()
        with torch.no_grad():
            out = self(ids, attention_mask).argmax(-1)
        self.train(was_training)
        return out

    def freeze_encoder(self, frozen: bool = True) -> "DNABertForSequenceClassification":
        """Stop (or restart) gradient updates of the embeddings and the encoder."""
        for p in self.bert.parameters():
            p.requires_grad_(not frozen)
        return self

    @classmethod
    def from_pretrained(
        cls, path: str | Path | None = None, num_labels: int = 2, classifier_dropout: float = 0.1
    ) -> "DNABertForSequenceClassification":
        """Encoder weights from a masked-LM checkpoint (default: the committed one), a new classifier.

        A directory saved from a classifier itself reloads completely (pooler and classifier too).
        """
        config, state = cls._load(path)
        model = cls(config, num_labels=num_labels, classifier_dropout=classifier_dropout)
        if any(name.startswith("classifier.") for name in state):
            model.load_state_dict(state)
        else:
            encoder = {n[len("bert."):]: t for n, t in state.items() if n.startswith("bert.")}
            model.bert.load_state_dict(encoder)
        return model


# ---- objective and metric of the factorized head ---------------------------------------------


def base_labels(labels: torch.Tensor, k: int) -> torch.Tensor:
    """Per-base targets of k-mer labels.

    Args:
        labels: LongTensor (...), a k-mer id at predicted positions and -100 elsewhere.
        k: k-mer length.

    Returns:
        LongTensor (..., k): the base codes (A0 C1 G2 T3) of each labelled k-mer and -100 in all
        k places of unlabelled positions.
    """
    require_tensor("labels", labels)
    keep = labels != IGNORE_INDEX
    if labels.device.type != "meta" and bool((keep & (labels < NUM_SPECIAL)).any()):
        raise ValueError("labels must be k-mer ids (>= 5) or -100; a special token cannot be a target")
    bases = kmer_bases(torch.where(keep, labels, torch.full_like(labels, NUM_SPECIAL)), k)
    return bases.masked_fill(~keep.unsqueeze(-1), IGNORE_INDEX)


def _check_logits(logits: torch.Tensor, labels: torch.Tensor) -> int:
    require_tensor("logits", logits)
    require_tensor("labels", labels)
    if logits.dim() < 2 or logits.shape[-1] != 4 or logits.shape[:-2] != labels.shape:
        raise ValueError(
            f"logits must have shape labels.shape + (k, 4) = {tuple(labels.shape)} + (k, 4), got {tuple(logits.shape)}"
        )
    return logits.shape[-2]


def masked_lm_loss(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of the factorized head over the bases of the masked tokens.

    Args:
        logits: (..., k, 4) base logits.
        labels: (...) k-mer ids at masked positions, -100 elsewhere.
        reduction: ``"mean"`` (over masked tokens x k bases; 0 when nothing is masked) or ``"sum"``.

    Returns:
        A scalar tensor. ``"sum"`` lets distributed training divide by the global count.
    """
    k = _check_logits(logits, labels)
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    targets = base_labels(labels, k)
    total = F.cross_entropy(logits.reshape(-1, 4).float(), targets.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum")
    if reduction == "sum":
        return total
    return total / (targets != IGNORE_INDEX).sum().clamp_min(1)


def predicted_kmer_ids(logits: torch.Tensor) -> torch.Tensor:
    """The k-mer id whose bases are the per-base argmaxes: (..., k, 4) -> LongTensor (...)."""
    require_tensor("logits", logits)
    if logits.dim() < 2 or logits.shape[-1] != 4:
        raise ValueError(f"logits must have shape (..., k, 4), got {tuple(logits.shape)}")
    k = logits.shape[-2]
    weights = 4 ** torch.arange(k - 1, -1, -1, device=logits.device)
    return (logits.argmax(-1) * weights).sum(-1) + NUM_SPECIAL


def masked_token_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> tuple[int, int]:
    """Masked tokens predicted right (all k bases right) and masked tokens in all.

    Args:
        logits: (..., k, 4) base logits; labels: (...) k-mer ids, -100 where not masked.

    Returns:
        ``(correct, total)`` as Python ints (sum them over batches, then divide).
    """
    _check_logits(logits, labels)
    keep = labels != IGNORE_INDEX
    correct = (predicted_kmer_ids(logits) == labels) & keep
    return int(correct.sum()), int(keep.sum())
