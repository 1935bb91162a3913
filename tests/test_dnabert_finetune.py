"""Fine-tuning and classical baselines of the DNABERT chapter: CLI contract, collapse detection, metrics.

Everything runs on a tiny model (k=3, one layer) and subsets of the tasks, in seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cs502_lib.dnabert import finetune as ft
from cs502_lib.dnabert.cli import build_parser, finetune_settings, main
from cs502_lib.dnabert.model import DNABertConfig, DNABertForMaskedLM
from cs502_lib.dnabert.classifier_baselines import kmer_frequencies, one_hot, run_baseline
from cs502_lib.dnabert.tasks import ModelCollapseError, check_not_collapsed, metrics, subsample, task_splits

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--max-train", "64", "--max-eval", "48", "--threads", "1", "--no-progress"]


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A randomly initialized tiny masked-LM model saved like the committed checkpoint."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny_ckpt")
    DNABertForMaskedLM(DNABertConfig(k=3, d_model=16, num_layers=1, num_heads=2, max_len=256)).save_pretrained(path)
    return path


def _last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def _check_metrics(res: dict, n_classes: int) -> None:
    for key in ("accuracy", "f1", "mcc"):
        assert isinstance(res[key], float), key
    assert 0.0 <= res["accuracy"] <= 1.0 and 0.0 <= res["f1"] <= 1.0 and -1.0 <= res["mcc"] <= 1.0
    assert sum(res["predicted_counts"]) == res["n"] and len(res["predicted_counts"]) == n_classes


# ---- the task splits --------------------------------------------------------------------------------


def test_task_splits_are_the_fixed_ones():
    (splice,) = task_splits("splice")
    assert len(splice.train_seqs) == 2000 and len(splice.evals["test"][0]) == 1186
    (tf,) = task_splits("tfbs")
    assert len(tf.train_seqs) == 7017 and len(tf.evals["heldout"][0]) == 780 and len(tf.evals["test"][0]) == 200
    folds = task_splits("promoters", folds=10)
    tested = sorted(i for f in folds for i in f.evals["test"][0])
    assert len(folds) == 10 and len(tested) == 106  # every promoter sequence is tested exactly once
    with pytest.raises(ValueError, match="task must be one of"):
        task_splits("enhancers")


def test_subsample_is_seeded_and_small():
    (split,) = task_splits("splice")
    a, b = subsample(split, 50, 30, seed=1), subsample(split, 50, 30, seed=1)
    assert len(a.train_seqs) == 50 and len(a.evals["test"][0]) == 30
    assert a.train_seqs == b.train_seqs and torch.equal(a.train_labels, b.train_labels)


# ---- metrics and collapse -------------------------------------------------------------------------------


def test_metrics_are_sane():
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    perfect = metrics(y, y, 3)
    assert perfect["accuracy"] == perfect["f1"] == perfect["mcc"] == 1.0
    assert perfect["predicted_counts"] == [2, 2, 2]
    wrong = metrics(y, torch.tensor([1, 1, 2, 2, 0, 0]), 3)
    assert wrong["accuracy"] == 0.0 and wrong["mcc"] < 0
    const = metrics(y, torch.zeros(6, dtype=torch.long), 3)
    assert const["accuracy"] == pytest.approx(1 / 3) and const["mcc"] == 0.0


def test_collapse_is_detected_with_a_helpful_message():
    check_not_collapsed(torch.tensor([0, 1, 0]), 2)  # two classes predicted: fine
    with pytest.raises(ModelCollapseError) as err:
        check_not_collapsed(torch.ones(40, dtype=torch.long), 2, split="test")
    msg = str(err.value)
    assert "collapse" in msg and "class 1 for all 40 test sequences" in msg
    for cause in ("learning rate", "unbalanced classes", "epochs"):
        assert cause in msg


def test_finetune_raises_on_collapse(tiny_checkpoint, monkeypatch):
    monkeypatch.setattr(ft, "predict", lambda model, seqs, batch_size=128: torch.zeros(len(seqs), dtype=torch.long))
    s = ft.FinetuneSettings(epochs=1, batch_size=32)
    with pytest.raises(ModelCollapseError, match="predicts class 0 for all"):
        ft.finetune("splice", checkpoint=tiny_checkpoint, settings=s, max_train=32, max_eval=20, progress=False)


def test_cli_exits_nonzero_on_collapse(tiny_checkpoint, monkeypatch, capsys):
    monkeypatch.setattr(ft, "predict", lambda model, seqs, batch_size=128: torch.full((len(seqs),), 2))
    code = main(["finetune", "--task", "splice", "--checkpoint", str(tiny_checkpoint), "--epochs", "1", *QUICK, "--json"])
    assert code == 3
    err = capsys.readouterr().err
    assert "model collapse" in err and "learning rate" in err


# ---- fine-tuning ----------------------------------------------------------------------------------------


def test_finetune_cli_json_last_line(tiny_checkpoint):
    """The contract: with --json the last line of stdout is one JSON object with accuracy, f1, mcc."""
    proc = subprocess.run(
        [sys.executable, "-m", "cs502_lib.dnabert", "finetune", "--task", "splice", "--checkpoint", str(tiny_checkpoint),
         "--epochs", "2", "--lr", "3e-3", *QUICK, "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr  # seeded: this tiny run does not collapse (exit 3 is tested above)
    res = _last_json(proc.stdout)
    _check_metrics(res, 3)
    assert res["task"] == "splice" and res["mode"] == "full" and res["init"] == "pretrained" and res["n"] == 48


def test_finetune_frozen_and_scratch_modes(tiny_checkpoint, capsys):
    before = torch.load(tiny_checkpoint / "model.pt")
    model = ft.load_classifier(2, tiny_checkpoint)
    enc_before = {n: p.clone() for n, p in model.bert.named_parameters()}
    seqs, labels = task_splits("tfbs")[0].train_seqs[:40], task_splits("tfbs")[0].train_labels[:40]
    s = ft.FinetuneSettings(epochs=2, batch_size=16, lr=1e-2)
    ft.train_classifier(model, seqs, labels, s, freeze_encoder=True, progress=False)
    for n, p in model.bert.named_parameters():  # the frozen encoder did not move
        assert torch.equal(p, enc_before[n]), n
    ft.train_classifier(model, seqs, labels, s, freeze_encoder=False, progress=False)
    assert any(not torch.equal(p, enc_before[n]) for n, p in model.bert.named_parameters())
    # pretrained weights are loaded; scratch ones are not
    assert torch.equal(ft.load_classifier(2, tiny_checkpoint).bert.embeddings.base.weight, before["bert.embeddings.base.weight"])
    scratch = ft.load_classifier(2, tiny_checkpoint, from_scratch=True, seed=5)
    assert not torch.equal(scratch.bert.embeddings.base.weight, before["bert.embeddings.base.weight"])
    assert scratch.config.k == 3  # the architecture comes from the checkpoint's config


def test_finetune_promoters_cv_and_tfbs_heldout(tiny_checkpoint):
    s = ft.FinetuneSettings(epochs=1, batch_size=32, lr=1e-3)
    res = ft.finetune("promoters", checkpoint=tiny_checkpoint, settings=s, folds=3, progress=False,
                      check_collapse=False)
    assert res["n"] == 106 and "3-fold" in res["protocol"] and res["settings"]["folds"] == 3
    _check_metrics(res, 2)
    res = ft.finetune("tfbs", checkpoint=tiny_checkpoint, settings=s, freeze_encoder=True, max_train=48, max_eval=30,
                      progress=False, check_collapse=False)
    assert res["mode"] == "frozen" and res["heldout"]["n"] == 30 and res["n"] == 30
    _check_metrics(res["heldout"], 2)


def test_finetune_is_seeded_and_saves(tiny_checkpoint, tmp_path):
    s = ft.FinetuneSettings(epochs=1, batch_size=16, lr=3e-3)
    kw = dict(checkpoint=tiny_checkpoint, settings=s, max_train=48, max_eval=40, progress=False, check_collapse=False)
    a = ft.finetune("splice", save=tmp_path / "m", **kw)
    b = ft.finetune("splice", **kw)
    assert a["train_loss"] == b["train_loss"] and a["predicted_counts"] == b["predicted_counts"]
    info = json.loads((tmp_path / "m" / "finetune.json").read_text())
    assert info["task"] == "splice" and info["pooling"] == "mean"
    again = ft.load_classifier(3, tmp_path / "m")  # reloads classifier and pooling
    assert again.pooling == "mean" and again.num_labels == 3
    with pytest.raises(ValueError, match="not available for promoters"):
        ft.finetune("promoters", save=tmp_path / "p", **kw)


def test_finetune_errors(tmp_path):
    with pytest.raises(ValueError, match="no pretrained checkpoint"):
        ft.load_classifier(2, tmp_path)
    with pytest.raises(ValueError, match="pooling"):
        ft.FinetuneSettings(pooling="median")
    with pytest.raises(ValueError, match="probe_epochs"):
        ft.FinetuneSettings(probe_epochs=-1)
    with pytest.raises(ValueError, match="probe_lr"):
        ft.FinetuneSettings(probe_lr=0.0)
    assert main(["finetune", "--task", "splice", "--checkpoint", str(tmp_path), "--threads", "1"]) == 2


def test_max_pooling_ignores_padding_and_picks_the_strongest_token(tiny_checkpoint):
    model = ft.load_classifier(2, tiny_checkpoint, pooling="max").eval()
    short, long = "ACGTTGCAAC", "ACGTTGCAACGGATTACAGGCT"
    ids, mask = ft.encode(model, [short, long])
    assert not mask[0].all()  # the short sequence is padded in this batch
    alone = model(*ft.encode(model, [short]))
    with torch.no_grad():
        torch.testing.assert_close(model(ids, mask)[:1], alone)  # padding changes nothing
        z = torch.tanh(model.pooler(model.bert(*ft.encode(model, [long]))))
        torch.testing.assert_close(model.pooled(*ft.encode(model, [long])), z.amax(1))
        # the head does not care where a token vector sits: shuffling the tokens changes nothing
        h = torch.randn(3, 9, model.config.d_model)
        torch.testing.assert_close(model.head(h), model.head(h[:, torch.randperm(9)]))


def test_probe_stage_trains_the_head_on_a_frozen_encoder_first(tiny_checkpoint, monkeypatch):
    calls = []
    real = ft.train_classifier

    def spy(model, seqs, labels, s, *, freeze_encoder=False, **kw):
        encoder = {n: p.clone() for n, p in model.bert.named_parameters()}
        head = {n: p.clone() for n, p in model.named_parameters() if not n.startswith("bert.")}
        out = real(model, seqs, labels, s, freeze_encoder=freeze_encoder, **kw)
        calls.append((freeze_encoder, s.epochs, s.lr,
                      all(torch.equal(p, encoder[n]) for n, p in model.bert.named_parameters()),
                      any(not torch.equal(p, head[n]) for n, p in model.named_parameters() if not n.startswith("bert."))))
        return out

    monkeypatch.setattr(ft, "train_classifier", spy)
    split = task_splits("tfbs")[0]
    model = ft.load_classifier(2, tiny_checkpoint, pooling="max")
    s = ft.FinetuneSettings(epochs=1, lr=1e-3, batch_size=16, pooling="max", probe_epochs=3, probe_lr=5e-3)
    losses = ft.train_classifier(model, split.train_seqs[:32], split.train_labels[:32], s, progress=False)
    assert len(losses) == 1
    # first the head alone (3 epochs at probe_lr, encoder untouched), then everything (1 epoch at lr)
    assert calls == [(True, 3, 5e-3, True, True), (False, 1, 1e-3, False, True)]
    assert all(p.requires_grad for p in model.parameters())  # the encoder is trainable again afterwards


def test_cli_options_override_the_task_defaults():
    p = build_parser()
    args = p.parse_args(["finetune", "--task", "tfbs", "--pooling", "mean", "--probe-epochs", "0", "--probe-lr", "0.01",
                         "--epochs", "1"])
    s = finetune_settings(args)
    assert (s.pooling, s.probe_epochs, s.probe_lr, s.epochs) == ("mean", 0, 0.01, 1)
    assert s.lr == ft.DEFAULTS["tfbs", "full"].lr  # what was not given keeps the task's default
    assert finetune_settings(p.parse_args(["finetune", "--task", "tfbs"])) == ft.DEFAULTS["tfbs", "full"]


# ---- baselines ------------------------------------------------------------------------------------------


def test_features():
    f = kmer_frequencies(["ACGTA", "AAAAA"], k=2)
    assert f.shape == (2, 16) and torch.allclose(f.sum(1), torch.ones(2))
    assert f[1, 0] == 1.0  # AA is k-mer 0
    x = one_hot(["ACGT"])
    assert x.shape == (1, 4, 4) and torch.equal(x[0], torch.eye(4))


@pytest.mark.parametrize("model", ["kmer-lr", "onehot-lr", "cnn"])
def test_baselines_on_subsets(model):
    res = run_baseline("splice", model, k=3, epochs=2, max_train=300, max_eval=200)
    _check_metrics(res, 3)
    assert res["n"] == 200 and res["accuracy"] > 0.4  # better than always "neither" (about half)


def test_baseline_cli_json_and_tfbs_heldout(capsys):
    assert main(["baseline", "--task", "tfbs", "--model", "kmer-lr", "--k", "3", "--max-train", "300",
                 "--max-eval", "100", "--threads", "1", "--json"]) == 0
    res = _last_json(capsys.readouterr().out)
    _check_metrics(res, 2)
    assert res["heldout"]["n"] == 100 and res["params"]["k"] == 3


def test_kmer_lr_promoters_leave_one_out_protocol():
    res = run_baseline("promoters", "kmer-lr", k=3, folds=106)
    assert res["n"] == 106 and "leave-one-out" in res["protocol"] and res["accuracy"] > 0.7


def test_flatten_head_trains_saves_and_reloads(tiny_checkpoint, tmp_path):
    s = ft.FinetuneSettings(epochs=1, batch_size=16, lr=3e-3, pooling="flatten")
    kw = dict(checkpoint=tiny_checkpoint, settings=s, max_train=48, max_eval=40, progress=False, check_collapse=False)
    res = ft.finetune("splice", save=tmp_path / "flat", **kw)
    _check_metrics(res, 3)
    info = json.loads((tmp_path / "flat" / "finetune.json").read_text())
    assert info["pooling"] == "flatten" and info["length"] == 60 - 3 + 1 + 2
    model = ft.load_classifier(3, tmp_path / "flat")
    assert model.pooling == "flatten" and model.flatten_length == 60
    seqs = task_splits("splice")[0].evals["test"][0][:40]
    # the reloaded model predicts what the saved one did (same subsample of the test split)
    assert torch.bincount(ft.predict(model, subsample(task_splits("splice")[0], 48, 40).evals["test"][0]),
                          minlength=3).tolist() == res["predicted_counts"]
    with pytest.raises(ValueError, match="needs 60 tokens"):
        model(*ft.encode(model, [seqs[0][:30]]))
    frozen = ft.finetune("splice", freeze_encoder=True, **kw)  # frozen mode caches the token vectors
    _check_metrics(frozen, 3)


# ---- the command line ------------------------------------------------------------------------------------


def test_cli_older_command_names_and_the_threads_check(capsys):
    p = build_parser()
    for new, old, rest in (("mlm-baselines", "baselines", []), ("classifier-baseline", "baseline",
                                                                  ["--task", "tfbs", "--model", "cnn"])):
        assert p.parse_args([old, *rest]).func is p.parse_args([new, *rest]).func  # one subparser, two names
    for command in (["finetune", "--task", "splice"], ["baseline", "--task", "tfbs", "--model", "cnn"],
                    ["pretrain", "--out", "unused"]):
        assert main([*command, "--threads", "0"]) == 2
        assert "--threads must be at least 1" in capsys.readouterr().err
    assert main(["study", "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err


def test_results_command_keeps_its_older_module_spelling():
    proc = subprocess.run([sys.executable, "-m", "cs502_lib.dnabert.results", "--help"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0 and "--study" in proc.stdout and "dnabert results" in proc.stdout
