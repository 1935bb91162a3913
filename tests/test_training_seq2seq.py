"""warmup_cosine and train_seq2seq: the schedule's shape, a seeded loop that learns, no progress bar when asked."""

import math

import pytest
import torch

from cs502_lib import Transformer
from cs502_lib.training import train_seq2seq, warmup_cosine


def test_warmup_cosine_shape():
    f = [warmup_cosine(s, 10, 110) for s in range(110)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(f[:10], f[1:10]))             # rises during the warm-up
    assert f[10] == pytest.approx(1.0) and f[60] == pytest.approx(0.5)
    assert all(a >= b for a, b in zip(f[10:], f[11:]))             # then decays
    assert warmup_cosine(109, 10, 110) == pytest.approx(0.5 * (1 + math.cos(math.pi * 99 / 100)))
    assert warmup_cosine(0, 0, 5) == 1.0                             # no warm-up: the peak at once
    with pytest.raises(ValueError):
        warmup_cosine(0, 6, 5)


def _copy_task(n=256, length=5, vocab=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(3, vocab, (n, length), generator=g)
    tgt = torch.cat([torch.ones(n, 1, dtype=torch.long), src, torch.full((n, 1), 2)], dim=1)   # <bos> src <eos>
    return src, tgt


def _model():
    torch.manual_seed(0)
    return Transformer(6, 6, d_model=16, num_heads=2, d_ff=32, num_layers=1, dropout=0.0, max_len=16)


def test_train_seq2seq_learns_is_seeded_and_silent(capsys):
    src, tgt = _copy_task()
    seen = []
    losses = train_seq2seq(_model(), src, tgt, steps=60, batch_size=32, lr=1e-2, warmup_steps=5, progress=False,
                           callback=lambda step, m: seen.append(step))
    assert len(losses) == 60 and seen == list(range(1, 61))
    assert sum(losses[-10:]) < 0.5 * sum(losses[:10])
    again = train_seq2seq(_model(), src, tgt, steps=60, batch_size=32, lr=1e-2, warmup_steps=5, progress=False)
    assert again == losses
    out = capsys.readouterr()
    assert "training" not in out.out + out.err and "it/s" not in out.out + out.err


def test_train_seq2seq_label_smoothing_raises_the_floor():
    src, tgt = _copy_task()
    plain = train_seq2seq(_model(), src, tgt, steps=40, batch_size=32, lr=1e-2, warmup_steps=5, progress=False)
    smooth = train_seq2seq(_model(), src, tgt, steps=40, batch_size=32, lr=1e-2, warmup_steps=5,
                           label_smoothing=0.2, progress=False)
    assert smooth[-1] > plain[-1]


def test_train_seq2seq_errors():
    src, tgt = _copy_task(n=8)
    with pytest.raises(ValueError):
        train_seq2seq(_model(), src, tgt[:4], steps=1, progress=False)
    with pytest.raises(ValueError):
        train_seq2seq(_model(), src, tgt, steps=0, progress=False)
