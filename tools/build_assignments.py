"""Build the nbgrader source notebooks solutions/<a>/<a>.ipynb from their text sources assignments/<a>.py.

Usage::

    .venv/bin/python tools/build_assignments.py [NAME ...]          # write the notebooks
    .venv/bin/python tools/build_assignments.py --check [NAME ...]  # exit 1 if a committed notebook differs

Each source is in jupytext's "percent" format: a line ``# %% [role] args`` starts a cell, and the
lines of a Markdown cell are commented (``# text``; a bare ``#`` is a blank line). The role says
what nbgrader does with the cell; ``name`` is a graded name of ``cs502_lib/grading/registry.py``::

    # %%                              code (runs, not graded)
    # %% [markdown]                   Markdown
    # %% [title]                      the first cell (Markdown); the points line is added from the registry
    # %% [how-to-check]               the course's "How to check your work" cell (no body)
    # %% [locked] setup               read-only code, grade_id "setup"
    # %% [solution] name              the solution cell of ``name`` (grade_id = name; ### BEGIN/END SOLUTION inside)
    # %% [check] name                 its test cell test_<name>: points from the registry (no body)
    # %% [hidden] name about="..."    its hidden tests hidden_<name>: points from the registry (no body)
    # %% [question] gid points=N      a written question (locked Markdown <gid>_question, graded by hand)
    # %% [answer] gid                 its model answer (Markdown, the question's points)

Points are never written in a source (the test cells take theirs from the registry). Edit the source, never
the .ipynb; run this script and ``make release``; commit assignments/, solutions/ and exercises/ together.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

from cs502_lib.grading import registry

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = 3
HEADER = re.compile(r"# %%(?: \[(?P<role>[a-z-]+)\])?(?: (?P<name>\w+))?(?: about=\"(?P<about>[^\"]*)\")?"
                    r"(?: points=(?P<points>\d+))?$")
#: role -> the fields its header must have (and no other)
ROLES = {"code": "", "markdown": "", "title": "", "how-to-check": "", "locked": "name", "solution": "name",
         "check": "name", "hidden": "name about", "question": "name points", "answer": "name"}
MARKDOWN = {"markdown", "title", "question", "answer"}
NO_BODY = {"how-to-check", "check", "hidden"}

HOW_TO_CHECK = """\
## How to check your work

* Write your code between the lines `# YOUR CODE HERE` and the next cell, replacing
  `raise NotImplementedError()`. Keep the names and signatures as they are: the grader calls them.
* **Run the test cell under each function** (Shift+Enter). It runs `cs502_lib.grading`'s check of
  that function on many cases (on the CPU, on PyTorch's `meta` device to catch tensors created on the
  wrong device, and on a GPU when there is one) and either prints a one-line report
  (`check_... passed: N cases on cpu, meta in 0.4 s`) or raises a `GradingError` whose message says which
  case failed, what was expected, what you returned, and the most likely cause.
* Before you submit, restart the kernel and run all cells (*Kernel > Restart Kernel and Run All Cells*),
  then press nbgrader's **Validate** button, or run `.venv/bin/nbgrader validate <this notebook>` in a terminal.
* After you submit, the autograder runs the same checks, plus **hidden tests** of edge cases worth extra
  points, on your graded cells alone: the setup cell and the cells of your functions run in a fresh Python
  process, apart from the rest of your notebook. Keep each function, and any helper it needs, in its own
  cell (a helper defined in another cell is not there). The written question is graded by hand.
* Do not edit the test cells (they are restored from the original when grading) and do not patch
  `cs502_lib` or `torch`: it changes nothing in your grade, and your instructor is told."""


def check_source(name: str) -> str:
    points = registry.item(name).points
    return f"""\
# Checks your {name} ({points} points). Run this cell after the one above: it prints a short
# report, or raises a GradingError whose message says what is wrong and the likely cause.
# (The checker is reloaded from disk here, so nothing in this notebook can change how it grades.)
import importlib, cs502_lib.testcell
importlib.reload(cs502_lib.testcell).grade("{name}", {name})"""


def hidden_source(name: str, about: str) -> str:
    points = registry.item(name).hidden_points
    return f"""\
# Hidden tests of {name} ({points} point{"s" if points > 1 else ""}), run by the autograder after you
# submit: {about}. Nothing to do here; the check above is your guide.
### BEGIN HIDDEN TESTS
import importlib, cs502_lib.testcell
importlib.reload(cs502_lib.testcell).grade_hidden("{name}", {name})
### END HIDDEN TESTS"""


def parse(text: str, where: str) -> list[tuple[dict, str]]:
    """The cells of a percent-format source: (header fields, body) pairs, Markdown uncommented."""
    cells: list[tuple[dict, list[str]]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("# %%"):
            match = HEADER.match(line)
            head = dict(match.groupdict(), role=match["role"] or "code", line=number) if match else {}
            if not match or head["role"] not in ROLES or \
                    {k for k in ("name", "about", "points") if head[k]} != set(ROLES[head["role"]].split()):
                raise SystemExit(f"{where}:{number}: not a cell header: {line!r} (see tools/build_assignments.py)")
            cells.append((head, []))
        elif cells:
            cells[-1][1].append(line)
        elif line.strip():
            raise SystemExit(f"{where}:{number}: text before the first cell header")
    out = []
    for head, lines in cells:
        if head["role"] in MARKDOWN:
            if any(ln and ln != "#" and not ln.startswith("# ") for ln in lines):
                raise SystemExit(f"{where}:{head['line']}: a Markdown cell's lines start with '# '")
            lines = [ln[2:] for ln in lines]
        body = "\n".join(lines).strip("\n")
        if head["role"] in NO_BODY and body:
            raise SystemExit(f"{where}:{head['line']}: a [{head['role']}] cell is written by the builder: no body")
        out.append((head, body))
    return out


def _cell(kind: str, source: str, gid: str | None = None, **nbgrader):
    cell = nbformat.v4.new_markdown_cell(source) if kind == "markdown" else nbformat.v4.new_code_cell(source)
    if gid is not None:
        cell.metadata["nbgrader"] = {"grade": False, "locked": False, "solution": False, "schema_version": SCHEMA,
                                     "task": False, "grade_id": gid, **nbgrader}
        cell["id"] = gid
    return cell


def build(name: str, root: Path = ROOT) -> nbformat.NotebookNode:
    """The source notebook of assignment ``name``, without outputs."""
    path = root / "assignments" / f"{name}.py"
    where = str(path.relative_to(root))
    cells = parse(path.read_text(encoding="utf-8"), where)
    graded = [it.name for it in registry.items(name)]
    for role in ("solution", "check", "hidden"):
        named = [head["name"] for head, _ in cells if head["role"] == role]
        if named != graded:
            raise SystemExit(f"{where}: the [{role}] cells name {named}; "
                             f"the registry grades {graded} (in this order)")
    questions = {head["name"]: int(head["points"]) for head, _ in cells if head["role"] == "question"}
    total = sum(it.points + it.hidden_points for it in registry.items(name)) + sum(questions.values())
    points_line = "**Points:** " + ", ".join(
        [f"`{it.name}` {it.points} + {it.hidden_points} hidden" for it in registry.items(name)]
        + [f"written question {p}" for p in questions.values()]) + f" (total {total})."
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for head, body in cells:
        role, gid = head["role"], head["name"]
        if role in ("code", "markdown"):
            cell = _cell(role, body)
        elif role == "title":
            cell = _cell("markdown", f"{body}\n\n{points_line}")
        elif role == "how-to-check":
            cell = _cell("markdown", HOW_TO_CHECK)
        elif role == "locked":
            cell = _cell("code", body, gid, locked=True)
        elif role == "solution":
            cell = _cell("code", body, gid, solution=True)
        elif role == "check":
            cell = _cell("code", check_source(gid), f"test_{gid}", grade=True, locked=True,
                         points=registry.item(gid).points)
        elif role == "hidden":
            cell = _cell("code", hidden_source(gid, head["about"]), f"hidden_{gid}", grade=True, locked=True,
                         points=registry.item(gid).hidden_points)
        elif role == "question":
            cell = _cell("markdown", f"### Written question ({questions[gid]} points, graded by hand)\n\n{body}",
                         f"{gid}_question", locked=True)
        else:  # answer
            cell = _cell("markdown", body, gid, grade=True, solution=True, points=questions[gid])
        nb.cells.append(cell)
    seen = set()
    for i, cell in enumerate(nb.cells):
        if "nbgrader" not in cell.metadata:
            cell["id"] = f"{name}-{i}"
        if cell["id"] in seen:
            raise SystemExit(f"{where}: two cells with the id {cell['id']!r}")
        seen.add(cell["id"])
    nbformat.validate(nb)
    return nb


def main(argv: list[str]) -> int:
    check = "--check" in argv
    names = [a for a in argv if not a.startswith("--")] or list(registry.ASSIGNMENTS)
    stale = []
    for name in names:
        path = ROOT / "solutions" / name / f"{name}.ipynb"
        text = nbformat.writes(build(name)) + "\n"
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path.relative_to(ROOT)))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("out of date (run: .venv/bin/python tools/build_assignments.py, then make release):",
              *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
