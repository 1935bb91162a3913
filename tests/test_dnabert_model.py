"""DNABERT-mini: shapes, the factorized head's loss and accuracy, save/load round trips, baselines."""

import math

import numpy as np
import pytest
import torch

from cs502_lib.bio import KmerTokenizer, span_mask
from cs502_lib.dnabert.mlm_baselines import CountModel, frequency_baseline, neighbour_count_baseline, window_bases
from cs502_lib.dnabert.data import GenomeCorpus
from cs502_lib.dnabert.model import (
    DNABertConfig,
    DNABertForMaskedLM,
    DNABertForSequenceClassification,
    base_labels,
    masked_lm_loss,
    masked_token_accuracy,
    predicted_kmer_ids,
)
from cs502_lib.dnabert.pretrain import evaluate

TINY = dict(k=3, d_model=16, num_layers=1, num_heads=2, max_len=64)


def kmer_id(s: str) -> int:
    return 5 + int("".join(str("ACGT".index(c)) for c in s), 4)


def one_hot_logits(kmers: list[str]) -> torch.Tensor:
    """(len, k, 4) logits whose per-base argmax spells the given k-mers."""
    k = len(kmers[0])
    out = torch.zeros(len(kmers), k, 4)
    for i, s in enumerate(kmers):
        for j, c in enumerate(s):
            out[i, j, "ACGT".index(c)] = 5.0
    return out


@pytest.mark.parametrize("conv", [0, 5])
def test_shapes_and_padding(conv):
    model = DNABertForMaskedLM(DNABertConfig(**TINY, conv_kernel=conv)).eval()
    ids, mask = KmerTokenizer(3).encode_batch(["ACGTACGTAC", "ACGTA"])
    logits = model(ids, mask)
    assert logits.shape == (2, ids.shape[1], 3, 4)
    # Padding does not change the real tokens' outputs.
    alone = model(*KmerTokenizer(3).encode_batch(["ACGTA"]))
    torch.testing.assert_close(logits[1, : alone.shape[1]], alone[0], atol=1e-5, rtol=1e-5)
    clf = DNABertForSequenceClassification(DNABertConfig(**TINY, conv_kernel=conv), num_labels=3)
    assert clf(ids, mask).shape == (2, 3)
    assert clf.classify(ids, mask).shape == (2,)


def test_bad_arguments():
    with pytest.raises(ValueError, match="divisible"):
        DNABertConfig(d_model=10, num_heads=4)
    with pytest.raises(ValueError, match="conv_kernel"):
        DNABertConfig(conv_kernel=4)
    model = DNABertForMaskedLM(DNABertConfig(**TINY))
    with pytest.raises(ValueError, match="max_len"):
        model(torch.full((1, 65), 7))
    with pytest.raises(ValueError, match="torch.long"):
        model(torch.full((1, 5), 7.0))
    with pytest.raises(ValueError, match="bool"):
        model(torch.full((1, 5), 7), torch.ones(1, 5))
    with pytest.raises(ValueError, match="num_labels"):
        DNABertForSequenceClassification(DNABertConfig(**TINY), num_labels=1)


def test_factorized_accuracy_needs_all_bases_right():
    labels = torch.tensor([[-100, kmer_id("ACG"), kmer_id("CGT"), kmer_id("GTT"), -100]])
    # predictions: position 1 right, position 2 one base wrong, position 3 right; unmasked ones ignored
    logits = one_hot_logits(["TTT", "ACG", "CGA", "GTT", "AAA"]).unsqueeze(0)
    assert masked_token_accuracy(logits, labels) == (2, 3)
    assert predicted_kmer_ids(logits)[0].tolist() == [kmer_id(s) for s in ["TTT", "ACG", "CGA", "GTT", "AAA"]]
    assert masked_token_accuracy(logits, torch.full_like(labels, -100)) == (0, 0)


def test_loss_is_mean_cross_entropy_over_masked_bases():
    torch.manual_seed(0)
    labels = torch.tensor([[-100, kmer_id("ACG"), kmer_id("TTA")]])
    logits = torch.randn(1, 3, 3, 4)
    targets = base_labels(labels, 3)
    assert targets[0, 0].tolist() == [-100] * 3 and targets[0, 2].tolist() == [3, 3, 0]
    manual = -torch.log_softmax(logits[0, 1:], -1).gather(-1, targets[0, 1:].unsqueeze(-1)).mean()
    torch.testing.assert_close(masked_lm_loss(logits, labels), manual)
    torch.testing.assert_close(masked_lm_loss(logits, labels, reduction="sum"), manual * 6)
    # uniform logits give ln 4 per base: chance
    assert math.isclose(float(masked_lm_loss(torch.zeros(1, 3, 3, 4), labels)), math.log(4), rel_tol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        masked_lm_loss(torch.zeros(1, 3, 4), labels)


def test_evaluate_on_a_toy_case():
    class Fixed(torch.nn.Module):
        """Predicts 'ACG' everywhere."""

        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(1))

        def forward(self, ids):
            return one_hot_logits(["ACG"]).expand(*ids.shape, 3, 4)

    from cs502_lib.dnabert.data import MaskedBatch

    ids = torch.tensor([[2, kmer_id("ACG"), kmer_id("CGT"), 3], [2, kmer_id("ACG"), kmer_id("ACG"), 3]])
    labels = torch.tensor([[-100, kmer_id("ACG"), kmer_id("CGT"), -100], [-100, -100, kmer_id("ACG"), -100]])
    res = evaluate(Fixed(), MaskedBatch(ids, ids.masked_fill(labels != -100, 4), labels), batch_size=1)
    assert res["eval_acc"] == pytest.approx(2 / 3) and res["eval_tokens"] == 3


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(1)
    model = DNABertForMaskedLM(DNABertConfig(**TINY, conv_kernel=3, kmer_embedding=True)).eval()
    model.save_pretrained(tmp_path / "ckpt")
    again = DNABertForMaskedLM.from_pretrained(tmp_path / "ckpt").eval()
    ids = torch.randint(5, 69, (2, 9))
    torch.testing.assert_close(model(ids), again(ids), rtol=0, atol=0)
    assert again.config == model.config
    # the classifier takes the encoder from a masked-LM checkpoint
    clf = DNABertForSequenceClassification.from_pretrained(tmp_path / "ckpt", num_labels=2).eval()
    torch.testing.assert_close(clf.bert(ids), model.bert(ids), rtol=0, atol=0)
    clf.freeze_encoder()
    assert not any(p.requires_grad for p in clf.bert.parameters())
    assert all(p.requires_grad for p in clf.classifier.parameters())
    # and a classifier reloads completely
    clf.save_pretrained(tmp_path / "clf")
    clf2 = DNABertForSequenceClassification.from_pretrained(tmp_path / "clf").eval()
    torch.testing.assert_close(clf(ids), clf2(ids), rtol=0, atol=0)
    with pytest.raises(ValueError, match="not a DNABERT checkpoint"):
        DNABertForMaskedLM.from_pretrained(tmp_path / "nothing")


def test_committed_checkpoint_loads():
    from cs502_lib.dnabert.model import DEFAULT_CHECKPOINT

    if not (DEFAULT_CHECKPOINT / "model.pt").is_file():
        pytest.skip("no committed checkpoint yet")
    model = DNABertForMaskedLM.from_pretrained()
    assert model.config.k == 6
    assert (DEFAULT_CHECKPOINT / "model.pt").stat().st_size <= 10 * 2**20
    clf = DNABertForSequenceClassification.from_pretrained(num_labels=2)
    ids, mask = KmerTokenizer(6).encode_batch(["ACGTACGTACGTAGCTAGCTAGCATCGA"])
    assert clf(ids, mask).shape == (1, 2)


def _random_genome(n, seed=0):
    rng = np.random.default_rng(seed)
    return "".join(rng.choice(list("ACGT"), n))


def test_corpus_windows_both_strands_and_heldout():
    from cs502_lib.bio import reverse_complement

    g = _random_genome(2000)
    corpus = GenomeCorpus(g, 3, heldout_frac=0.1)
    tok = KmerTokenizer(3)
    ids = corpus.windows(torch.tensor([10, 50]), torch.tensor([False, True]), 12)
    assert tok.decode(ids[0]) == g[10:22] and tok.decode(ids[1]) == reverse_complement(g[50:62])
    a = corpus.train_batch(seed=0, step=3, batch_size=8, seq_len=12)
    b = corpus.train_batch(seed=0, step=3, batch_size=8, seq_len=12)
    assert torch.equal(a.masked_ids, b.masked_ids) and torch.equal(a.labels, b.labels)
    held = corpus.heldout_set(50, 12)
    for row in held.ids:  # every held-out window lies in the last 10 %, on either strand
        s = tok.decode(row)
        assert s in g[1800:] or reverse_complement(s) in g[1800:]


def test_baselines_on_a_periodic_genome():
    # A period-7 genome: every base is determined by its neighbours, so the count model is perfect.
    g = "ACGGTCA" * 400
    corpus = GenomeCorpus(g, 3, heldout_frac=0.1)
    data = corpus.heldout_set(20, 16)
    known = window_bases(data.masked_ids, 3)
    truth = window_bases(data.ids, 3)
    assert ((known == truth) | (known == -1)).all() and (truth >= 0).all()
    res = neighbour_count_baseline(corpus, data, context=3)
    assert res[3] == 1.0 and res[1] < 1.0  # one base per side is ambiguous once both strands are counted
    freq = frequency_baseline(corpus, data)
    assert 0.0 < freq["accuracy"] < 0.5
    with pytest.raises(ValueError, match="context"):
        CountModel(corpus.train_codes(), 9)


def test_an_isolated_span_of_k_masked_tokens_hides_one_base():
    ids = KmerTokenizer(3).encode("ACGTTGCAAGTCCA").unsqueeze(0)  # 12 k-mers
    masked = ids.clone()
    masked[0, 5:8] = 4  # one isolated span of k=3 tokens
    known = window_bases(masked, 3)
    assert int((known < 0).sum()) == 1 and int(known[0].tolist().index(-1)) == 4 + 3 - 1
