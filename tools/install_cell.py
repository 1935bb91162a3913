"""The first cell of every chapter: it installs cs502_lib where the library is missing.

A reader who opens a chapter in Colab (the rocket icon of the book) gets a Python without cs502_lib;
this cell installs it there, from the course's repository at the tag of the package's version
(``v<version>`` of pyproject.toml), so the notebook runs the library it was written for. Where
cs502_lib is importable (``make``'s .venv, Binder, the book build) the cell does nothing. The cell is
tagged ``remove-cell``: executed, but not shown in the HTML book. The environment variable
``CS502_LIB_URL`` replaces the repository by any pip requirement (a local folder, another fork), which
is what tests/test_install_cell.py uses.

This file is the one owner of the cell's text::

    python tools/install_cell.py           insert or update the cell in every chapter (idempotent)
    python tools/install_cell.py --check   exit status 1, naming each chapter that does not start with it

Releasing a version: set it in pyproject.toml (and cs502_lib.__version__), run this tool, commit, then
``git tag v<version> && git push origin v<version>`` so that the chapters' pin exists on GitHub.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CELL_ID = "install-cs502-lib"
TAG = "remove-cell"
ENV_VAR = "CS502_LIB_URL"


def chapters(root: Path = ROOT) -> list[Path]:
    """The chapter notebooks: book/NN_*.ipynb, in order."""
    return sorted(p for p in (root / "book").glob("[0-9][0-9]_*.ipynb"))


def version(root: Path = ROOT) -> str:
    with open(root / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["version"]


def repository_url(root: Path = ROOT) -> str:
    """repository.url of _config.yml (the same repository as the book's GitHub and launch buttons)."""
    text = (root / "_config.yml").read_text(encoding="utf-8")
    block = re.search(r"^repository:\s*\n((?:[ \t]+.*\n?)+)", text, re.M)
    url = block and re.search(r"^\s+url:\s*(\S+)", block.group(1), re.M)
    if not url:
        raise SystemExit("_config.yml has no repository.url")
    return url.group(1).strip("'\"").rstrip("/")


def requirement(root: Path = ROOT) -> str:
    """What pip installs by default: the repository at the tag of the package's version."""
    return f"git+{repository_url(root)}@v{version(root)}"


def cell_source(root: Path = ROOT) -> str:
    return f'''\
# Installs the course library cs502_lib where it is missing (Colab). Hidden in the book; written by
# tools/install_cell.py (edit it there). {ENV_VAR} replaces the source, e.g. a local checkout.
import importlib.util

if importlib.util.find_spec("cs502_lib") is None:
    import os, subprocess, sys

    source = os.environ.get("{ENV_VAR}", "{requirement(root)}")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", source], check=True)
    importlib.invalidate_caches()'''


def cell(root: Path = ROOT) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": CELL_ID,
            "metadata": {"tags": [TAG]}, "outputs": [],
            "source": cell_source(root).splitlines(keepends=True)}


def _dump(nb: dict) -> str:
    # the layout nbformat writes (and the chapters are stored in): one-space indent, sorted keys
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def updated(text: str, root: Path = ROOT) -> str:
    """The notebook `text` with the install cell as its first cell, and nowhere else."""
    nb = json.loads(text)
    cells = [c for c in nb["cells"] if c.get("id") != CELL_ID]
    nb["cells"] = [cell(root)] + cells
    nb["nbformat"], nb["nbformat_minor"] = 4, max(nb.get("nbformat_minor", 5), 5)  # cell ids: nbformat 4.5
    return _dump(nb)


def install(path: Path, root: Path = ROOT) -> bool:
    """Insert or update the cell in one notebook; True when the file changed.

    Other people edit the chapters at the same time: the file is read, changed in memory and
    replaced at once (a rename), and written only if it did not change meanwhile.
    """
    for _ in range(5):
        old = path.read_text(encoding="utf-8")
        new = updated(old, root)
        if new == old:
            return False
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(new)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        if path.read_text(encoding="utf-8") == old:
            os.replace(tmp, path)
            return True
        os.unlink(tmp)  # someone saved the notebook meanwhile: start again from their version
    raise RuntimeError(f"{path} kept changing; run the tool again")


def problems(root: Path = ROOT) -> list[str]:
    """Each chapter that does not start with exactly the cell, or holds it twice, and why."""
    want = cell(root)
    out = []
    for path in chapters(root):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        first = cells[0] if cells else {}
        if {k: first.get(k) for k in want} != want:
            out.append(f"{path.relative_to(root)}: the first cell is not the install cell")
        elif sum(c.get("id") == CELL_ID for c in cells) > 1:
            out.append(f"{path.relative_to(root)}: the install cell appears more than once")
    return out


def main(argv: list[str]) -> int:
    if argv[1:] == ["--check"]:
        bad = problems()
        for line in bad:
            print(line)
        if bad:
            print("fix: python tools/install_cell.py")
        return 1 if bad else 0
    if argv[1:]:
        print(__doc__)
        return 2
    for path in chapters():
        print(f"{'updated' if install(path) else 'up to date'}: {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
