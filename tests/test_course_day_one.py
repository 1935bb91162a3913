"""Day one: `make lab` starts JupyterLab (as root too, with the ports and flags given in ARGS), and
`make exchange` makes the assignments appear in the students' Assignment List (nbgrader list)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from cs502_lib.course import make_course

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_lab_starts_jupyterlab_with_the_given_arguments():
    port = _free_port()
    args = f"--no-browser --port {port} --ServerApp.ip=127.0.0.1 --IdentityProvider.token=day-one"
    proc = subprocess.Popen(["make", "--no-print-directory", "lab", f"ARGS={args}"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token=day-one", timeout=2) as r:
                    status = r.status
                    break
            except OSError:
                time.sleep(1)
        output = b"" if proc.poll() is None else proc.stdout.read()
        assert status == 200, f"JupyterLab did not answer on port {port}:\n{output.decode()[-3000:]}"
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


def test_the_exchange_lists_every_assignment_for_students(tmp_path):
    course = make_course(tmp_path / "course", ROOT, ["attention", "dnabert"])
    env = dict(os.environ, PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", "")]))
    out = subprocess.run([sys.executable, "-m", "cs502_lib.course", "exchange"], cwd=course, capture_output=True,
                         text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    listed = subprocess.run([str(BIN / "nbgrader"), "list"], cwd=course, capture_output=True, text=True, env=env,
                            timeout=120)
    text = listed.stdout + listed.stderr
    assert "cs502-transformers attention" in text and "cs502-transformers dnabert" in text


def test_validate_shows_the_checks_whole_advice(tmp_path):
    """nbgrader validate cuts lines at 90 characters; the course's config makes it wrap them instead."""
    import nbformat

    from _roundtrip import make_submission, solution_sources, Scenario, bug

    course = make_course(tmp_path / "course", ROOT, ["attention"])
    env = dict(os.environ, PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", "")]))
    subprocess.run([str(BIN / "nbgrader"), "generate_assignment", "attention", "--force"], cwd=course, env=env,
                   capture_output=True, check=True, timeout=300)
    release = course / "exercises" / "attention" / "attention.ipynb"
    scenario = Scenario("v", {"scaled_dot_product_attention"},
                        edits={"scaled_dot_product_attention": bug(" / math.sqrt(d_k)", "")})
    path = tmp_path / "attention.ipynb"
    nbformat.write(make_submission(release, solution_sources("attention"), scenario), path)
    out = subprocess.run([str(BIN / "nbgrader"), "validate", str(path)], cwd=course, env=env, capture_output=True,
                         text=True, timeout=600)
    text = " ".join((out.stdout + out.stderr).split())
    assert "Most likely cause: missing scaling: the scores must be divided by sqrt(d_k) before the softmax." in text
    assert not any(line.rstrip().endswith("...") and len(line) >= 87 for line in out.stdout.splitlines())
