"""Autograding throughput and the cost of clean verdicts, with the instructor's real command.

A temporary course gets the ``attention`` source and the repository's nbgrader_config.py, the
release is generated (not timed), and ``SUBMISSIONS`` complete submissions are graded with
``python -m cs502_lib.course autograde --force`` at ``-j 1`` and at ``-j 2`` (each: nbgrader in
the student's kernel, then the clean verdict, then the gradebook). Measured in the same run:

* submissions per minute at ``-j 1`` and ``-j 2``; target: ``-j 2`` at least 1.6x faster;
* the clean verdict of one submission (``python -m cs502_lib.grading.verdict``: worker start,
  cells, every check and hidden suite) against nbgrader's kernel run of the same notebook;
  target: under 10 s per submission on 2 cores.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cs502_lib.course import make_course

from ._timing import Result

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
NAME = "attention"
SUBMISSIONS = 4
VERDICT_TARGET = 10.0
SPEEDUP_TARGET = 1.6


def _env() -> dict:
    return dict(os.environ, PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", "")]))


def _timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=_env())
    seconds = time.perf_counter() - start
    if out.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    return seconds


def _course(tmp: Path) -> Path:
    course = make_course(tmp / "course", ROOT, [NAME])
    _timed([str(BIN / "nbgrader"), "generate_assignment", NAME, "--force"], course)
    for i in range(SUBMISSIONS):
        dest = course / "submitted" / f"student{i}" / NAME
        dest.mkdir(parents=True)
        shutil.copy(course / "solutions" / NAME / f"{NAME}.ipynb", dest / f"{NAME}.ipynb")
    return course


def run() -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="bench_autograde_") as tmp:
        course = _course(Path(tmp))
        grade = [sys.executable, "-m", "cs502_lib.course", "autograde", NAME, "--force"]
        _timed(grade + ["-j", "2"], course)  # warm-up: the gradebook, caches, the first kernel start
        one = _timed(grade + ["-j", "1"], course)
        two = _timed(grade + ["-j", "2"], course)
        sub = course / "submitted" / "student0" / NAME / f"{NAME}.ipynb"
        release = course / "exercises" / NAME / f"{NAME}.ipynb"
        verdict_cmd = [sys.executable, "-m", "cs502_lib.grading.verdict", str(sub), "--assignment", NAME,
                       "--release", str(release), "--json", str(Path(tmp) / "v.json")]
        kernel_cmd = [str(BIN / "nbgrader"), "autograde", NAME, "--student", "student0", "--force"]
        verdicts, kernels = [], []
        for _ in range(3):
            verdicts.append(_timed(verdict_cmd, course))
            kernels.append(_timed(kernel_cmd, course))
    verdict, kernel = statistics.median(verdicts), statistics.median(kernels)
    per_min = lambda s: 60 * SUBMISSIONS / s  # noqa: E731
    return [
        Result(name=f"clean verdict of one {NAME} submission", ours=verdict, baseline=kernel,
               baseline_name="nbgrader autograde (kernel)", target=f"verdict <= {VERDICT_TARGET:g} s",
               met=verdict <= VERDICT_TARGET,
               detail=f"median of 3: clean verdict {verdict:.1f} s, nbgrader's kernel run {kernel:.1f} s"),
        Result(name=f"make autograde -j 2 vs -j 1 ({SUBMISSIONS} submissions)", ours=two, baseline=one,
               baseline_name="-j 1", target=f"-j 1 / -j 2 >= {SPEEDUP_TARGET:g}", met=one / two >= SPEEDUP_TARGET,
               detail=f"submissions per minute: -j 1 {per_min(one):.1f}, -j 2 {per_min(two):.1f} "
                      f"(speed-up {one / two:.2f}x)"),
    ]
