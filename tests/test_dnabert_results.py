"""The committed results cache of the DNABERT chapters matches the code and checkpoint it claims to come from."""

from __future__ import annotations

import hashlib
from dataclasses import asdict

import pytest

from cs502_lib.dnabert.finetune import DEFAULTS, FinetuneSettings
from cs502_lib.dnabert.model import DEFAULT_CHECKPOINT
from cs502_lib.dnabert.results import PUBLISHED, load_results, results_table
from cs502_lib.dnabert.classifier_baselines import MODELS
from cs502_lib.dnabert.tasks import TASKS

RESULTS = load_results()


def test_cache_was_made_with_the_committed_checkpoint():
    sha = hashlib.sha256((DEFAULT_CHECKPOINT / "model.pt").read_bytes()).hexdigest()
    assert RESULTS["checkpoint"]["model_pt_sha256"] == sha, "rerun `python -m cs502_lib.dnabert.results`"


@pytest.mark.parametrize("task", TASKS)
def test_cache_holds_every_run_with_the_current_recipes(task):
    runs = {(r["mode"], r["init"]): r for r in RESULTS["finetune"] if r["task"] == task}
    assert set(runs) == {(m, i) for m in ("full", "frozen") for i in ("pretrained", "scratch")}
    for (mode, _), r in runs.items():
        # a setting added after the run counts as its class default (new settings default to the old behaviour)
        recorded = asdict(FinetuneSettings()) | {k: v for k, v in r["settings"].items() if k not in ("seed", "folds")}
        assert recorded == asdict(DEFAULTS[task, mode]), f"{task}/{mode}: the cached run used other settings than DEFAULTS"
        assert "error" not in r, f"{task}/{mode}: {r.get('error')}"
        assert 0.0 <= r["accuracy"] <= 1.0 and r["seconds"] > 0
    assert {r["model"] for r in RESULTS["baselines"] if r["task"] == task} == set(MODELS)


@pytest.mark.parametrize("task", TASKS)
def test_results_table_lists_runs_baselines_and_published_figures(task):
    rows = results_table(RESULTS, task)
    assert len(rows) == 4 + len(MODELS) + len(PUBLISHED[task])
    assert sum(r["source"].startswith("published") for r in rows) == len(PUBLISHED[task])
    if task == "tfbs":
        assert all(r["heldout"] is not None for r in rows if not r["source"].startswith("published"))
