"""Clean verdicts: the automatic points of a submission, decided in a process where no student code runs.

From the submitted notebook *file*, the graded solution cells (``grade_id`` = a graded name
of the assignment, from :mod:`.registry`) and the release's own setup cell run in a fresh
worker process (:class:`~cs502_lib.grading.remote.Worker`: time limit, memory limit, capped
output, temporary folder). This process never imports or executes student code: it makes
the cases, computes the expected values, compares, diagnoses and decides, with the same
checks and hidden suites (and so the same messages) as the notebook's test cells, calling
the student's code through proxies. It also scans each solution cell's source
(:func:`~cs502_lib.grading.scan.scan_source`) and the worker for patched library code, and
reports both as flags for a person to review.

Command line (what ``python -m cs502_lib.course autograde`` runs per submission)::

    python -m cs502_lib.grading.verdict SUBMISSION.ipynb --assignment A --release RELEASE.ipynb [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import registry
from .scan import scan_source

__all__ = ["CellVerdict", "Verdict", "clean_verdict", "read_cells", "main"]


@dataclass
class CellVerdict:
    grade_id: str
    name: str
    points: float
    max_points: float
    message: str  #: the check's report (passed) or its GradingError message (failed)

    @property
    def passed(self) -> bool:
        return self.points == self.max_points


@dataclass
class Verdict:
    assignment: str
    cells: dict[str, CellVerdict] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)  #: for a person: source scan, patched library code, grader errors
    ungradable: str | None = None  #: why no verdict could be computed (not a notebook, ...)
    seconds: float = 0.0
    output: str = ""  #: what the student's cells printed in the worker (capped)

    def to_json(self) -> dict:
        data = asdict(self)
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Verdict":
        cells = {k: CellVerdict(**v) for k, v in data.get("cells", {}).items()}
        return cls(data["assignment"], cells, list(data.get("flags", [])), data.get("ungradable"),
                   float(data.get("seconds", 0.0)), str(data.get("output", "")))

    @property
    def points(self) -> float:
        return sum(c.points for c in self.cells.values())


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def read_cells(path: str | Path) -> list[dict]:
    """The cells of a notebook file (plain JSON reading; ValueError with the reason if it is not a notebook)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError("the file is not text (not a notebook)") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"the file is not a notebook (not valid JSON: {exc.msg} at line {exc.lineno})") from None
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        raise ValueError("the file is JSON but not a notebook (no list of cells)")
    return cells


def _grade_id(cell: dict) -> str | None:
    meta = cell.get("metadata", {})
    nbg = meta.get("nbgrader", {}) if isinstance(meta, dict) else {}
    return nbg.get("grade_id") if isinstance(nbg, dict) else None


def _solution_cells(cells: list[dict], names: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """(name, source) of each graded solution cell in notebook order, and the names not found."""
    found, seen = [], set()
    for cell in cells:
        gid = _grade_id(cell)
        if cell.get("cell_type") == "code" and gid in names and gid not in seen:
            found.append((gid, _source(cell)))
            seen.add(gid)
    return found, [n for n in names if n not in seen]


def _setup_source(release: str | Path) -> str:
    for cell in read_cells(release):
        if _grade_id(cell) == "setup":
            return _source(cell)
    return ""


def clean_verdict(submission: str | Path, assignment: str, release: str | Path, *, device=None,
                  memory_mb: int = 3072, cell_timeout: float = 60.0) -> Verdict:
    """The clean verdict of one submitted notebook (see the module docs)."""
    import cs502_lib.grading as grading

    from .report import GradingError
    from .hidden import run_hidden
    from .remote import Worker

    start = time.perf_counter()
    verdict = Verdict(assignment)
    items = registry.items(assignment)
    try:
        cells = read_cells(submission)
    except (OSError, ValueError) as exc:
        verdict.ungradable = str(exc)
        return verdict
    solutions, missing = _solution_cells(cells, [it.name for it in items])
    present = {_grade_id(c) for c in cells}
    for it in items:
        for gid in (it.test_cell, it.hidden_cell):
            if gid not in present:
                verdict.flags.append(f"the test cell {gid} was deleted from the submission (graded all the same)")
    for name, src in solutions:
        for finding in scan_source(src, name):
            verdict.flags.append(f"review the cell {name}: {finding}")
    with Worker(_setup_source(release), solutions, memory_mb=memory_mb, cell_time_limit=cell_timeout) as worker:
        try:
            outcomes = {r["name"]: r for r in worker.start()}
        except Exception as exc:  # noqa: BLE001 - the cells themselves ended the process
            outcomes = {}
            verdict.flags.append(f"the solution cells could not be run: {exc}")
        try:
            for finding in worker.tampering():
                verdict.flags.append(f"tampering: the solution cells replace {'.'.join(finding)}")
        except Exception as exc:  # noqa: BLE001
            verdict.flags.append(f"the worker could not be scanned for tampering: {exc}")
        for it in items:
            worker.item = it.name
            note = _cell_note(outcomes.get(it.name))
            try:
                proxy = worker.proxy(it.name)
            except Exception:  # noqa: BLE001 - the worker could not be started again
                proxy = None
            for grade_id, max_points, run in (
                    (it.test_cell, it.points, lambda p: getattr(grading, it.check)(p, device=device)),
                    (it.hidden_cell, it.hidden_points, lambda p: run_hidden(it.name, p))):
                verdict.cells[grade_id] = _decide(it, grade_id, max_points, proxy, run, note, missing, verdict,
                                                  GradingError)
        verdict.output = worker.output.decode("utf-8", "replace") + (
            f"\n... ({worker.dropped} more bytes of output not kept)" if worker.dropped else "")
    verdict.seconds = time.perf_counter() - start
    return verdict


def _cell_note(outcome: dict | None) -> str:
    if not outcome or outcome.get("status") == "ok":
        return ""
    err = outcome.get("error", {})
    kind = err.get("kind")
    if kind == "timeout":
        what = "did not finish running (time limit)"
    elif kind == "exit":
        what = "called exit()"
    elif kind == "crash":
        what = f"ended the Python process ({err.get('message', '')}), so the cell was left out"
    else:
        what = f"raised {err.get('type', 'an error')}: {str(err.get('message', '')).splitlines()[0][:200] if err.get('message') else ''}"
    where = f" at {err['where']}" if err.get("where") else ""
    return f" (running the cell {what}{where})"


def _decide(it, grade_id, max_points, proxy, run, note, missing, verdict, error_cls) -> CellVerdict:
    if it.name in missing:
        return CellVerdict(grade_id, it.name, 0.0, max_points,
                           f"{it.name} failed: the graded cell of {it.name} is missing from the notebook "
                           "(its cell was deleted or its metadata changed); write it in the cell given for it.")
    if proxy is None:
        return CellVerdict(grade_id, it.name, 0.0, max_points,
                           f"{it.name} failed: your cell does not define {it.name}{note}. Define it in its own "
                           "graded cell (helpers it needs belong in the same cell).")
    if proxy.info.get("is_reference"):
        return CellVerdict(grade_id, it.name, 0.0, max_points,
                           f"{it.check} did not run on cs502_lib's own {it.name}: this exercise asks you to write "
                           f"{it.name} yourself (the references of the *other* exercises may be used as building blocks).")
    try:
        report = run(proxy)
    except error_cls as exc:
        return CellVerdict(grade_id, it.name, 0.0, max_points, str(exc) + note)
    except Exception as exc:  # noqa: BLE001 - a grader failure: no points, and a person must look
        verdict.flags.append(f"grader error on {grade_id}: {type(exc).__name__}: {exc}")
        return CellVerdict(grade_id, it.name, 0.0, max_points,
                           f"{it.name}: the grader could not finish ({type(exc).__name__}: {exc}); your instructor "
                           "will look at it.")
    return CellVerdict(grade_id, it.name, float(max_points), max_points, str(report))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cs502_lib.grading.verdict", description=__doc__.split("\n\n")[0])
    parser.add_argument("submission", help="the submitted notebook file")
    parser.add_argument("--assignment", required=True, choices=registry.ASSIGNMENTS)
    parser.add_argument("--release", required=True, help="the released notebook (its setup cell is run)")
    parser.add_argument("--json", help="write the verdict as JSON here (default: print it)")
    parser.add_argument("--cell-timeout", type=float, default=60.0,
                        help="seconds a solution cell may run when it is executed (default 60, as nbgrader's)")
    args = parser.parse_args(argv)
    verdict = clean_verdict(args.submission, args.assignment, args.release, cell_timeout=args.cell_timeout)
    text = json.dumps(verdict.to_json(), indent=1)
    if args.json:
        Path(args.json).write_text(text, encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
