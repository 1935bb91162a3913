"""The chapters run where cs502_lib is not installed (Colab, the book's launch button).

Every chapter starts with the one install cell that tools/install_cell.py writes (hidden in the book),
pinned to the tag of the package's version; and in a clean virtual environment without cs502_lib that
cell installs the library (from a copy of this checkout, through CS502_LIB_URL) and the chapter runs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = "10_dnabert"  # the chapter run in the clean environment: it reads the package data (genome, checkpoint, results)


def _tool():
    spec = importlib.util.spec_from_file_location("install_cell", ROOT / "tools" / "install_cell.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _tool()


def test_every_chapter_starts_with_the_install_cell():
    chapters = tool.chapters()
    assert len(chapters) >= 10, chapters
    problems = tool.problems()
    assert not problems, "\n".join(problems)
    for path in chapters:
        first = json.loads(path.read_text(encoding="utf-8"))["cells"][0]
        assert first["metadata"]["tags"] == ["remove-cell"], f"{path.name}: the install cell must be hidden in the book"
        assert first["outputs"] == [] and first["execution_count"] is None, f"{path.name}: committed with outputs"


def test_install_cell_pins_the_package_version_of_the_books_repository():
    import cs502_lib

    source = tool.cell_source()
    assert tool.version() == cs502_lib.__version__, "pyproject.toml and cs502_lib.__version__ disagree"
    assert f"git+https://github.com/cs502-course/transformers-for-biomedicine@v{cs502_lib.__version__}" in source
    assert tool.ENV_VAR in source
    compile(source, "<install cell>", "exec")


def test_launch_buttons_open_the_chapters_of_that_repository():
    config = (ROOT / "_config.yml").read_text()
    assert tool.repository_url() == "https://github.com/cs502-course/transformers-for-biomedicine"
    block = re.search(r"^repository:\n((?:[ \t]+.*\n)+)", config, re.M).group(1)
    assert re.search(r"^\s+branch: main$", block, re.M) and re.search(r'^\s+path_to_book: ""$', block, re.M)
    buttons = re.search(r"^launch_buttons:\n((?:[ \t]+.*\n?)+)", config, re.M).group(1)
    assert "colab_url: https://colab.research.google.com" in buttons
    assert "binderhub_url: https://mybinder.org" in buttons
    assert (ROOT / "binder" / "requirements.txt").exists(), "Binder (repo2docker) needs binder/requirements.txt"


def test_install_cell_does_nothing_where_cs502_lib_is_importable(monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    exec(compile(tool.cell_source(), "<install cell>", "exec"), {})
    assert calls == []


def test_the_tool_inserts_once_and_moves_a_misplaced_cell_to_the_top(tmp_path):
    nb = {"cells": [{"cell_type": "markdown", "id": "cell-0", "metadata": {}, "source": ["# Title"]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    text = json.dumps(nb, indent=1, sort_keys=True) + "\n"
    once = tool.updated(text)
    assert tool.updated(once) == once  # idempotent
    cells = json.loads(once)["cells"]
    assert [c["id"] for c in cells] == [tool.CELL_ID, "cell-0"]
    # an old version of the cell further down: replaced, and moved to the top
    stale = json.loads(once)
    stale["cells"] = stale["cells"][::-1]
    stale["cells"][1]["source"] = ["print('old cell')"]
    cells = json.loads(tool.updated(json.dumps(stale)))["cells"]
    assert [c["id"] for c in cells] == [tool.CELL_ID, "cell-0"]
    assert "".join(cells[0]["source"]) == tool.cell_source()

    path = tmp_path / "01_x.ipynb"
    path.write_text(text)
    assert tool.install(path) is True
    assert tool.install(path) is False
    assert path.read_text() == once


# --- the clean environment --------------------------------------------------------------------------


def _clean_venv(where: Path) -> Path:
    """A virtual environment without cs502_lib, returning its python.

    Its own site-packages is empty; everything else the course needs (torch, matplotlib, jupyter, pip,
    setuptools) is reachable through a folder of links to this environment's site-packages, minus
    cs502_lib and the hooks that import it from the checkout. That folder is on sys.path (a .pth
    line), not a site directory, so its own .pth files are not run.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where / "venv")], check=True)
    python = where / "venv" / "bin" / "python"
    purelib = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  check=True, capture_output=True, text=True).stdout.strip())
    deps = where / "deps"
    deps.mkdir()
    ours = Path(sysconfig.get_paths()["purelib"])
    for entry in ours.iterdir():
        name = entry.name.lower()
        if "cs502" in name or name.endswith(".pth"):
            continue
        (deps / entry.name).symlink_to(entry)
    (purelib / "course-deps.pth").write_text(f"{deps}\n")
    return python


def _package_copy(where: Path) -> Path:
    """What pip gets from the repository: pyproject.toml, README.md and cs502_lib/, as they are now."""
    src = where / "cs502_lib_source"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "cs502_lib", src / "cs502_lib", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return src


@pytest.mark.slow
def test_install_cell_installs_cs502_lib_in_a_clean_environment_and_the_chapter_runs(tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient")
    import nbformat

    python = _clean_venv(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "JUPYTER", "PIP_"))}
    env.update({
        "CS502_LIB_URL": str(_package_copy(tmp_path)),
        "PYTHONNOUSERSITE": "1",
        "PIP_NO_INDEX": "1",            # nothing from the network: the dependencies are all there already
        "PIP_NO_BUILD_ISOLATION": "0",  # build with the setuptools at hand instead of downloading one
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "JUPYTER_PATH": str(tmp_path / "jupyter"),
        "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    })
    probe = [str(python), "-c", "import cs502_lib, sys; print(cs502_lib.__file__)"]
    before = subprocess.run(probe, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert before.returncode != 0 and "No module named 'cs502_lib'" in before.stderr, before.stdout + before.stderr

    # the notebook's kernel runs in the clean environment
    kernel = tmp_path / "jupyter" / "kernels" / "python3"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "clean environment", "language": "python"}))

    work = tmp_path / "chapter"
    work.mkdir()
    nb = nbformat.read(ROOT / "book" / f"{CHAPTER}.ipynb", as_version=4)
    assert nb.cells[0].get("id") == tool.CELL_ID
    monkeypatch.setenv("JUPYTER_PATH", env["JUPYTER_PATH"])  # where this process looks the kernel up
    start = time.perf_counter()
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=300,
                            resources={"metadata": {"path": str(work)}}).execute(env=env)
    elapsed = time.perf_counter() - start

    after = subprocess.run(probe, env=env, capture_output=True, text=True, cwd=tmp_path, check=True)
    installed = Path(after.stdout.strip())
    assert installed.is_relative_to(tmp_path / "venv"), f"cs502_lib comes from {installed}, not the clean environment"
    print(f"install cell + {CHAPTER}: {elapsed:.1f} s in a clean environment")

    # Binder's requirements resolve, from the repository's root, against the pinned versions
    source = Path(env["CS502_LIB_URL"])
    shutil.copytree(ROOT / "binder", source / "binder")
    shutil.copy2(ROOT / "constraints.txt", source / "constraints.txt")
    binder = subprocess.run([str(python), "-m", "pip", "install", "--dry-run", "-r", "binder/requirements.txt"],
                            env=env, capture_output=True, text=True, cwd=source)
    assert binder.returncode == 0, binder.stdout + binder.stderr
    assert "Would install cs502_lib" in binder.stdout.replace("-", "_"), binder.stdout
