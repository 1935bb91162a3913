import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU; none is available on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


# --- the built HTML book, shared by the book tests --------------------------------------------
# `make test` runs pytest with several xdist workers (--dist loadfile), so two test files that
# need the book may run in two processes at once. The book is built at most once per test run:
# a file lock makes the workers take turns, and a stamp records which run built it and how it
# went, so the second worker reuses the first one's build (or its failure) instead of building again.

import fcntl
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
_RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex  # shared by the workers of one run


@pytest.fixture(scope="session")
def built_book() -> Path:
    """Build the book once per test run (`jupyter-book build --all -W`) and return _build/html."""
    BUILD.mkdir(exist_ok=True)
    stamp = BUILD / ".book-build-stamp.json"
    with open(BUILD / ".book-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        try:
            state = json.loads(stamp.read_text())
        except (OSError, ValueError):
            state = {}
        if state.get("run") != _RUN_ID:
            jb = Path(sys.executable).with_name("jupyter-book")
            proc = subprocess.run([str(jb), "build", "--all", "-W", str(ROOT)],
                                  capture_output=True, text=True, timeout=1500)
            state = {"run": _RUN_ID, "ok": proc.returncode == 0,
                     "log": proc.stdout[-4000:] + proc.stderr[-4000:]}
            stamp.write_text(json.dumps(state))
    assert state["ok"], "jupyter-book build -W failed:\n" + state["log"]
    return BUILD / "html"
