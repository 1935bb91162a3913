"""Transformer.beam_search: greedy at width 1, exact when the beam holds every hypothesis, batch-independent."""

import itertools

import pytest
import torch

from cs502_lib import Transformer

PAD, BOS, EOS = 0, 1, 2


def _model(vocab=5, seed=0):
    torch.manual_seed(seed)
    return Transformer(6, vocab, d_model=16, num_heads=2, d_ff=32, num_layers=1, dropout=0.0, max_len=16).eval()


def _log_prob(model, src, seq):
    """Total log-probability of the tokens of ``seq`` after <bos>, up to and including <eos>, by teacher forcing."""
    ys = torch.tensor([[BOS] + list(seq)])
    with torch.no_grad():
        logp = model(src, ys[:, :-1]).log_softmax(-1)[0]
    return sum(logp[t, tok].item() for t, tok in enumerate(seq))


def test_width_one_is_greedy():
    model = _model(vocab=9)
    src = torch.randint(1, 6, (4, 7), generator=torch.Generator().manual_seed(1))
    beam, _ = model.beam_search(src, max_len=6, bos_id=BOS, eos_id=EOS, beam_size=1)
    greedy = model.greedy_decode(src, max_len=6, bos_id=BOS, eos_id=EOS)
    assert torch.equal(beam, greedy)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_beam_holding_every_hypothesis_finds_the_most_likely_sequence(seed):
    model = _model(vocab=5, seed=seed)                  # tokens: pad, bos, eos and two symbols (3, 4)
    src = torch.randint(1, 6, (1, 5), generator=torch.Generator().manual_seed(seed))
    max_len = 3
    ys, score = model.beam_search(src, max_len=max_len, bos_id=BOS, eos_id=EOS, beam_size=5)
    # every output the decoder can produce: up to max_len tokens, ending at the first <eos> (or cut at max_len)
    candidates = set()
    for seq in itertools.product(range(5), repeat=max_len):
        seq = list(seq)
        if EOS in seq:
            seq = seq[: seq.index(EOS) + 1]
        candidates.add(tuple(seq))
    best = max(candidates, key=lambda s: _log_prob(model, src, s))
    out = ys[0, 1:].tolist()
    out = out[: out.index(EOS) + 1] if EOS in out else out
    assert tuple(out) == best
    assert score.item() == pytest.approx(_log_prob(model, src, best), abs=1e-4)


def test_scores_are_the_log_probability_and_no_worse_than_greedy():
    model = _model(vocab=9, seed=3)
    src = torch.randint(1, 6, (6, 8), generator=torch.Generator().manual_seed(3))
    ys, scores = model.beam_search(src, max_len=5, bos_id=BOS, eos_id=EOS, beam_size=4)
    greedy = model.greedy_decode(src, max_len=5, bos_id=BOS, eos_id=EOS)
    for b in range(src.shape[0]):
        def tokens(row):
            row = row.tolist()[1:]
            return row[: row.index(EOS) + 1] if EOS in row else row
        assert scores[b].item() == pytest.approx(_log_prob(model, src[b : b + 1], tokens(ys[b])), abs=1e-4)
        assert scores[b].item() >= _log_prob(model, src[b : b + 1], tokens(greedy[b])) - 1e-4


def test_each_source_is_decoded_independently_of_the_batch():
    model = _model(vocab=9, seed=4)
    src = torch.randint(1, 6, (3, 6), generator=torch.Generator().manual_seed(4))
    batch, _ = model.beam_search(src, max_len=5, bos_id=BOS, eos_id=EOS, beam_size=3)
    for b in range(3):
        alone, _ = model.beam_search(src[b : b + 1], max_len=5, bos_id=BOS, eos_id=EOS, beam_size=3)
        assert torch.equal(batch[b, : alone.shape[1]], alone[0])
        assert (batch[b, alone.shape[1] :] == PAD).all()


def test_errors():
    model = _model(vocab=5)
    src = torch.ones(1, 3, dtype=torch.long)
    with pytest.raises(ValueError, match="beam_size"):
        model.beam_search(src, max_len=3, bos_id=BOS, eos_id=EOS, beam_size=6)
    with pytest.raises(ValueError):
        model.beam_search(src, max_len=3, bos_id=BOS, eos_id=EOS, beam_size=0)
