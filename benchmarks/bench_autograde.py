"""Autograding one submission per assignment (nbgrader autograde) against plain execution of the same notebook.

For each assignment a temporary course folder gets the source and the repository's
nbgrader_config.py, the release is generated (not timed), and one student's complete
submission is graded with ``nbgrader autograde`` (timed: process start, kernel start,
every cell, hidden tests restored, scores written to the gradebook). The baseline is
``jupyter nbconvert --execute`` of the same notebook (kernel start and every cell, no
grading). Target: under 30 s per submission on 2 CPU cores.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cs502_lib.course import ASSIGNMENTS, make_course

from ._timing import Result

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TARGET = 30.0


def _env() -> dict:
    return dict(os.environ, PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", "")]))


def _timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=_env())
    seconds = time.perf_counter() - start
    if out.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return seconds


def measure(name: str, tmp: Path) -> tuple[float, float]:
    """(autograde seconds, nbconvert --execute seconds) of the complete submission of ``name``."""
    course = make_course(tmp / name, ROOT, [name])
    _timed([str(BIN / "nbgrader"), "generate_assignment", name, "--force"], course)
    submission = course / "submitted" / "bench" / name
    submission.mkdir(parents=True)
    shutil.copy(course / "solutions" / name / f"{name}.ipynb", submission / f"{name}.ipynb")
    ours = _timed([str(BIN / "nbgrader"), "autograde", name, "--force"], course)
    baseline = _timed([str(BIN / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
                       "--ExecutePreprocessor.timeout=600", str(submission / f"{name}.ipynb"),
                       "--output-dir", str(tmp / "executed")], course)
    return ours, baseline


def run() -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_autograde_") as tmp:
        for name in ASSIGNMENTS:
            ours, baseline = measure(name, Path(tmp))
            results.append(Result(
                name=f"autograde one submission: {name}",
                ours=ours, baseline=baseline, baseline_name="nbconvert --execute",
                target=f"autograde <= {TARGET:g} s", met=ours <= TARGET,
            ))
    return results
