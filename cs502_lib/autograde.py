"""Autograding a course's submissions: nbgrader in the student's kernel, then the clean verdict that decides.

For each submission ``submitted/<student>/<assignment>/<assignment>.ipynb`` (new or changed
since its last grading, unless forced):

1. ``nbgrader autograde <assignment> --student <student>`` runs the notebook in a kernel, as
   the student ran it (the autograded notebook and its outputs, nbgrader's records);
2. ``python -m cs502_lib.grading.verdict`` computes the **clean verdict** (see
   :mod:`cs502_lib.grading.verdict`): every graded test cell, public and hidden, decided in a
   process where no student code runs;
3. the gradebook gets the clean points of every graded test cell (the kernel's results are
   kept in the record beside the autograded notebook), and a comment on each graded solution
   cell (Formgrader shows it) with the clean result, **"tampering suspected"** where the
   kernel gave more than the clean verdict, and the source-scan findings to review.

A submission that cannot be graded (not a notebook, kernel died, timed out) is named in the
summary with the reason, and its grades are marked as waiting for a person, never a plain 0.
Up to ``jobs`` submissions are graded at once; the gradebook is written by this process only
(nbgrader's own writes are retried when SQLite is busy).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .grading import registry
from .grading.verdict import Verdict

__all__ = ["Outcome", "grade_submissions", "RECORD", "SUMMARY"]

#: The record of a graded submission, beside nbgrader's autograded notebook.
RECORD = "cs502_verdict.json"
#: The summary of the last ``autograde``, in ``autograded/``.
SUMMARY = "autograde_summary.json"
_VERSION = "2"  # bump when the grading changes: every submission is graded again


@dataclass
class Outcome:
    student: str
    assignment: str
    verdict: Verdict | None = None
    kernel: dict = field(default_factory=dict)  #: grade_id -> points the notebook's own kernel run gave
    ungradable: str | None = None
    kernel_problem: str | None = None  #: nbgrader could not run the notebook (the clean verdict still counts)
    suspected: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    skipped: bool = False

    def row(self) -> dict:
        v = self.verdict
        return {"student": self.student, "assignment": self.assignment,
                "clean_points": None if v is None or self.ungradable else v.points,
                "max_points": sum(it.points + it.hidden_points for it in registry.items(self.assignment)),
                "kernel_points": sum(self.kernel.values()) if self.kernel else None,
                "ungradable": self.ungradable, "kernel_problem": self.kernel_problem,
                "tampering_suspected": self.suspected, "flags": v.flags if v else [],
                "seconds": round(self.seconds, 1), "up_to_date": self.skipped}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


def _env() -> dict:
    scripts = str(Path(sys.executable).parent)
    return dict(os.environ, PATH=os.pathsep.join([scripts, os.environ.get("PATH", "")]))


def _nbgrader_autograde(root: Path, student: str, assignment: str) -> tuple[str | None, list[str]]:
    """Run nbgrader in the student's kernel: (None, or the reason it could not grade; the locked cells it
    found edited and restored)."""
    exe = Path(sys.executable).with_name("nbgrader")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "nbgrader"]
    cmd += ["autograde", assignment, "--student", student, "--force"]
    for attempt in range(4):
        try:
            out = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=_env(), timeout=1800)
        except subprocess.TimeoutExpired:
            return "nbgrader did not finish in 30 minutes", []
        text = out.stdout + out.stderr
        if "database is locked" in text and attempt < 3:
            time.sleep(1 + attempt)
            continue
        break
    edited = sorted(set(re.findall(r"Attribute 'checksum' for cell (\S+) has changed", text)))
    graded = root / "autograded" / student / assignment / f"{assignment}.ipynb"
    if out.returncode == 0 and graded.is_file():
        return None, edited
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and ("ERROR" in ln or "Error" in ln or "Timeout" in ln)]
    reason = next((ln for ln in lines if "DeadKernel" in ln or "died" in ln or "Timeout" in ln), None) or \
        (lines[-1] if lines else f"nbgrader exited with status {out.returncode}")
    return reason[:400], edited


def _cell_timeout(root: Path) -> float:
    """The seconds a cell may run, as the course's nbgrader_config.py gives nbgrader (60 by default)."""
    from traitlets.config.loader import PyFileConfigLoader

    try:
        config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
        return float(config.Execute.get("timeout", 60) or 60)
    except Exception:  # noqa: BLE001 - an unreadable config is reported by nbgrader itself
        return 60.0


def _verdict(root: Path, student: str, assignment: str) -> Verdict:
    sub = root / "submitted" / student / assignment / f"{assignment}.ipynb"
    release = root / "exercises" / assignment / f"{assignment}.ipynb"
    out = root / "autograded" / ".verdicts" / f"{student}--{assignment}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "cs502_lib.grading.verdict", str(sub), "--assignment", assignment,
           "--release", str(release), "--json", str(out), "--cell-timeout", str(_cell_timeout(root))]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=1800)
    except subprocess.TimeoutExpired:
        verdict = Verdict(assignment)
        verdict.ungradable = "the clean verdict did not finish in 30 minutes"
        return verdict
    if run.returncode != 0 or not out.is_file():
        raise RuntimeError(f"the grader failed on {student}/{assignment}:\n{run.stderr[-3000:]}")
    verdict = Verdict.from_json(json.loads(out.read_text(encoding="utf-8")))
    out.unlink()
    return verdict


def _grade_one(root: Path, student: str, assignment: str) -> Outcome:
    start = time.perf_counter()
    outcome = Outcome(student, assignment)
    sub = root / "submitted" / student / assignment / f"{assignment}.ipynb"
    if not sub.is_file():
        outcome.ungradable = f"no notebook {assignment}.ipynb in submitted/{student}/{assignment}/"
    else:
        outcome.kernel_problem, edited = _nbgrader_autograde(root, student, assignment)
        outcome.verdict = _verdict(root, student, assignment)
        outcome.verdict.flags += [f"the locked cell {gid} was edited in the submission (restored before running)"
                                  for gid in edited]
        outcome.ungradable = outcome.verdict.ungradable
    outcome.seconds = time.perf_counter() - start
    return outcome


def _flags_of(it, verdict: Verdict, first: bool) -> list[str]:
    """The review findings about one graded item (those about no item in particular go with the first)."""
    mine = []
    for flag in verdict.flags:
        about = [i for i in registry.items(verdict.assignment)
                 if f"cell {i.name}:" in flag or i.test_cell in flag or i.hidden_cell in flag]
        if it in about or (first and not about):
            mine.append(flag)
    return mine


def _comment(it, verdict: Verdict, suspected: list[dict], first: bool) -> str:
    """The Formgrader comment of a graded solution cell (markdown): clean results, suspicion, findings."""
    lines = []
    for gid, label in ((it.test_cell, "check"), (it.hidden_cell, "hidden tests")):
        cv = verdict.cells.get(gid)
        if cv is None:
            continue
        text = f"- {label}: {cv.points:g} / {cv.max_points:g} (clean verdict)"
        if not cv.passed:
            text += ": `" + cv.message.splitlines()[0].replace("`", "'") + "`"
        lines.append(text)
    for s in suspected:
        if s["name"] == it.name:
            lines.append(f"- **TAMPERING SUSPECTED** on {s['cell']}: the notebook's own kernel run gave {s['kernel']:g} "
                         f"point(s), the clean verdict (this cell's code run alone, in a separate process) gives "
                         f"{s['clean']:g}.")
    lines += [f"- Review: {f}" for f in _flags_of(it, verdict, first)]
    return "\n".join(lines)


def _record(root: Path, outcome: Outcome, sha: str) -> None:
    """Write the clean verdict to the gradebook and the record beside the autograded notebook."""
    from nbgrader.api import MissingEntry

    from .course import _gradebook

    s, a = outcome.student, outcome.assignment
    items = registry.items(a)
    with _gradebook(root) as gb:
        try:
            gb.find_submission(a, s)
        except MissingEntry:
            gb.add_submission(a, s)
        nb = gb.find_submission_notebook(a, a, s)
        grades = {g.name: g for g in nb.grades}
        if outcome.ungradable is None and outcome.kernel_problem is None:
            outcome.kernel = {gid: float(g.auto_score or 0.0) for gid, g in grades.items() if registry.by_cell(gid)}
        verdict = outcome.verdict
        for gid, grade in grades.items():
            it = registry.by_cell(gid)
            if it is None:
                continue
            if outcome.ungradable is not None:
                grade.auto_score = None
                grade.needs_manual_grade = True
                continue
            clean = verdict.cells[gid].points
            kernel = outcome.kernel.get(gid)
            if kernel is not None and kernel > clean:
                outcome.suspected.append({"student": s, "cell": gid, "name": it.name, "kernel": kernel, "clean": clean,
                                          "message": verdict.cells[gid].message})
            grade.auto_score = clean
            grade.needs_manual_grade = False
        for comment in nb.comments:
            it = next((i for i in items if i.name == comment.name), None)
            if it is None:
                continue
            if outcome.ungradable is not None:
                comment.auto_comment = f"Not graded automatically: {outcome.ungradable}. Your instructor will look at it."
            else:
                comment.auto_comment = _comment(it, verdict, outcome.suspected, it is items[0]) or None
        gb.db.commit()
    folder = root / "autograded" / s / a
    folder.mkdir(parents=True, exist_ok=True)
    record = {"version": _VERSION, "sha256": sha, "kernel": outcome.kernel, **outcome.row(),
              "verdict": verdict.to_json() if verdict else None}
    (folder / RECORD).write_text(json.dumps(record, indent=1), encoding="utf-8")


def _up_to_date(root: Path, student: str, assignment: str, sha: str) -> dict | None:
    path = root / "autograded" / student / assignment / RECORD
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if record.get("version") == _VERSION and record.get("sha256") == sha and sha else None


def grade_submissions(root: Path, pairs: list[tuple[str, str]], *, jobs: int = 1, force: bool = False,
                      log=print) -> list[Outcome]:
    """Grade each ``(student, assignment)`` (skipping unchanged ones unless ``force``); returns the outcomes."""
    outcomes: list[Outcome] = []
    todo = []
    for student, assignment in pairs:
        sha = _sha256(root / "submitted" / student / assignment / f"{assignment}.ipynb")
        record = None if force else _up_to_date(root, student, assignment, sha)
        if record is not None:
            o = Outcome(student, assignment, skipped=True, ungradable=record.get("ungradable"),
                        kernel=record.get("kernel", {}), suspected=record.get("tampering_suspected", []),
                        kernel_problem=record.get("kernel_problem"))
            o.verdict = Verdict.from_json(record["verdict"]) if record.get("verdict") else None
            outcomes.append(o)
        else:
            todo.append((student, assignment, sha))
    if todo:
        log(f"grading {len(todo)} submission(s) ({jobs} at a time); {len(outcomes)} up to date")
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(_grade_one, root, s, a): (s, a, sha) for s, a, sha in todo}
        for future in concurrent.futures.as_completed(futures):
            s, a, sha = futures[future]
            outcome = future.result()
            _record(root, outcome, sha)
            state = ("NOT GRADED: " + outcome.ungradable) if outcome.ungradable else \
                f"{outcome.verdict.points:g} points" + (" — TAMPERING SUSPECTED" if outcome.suspected else "")
            log(f"  {s}/{a}: {state} ({outcome.seconds:.1f} s)")
            outcomes.append(outcome)
    return outcomes


def write_summary(root: Path, outcomes: list[Outcome], log=print) -> Path:
    """Print the end-of-run summary (ungradable, tampering suspected, to review) and write it as JSON."""
    rows = [o.row() for o in sorted(outcomes, key=lambda o: (o.assignment, o.student))]
    path = root / "autograded" / SUMMARY
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"submissions": rows}, indent=1), encoding="utf-8")
    bad = [r for r in rows if r["ungradable"]]
    suspected = [(r, s) for r in rows for s in r["tampering_suspected"]]
    review = [(r, f) for r in rows for f in r["flags"]]
    kernel = [r for r in rows if r["kernel_problem"] and not r["ungradable"]]
    log(f"\nautograde summary: {len(rows)} submission(s), {len(bad)} not graded, "
        f"{len(suspected)} cell(s) with tampering suspected, {len(review)} finding(s) to review")
    for r in bad:
        log(f"  NOT GRADED  {r['student']} / {r['assignment']}: {r['ungradable']}")
    for r, s in suspected:
        log(f"  TAMPERING SUSPECTED  {r['student']} / {r['assignment']} / {s['cell']}: kernel {s['kernel']:g}, "
            f"clean verdict {s['clean']:g} ({s['message'].splitlines()[0][:160]})")
    for r in kernel:
        log(f"  KERNEL RUN FAILED  {r['student']} / {r['assignment']}: {r['kernel_problem']} (graded by the clean verdict)")
    for r, f in review:
        log(f"  REVIEW  {r['student']} / {r['assignment']}: {f}")
    log(f"summary written to {path}")
    return path
