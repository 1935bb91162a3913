"""Chapter 10's study: the committed cache holds every run of the recipe, made with today's settings.

The cache (``cs502_lib/dnabert/results/study.json``) is written by ``python -m cs502_lib.dnabert study``;
these tests keep it and the recipe (:func:`cs502_lib.dnabert.study.recipe`) in step, rerun a few
cheap runs to see that the recipe still gives the cached numbers, and check the reporting code.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from cs502_lib.dnabert import study as st  # noqa: E402
from cs502_lib.dnabert.adapt import AdaptSettings, SequenceCorpus, adapt  # noqa: E402
from cs502_lib.dnabert.cli import main  # noqa: E402
from cs502_lib.dnabert.results import (  # noqa: E402
    FRACTIONS, LABEL_METHODS, format_results, label_curves, paired, plot_label_efficiency, seeds_table, summary,
)
from cs502_lib.dnabert.tasks import TASKS, label_fraction, task_splits  # noqa: E402

STUDY = st.load_study()
RUNS, PRETRAININGS = st.recipe()


def test_every_run_of_the_recipe_is_cached_with_todays_settings():
    missing = [r.key for r in RUNS if r.key not in STUDY["runs"]]
    assert not missing, f"{len(missing)} runs of the recipe are not cached, e.g. {missing[:3]}: run `python -m cs502_lib.dnabert study`"
    changed = [r.key for r in RUNS if STUDY["runs"][r.key]["settings"] != st.run_settings(r)]
    assert not changed, f"cached with other settings than the recipe gives today: {changed[:3]}"
    extra = set(STUDY["runs"]) - {r.key for r in RUNS}
    assert not extra, f"the cache holds runs that the recipe no longer has: {sorted(extra)[:3]}"


def test_every_pretraining_is_cached_with_todays_settings():
    work = Path("runs/study")
    for p in PRETRAININGS:
        assert STUDY["pretraining"][p.name]["settings"] == p.settings(work), p.name
    assert set(STUDY["pretraining"]) == {p.name for p in PRETRAININGS}


def test_every_method_has_five_seeds_and_every_label_fraction_three():
    for task in TASKS:
        for row in seeds_table(STUDY, task):
            if row["key"]:
                assert row["n"] == len(st.SEEDS) >= 5, (task, row["key"])
    for task in st.LABEL_TASKS:
        for method, points in label_curves(STUDY, task).items():
            assert [p["fraction"] for p in points] == list(FRACTIONS)
            assert all(p["n"] == 3 for p in points), (task, method)


@pytest.mark.parametrize("key", ["promoters/onehot-lr/f1/s1", "splice/cnn/f0.01/s2", "tfbs/kmer-lr/f0.03/s1",
                                 "splice/dnabert-full-pretrained/f0.01/s0"])
def test_the_recipe_reproduces_cached_runs(key):
    run = next(r for r in RUNS if r.key == key)
    torch_threads = torch.get_num_threads()
    try:
        rec = st._execute(run, Path("runs/study"))
    finally:
        torch.set_num_threads(torch_threads)
    cached = STUDY["runs"][key]
    assert rec["settings"] == cached["settings"]
    # one thread is deterministic on one machine; another CPU may sum in another order: a sequence or two of slack
    assert abs(rec["accuracy"] - cached["accuracy"]) <= 2 / rec["n"] + 1e-9, (rec["accuracy"], cached["accuracy"])


def test_label_fraction_is_stratified_seeded_and_keeps_the_test_set():
    split = task_splits("splice")[0]
    a, b, a2 = (label_fraction(split, 0.1, seed=s) for s in (0, 1, 0))
    counts = torch.bincount(split.train_labels)
    assert torch.bincount(a.train_labels).tolist() == [round(0.1 * int(c)) for c in counts]
    assert a.train_seqs == a2.train_seqs and a.train_seqs != b.train_seqs
    assert a.evals is split.evals and label_fraction(split, 1.0) is split
    assert len(label_fraction(split, 0.0001).train_seqs) == 3  # at least one per class
    with pytest.raises(ValueError, match="fraction must be in"):
        label_fraction(split, 0.0)


def test_summary_and_paired_differences():
    s = summary([0.9, 0.92, 0.94])
    assert s["mean"] == pytest.approx(0.92) and s["sd"] == pytest.approx(0.02) and s["n"] == 3
    fake = {"runs": {f"t/{m}/f1/s{i}": {"settings": {"seed": i}, "accuracy": a}
                     for m, accs in (("a", [0.90, 0.91, 0.92]), ("b", [0.80, 0.82, 0.81])) for i, a in enumerate(accs)}}
    d = paired(fake, "t", "a", "b", seeds=(0, 1, 2))
    assert d["diff"] == pytest.approx(0.1) and d["n"] == 3 and d["low"] > 0 and not d["inside_noise"]
    same = paired(fake, "t", "a", "a", seeds=(0, 1, 2))
    assert same["diff"] == 0 and same["inside_noise"]
    with pytest.raises(ValueError, match="need at least 2"):
        paired(fake, "t", "a", "b", seeds=(0,))


def test_results_report_every_task_with_spreads_and_a_page_wide_figure():
    text = format_results(STUDY)
    for task in TASKS:
        assert task.upper() in text
    assert "+-" in text and "LABEL EFFICIENCY" in text and "COMPUTE" in text
    fig = plot_label_efficiency(STUDY)
    assert fig.get_size_inches()[0] <= 7.5 and len(fig.axes) == len(st.LABEL_TASKS)
    for ax in fig.axes:
        assert len(ax.get_lines()) == len(LABEL_METHODS)
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_results_command_prints_the_tables(capsys):
    assert main(["results"]) == 0
    assert "LABEL EFFICIENCY" in capsys.readouterr().out


def test_sequence_corpus_masks_spans_of_real_tokens():
    corpus = SequenceCorpus(["ACGTACGTACGTACGTACGT", "TTTTGGGGCCCCAAAATTTT"], k=3)
    b = corpus.batch(torch.Generator().manual_seed(0), 8)
    assert b.ids.shape == (8, 20) and b.masked_ids.shape == b.ids.shape
    masked = b.labels != -100
    assert torch.equal(b.ids[masked], b.labels[masked]) and (b.masked_ids[masked] == 4).all()
    with pytest.raises(ValueError, match="at least one sequence"):
        SequenceCorpus([], k=3)


def test_adapt_writes_a_checkpoint_that_finetune_accepts(tmp_path):
    rec = adapt("splice", tmp_path / "tapt", AdaptSettings(steps=2, batch_size=4))
    assert (tmp_path / "tapt" / "model.pt").is_file() and (tmp_path / "tapt" / "adapt.json").is_file()
    assert 0 <= rec["before"]["eval_acc"] <= 1 and rec["after"]["eval_tokens"] == rec["before"]["eval_tokens"]
    from cs502_lib.dnabert.finetune import FinetuneSettings, finetune

    res = finetune("splice", checkpoint=tmp_path / "tapt", freeze_encoder=True, max_train=30, max_eval=20, progress=False,
                   check_collapse=False, settings=FinetuneSettings(epochs=1, pooling="flatten"))
    assert res["n"] == 20
    with pytest.raises(ValueError, match="'tfbs' or 'splice'"):
        adapt("promoters", tmp_path / "x")


def test_study_refuses_unknown_parts():
    with pytest.raises(ValueError, match="parts must be among"):
        st.run_study(["everything"])
