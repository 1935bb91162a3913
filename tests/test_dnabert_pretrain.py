"""Pretraining loop: DDP equals one process on the same global batch, resume equals an uninterrupted run."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from cs502_lib.dnabert import pretrain
from cs502_lib.dnabert.cli import build_parser, main, pretrain_settings
from cs502_lib.dnabert.data import GenomeCorpus, shard_rows
from cs502_lib.dnabert.optim import pretrain_lr_factor as lr_factor

REPO = Path(__file__).resolve().parents[1]
GENOME_CODE = "import numpy as np; GENOME = ''.join(np.random.default_rng(0).choice(list('ACGT'), 20000))"
exec(GENOME_CODE)  # defines GENOME, the same toy genome as in the torchrun helper below

TINY = ["--k", "3", "--layers", "1", "--d-model", "16", "--heads", "2", "--conv-kernel", "3",
        "--batch-size", "4", "--seq-len", "16", "--warmup", "2", "--eval-windows", "4",
        "--log-every", "1", "--threads", "1", "--no-progress", "--seed", "3"]


def _settings(out, *extra):
    return pretrain_settings(build_parser().parse_args(["pretrain", "--out", str(out), *TINY, *extra]))


def _pretrain(out, *extra):
    torch.set_num_threads(1)  # TINY's --threads 1, which the command line would apply
    return pretrain.pretrain(_settings(out, *extra), genome=GENOME)


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def test_shards_cover_the_global_batch():
    rows = [shard_rows(8, r, 2) for r in range(2)]
    assert rows == [(0, 4), (4, 8)]
    with pytest.raises(ValueError, match="divisible"):
        shard_rows(5, 0, 2)
    corpus = GenomeCorpus(GENOME, 3)
    a = corpus.train_batch(3, 7, 8, 16)
    b = corpus.train_batch(3, 7, 8, 16)
    assert torch.equal(torch.cat([a.rows(*rows[0]).masked_ids, a.rows(*rows[1]).masked_ids]), b.masked_ids)


def test_ddp_two_processes_equal_one_process(tmp_path):
    helper = tmp_path / "helper.py"
    helper.write_text(textwrap.dedent(f"""
        import sys
        {GENOME_CODE}
        import torch
        from cs502_lib.dnabert import pretrain
        from cs502_lib.dnabert.cli import build_parser, pretrain_settings
        torch.set_num_threads(1)
        pretrain.pretrain(pretrain_settings(build_parser().parse_args(sys.argv[1:])), genome=GENOME)
    """))
    ddp_out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(helper),
           "pretrain", "--out", str(ddp_out), *TINY, "--steps", "4", "--eval-every", "2", "--save-rank-states"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "processes 2" in proc.stderr

    single_out = tmp_path / "single"
    _pretrain(single_out, "--steps", "4", "--eval-every", "2")

    rank0, rank1 = _weights(ddp_out / "rank0.pt"), _weights(ddp_out / "rank1.pt")
    single = _weights(single_out / "model" / "model.pt")
    moved = False
    for name, p in single.items():
        assert torch.equal(rank0[name], rank1[name]), f"{name} differs between the ranks"
        torch.testing.assert_close(rank0[name], p, rtol=1e-4, atol=1e-5, msg=f"{name}: DDP != single process")
    init = pretrain.DNABertForMaskedLM(pretrain.model_config(_settings(single_out))).state_dict()
    moved = any(not torch.equal(init[n], single[n]) for n in single)
    assert moved
    # the logged losses agree too (all-reduced over the ranks)
    log_ddp = [json.loads(line) for line in (ddp_out / "log.jsonl").read_text().splitlines()]
    log_one = [json.loads(line) for line in (single_out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log_ddp] == [1, 2, 3, 4]
    for a, b in zip(log_ddp, log_one):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
        assert a["train_acc"] == pytest.approx(b["train_acc"])
        assert a.get("eval_acc") == pytest.approx(b.get("eval_acc"))


def test_resume_equals_uninterrupted_run(tmp_path):
    whole = tmp_path / "whole"
    _pretrain(whole, "--steps", "6", "--eval-every", "3")
    split = tmp_path / "split"
    _pretrain(split, "--steps", "6", "--eval-every", "3", "--stop-at", "3", "--dropout", "0.1")
    assert json.loads((split / "log.jsonl").read_text().splitlines()[-1])["step"] == 3
    # the model and data options come from the checkpoint (dropout was 0.1 there, so it must stay 0.1) ...
    _pretrain(split, "--steps", "6", "--eval-every", "3", "--resume")
    # ... so compare with an uninterrupted run that had the same dropout
    whole_d = tmp_path / "whole_d"
    _pretrain(whole_d, "--steps", "6", "--eval-every", "3", "--dropout", "0.1")
    a, b = _weights(whole_d / "model" / "model.pt"), _weights(split / "model" / "model.pt")
    for name in a:
        assert torch.equal(a[name], b[name]), name
    steps = [json.loads(line)["step"] for line in (split / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]
    ckpt = torch.load(split / "checkpoint.pt", weights_only=False)
    assert ckpt["step"] == 6 and "optimizer" in ckpt and len(ckpt["log"]) == 6
    assert not torch.equal(_weights(whole / "model" / "model.pt")["mlm_head.out.weight"], a["mlm_head.out.weight"])


def test_eval_records_and_accuracy_range(tmp_path):
    rec = _pretrain(tmp_path, "--steps", "4", "--eval-every", "2")
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [("eval_acc" in r) for r in log] == [False, True, False, True]
    assert rec == log[-1] and 0.0 <= rec["eval_acc"] <= 1.0 and rec["eval_tokens"] > 0
    assert {"step", "loss", "train_acc", "lr", "elapsed"} <= set(rec)
    # the report subcommand draws the curves
    assert main(["report", str(tmp_path), "--png", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").stat().st_size > 1000


def test_learning_rate_schedule():
    assert lr_factor(1, 10, 0.0, 0.0) == pytest.approx(0.1)
    assert lr_factor(50, 10, 0.5, 0.2) == 1.0
    assert lr_factor(50, 10, 0.9, 0.2) == pytest.approx(0.5)
    assert lr_factor(50, 10, 1.0, 0.2) == 0.0


def test_cli_rejects_bad_arguments(tmp_path, capsys):
    assert main(["pretrain", "--out", str(tmp_path), "--lr", "-1"]) == 2
    assert "lr must be positive" in capsys.readouterr().err
    assert main(["pretrain", "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "no checkpoint" in capsys.readouterr().err
