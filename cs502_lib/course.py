"""The instructor's workflow around nbgrader: release, autograde, feedback that leaks no hidden test.

Run from the course folder (the repository root, where ``nbgrader_config.py`` is)::

    python -m cs502_lib.course release   [ASSIGNMENT ...]   # solutions/ -> exercises/
    python -m cs502_lib.course autograde [ASSIGNMENT ...]   # grade submitted/<student>/<assignment>/
    python -m cs502_lib.course feedback  [ASSIGNMENT ...]   # autograded/ -> feedback/ (HTML)
    python -m cs502_lib.course exchange  [ASSIGNMENT ...]   # exercises/ -> nbgrader_exchange/ (Assignment List)

``--root DIR`` runs in another course folder (nbgrader reads ``DIR/nbgrader_config.py``).

* ``autograde`` adds every student found in ``submitted/`` to the gradebook first
  (nbgrader refuses unknown students), records an assignment in the gradebook when a
  fresh clone has only the committed release, and grades every submission again.
  Grading runs on the devices chosen by ``CS502_GRADING_DEVICE`` (the kernels inherit it).
* ``feedback`` writes nbgrader's feedback HTML through :class:`SanitizeFeedback`
  (configured in ``nbgrader_config.py``): hidden tests appear as a placeholder and every
  error shows its message only, never a traceback. It then scans the HTML it wrote for
  any line of a hidden test and fails if it finds one.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor
from nbgrader.api import MissingEntry
from nbgrader.preprocessors import OverwriteCells
from traitlets import Bool, Unicode

__all__ = [
    "ASSIGNMENTS",
    "SanitizeFeedback",
    "RestoreCells",
    "preflight_device",
    "hidden_test_lines",
    "assignments_in",
    "students_in",
    "release",
    "autograde",
    "feedback",
    "exchange",
    "feedback_leaks",
    "make_course",
    "main",
]

#: The assignments of the course, in teaching order (from the registry of graded items).
from .grading.registry import ASSIGNMENTS  # noqa: E402
from .grading.registry import by_cell as registry_by_cell  # noqa: E402

BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
_HIDDEN_RE = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*$", re.S | re.M)
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_STUDENT_RE = re.compile(r"^[A-Za-z0-9_.@-]+$")


# --------------------------------------------------------------------------- feedback without leaks


class SanitizeFeedback(Preprocessor):
    """nbgrader feedback preprocessor: hide hidden-test code and reduce every error to its message.

    Configure it in ``nbgrader_config.py`` between nbgrader's ``GetGrades`` and the CSS header::

        c.GenerateFeedback.preprocessors = [
            "nbgrader.preprocessors.GetGrades",
            "cs502_lib.course.SanitizeFeedback",
            "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
        ]
    """

    enabled = Bool(True, help="On by default: nbconvert skips a preprocessor whose `enabled` is False.").tag(config=True)

    placeholder = Unicode(
        "# (hidden tests: their code is not shown; the message below says what they found)",
        help="What replaces the code between the hidden-test markers.",
    ).tag(config=True)

    def preprocess(self, nb, resources):
        info = resources.get("nbgrader", {})
        root = self.config.CourseDirectory.get("root") or "."
        from .feedback import load_record

        self._record = load_record(root, info.get("student", ""), info.get("assignment", "")) if info else None
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if getattr(self, "_record", None) and registry_by_cell(grade_id):
            from .feedback import verdict_outputs

            outputs = verdict_outputs(grade_id, self._record)
            if outputs is not None:  # what decided the points, not what the student's kernel printed
                cell.outputs = [nbformat.from_dict(o) for o in outputs]
        if BEGIN_HIDDEN in cell.source:
            cell.source = _HIDDEN_RE.sub(self.placeholder, cell.source)
            if BEGIN_HIDDEN in cell.source:  # an unterminated region: hide everything after the marker
                cell.source = cell.source.split(BEGIN_HIDDEN)[0] + self.placeholder
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                ename = output.get("ename", "Error")
                evalue = _ANSI_RE.sub("", str(output.get("evalue", ""))).strip()
                output["evalue"] = evalue
                output["traceback"] = [f"{ename}: {evalue}" if evalue else ename]
        return cell, resources


class RestoreCells(OverwriteCells):
    """nbgrader's OverwriteCells, without a false alarm for hidden tests.

    The release shows each hidden-test cell with its hidden region removed, so nbgrader's
    checksum of every untouched submission differs from the source's, and it logs "checksum
    has changed" for each of them, burying any real change. An untouched cell (the source
    minus its hidden region) is restored to the source before the comparison; an edited cell
    is still reported and restored.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id and cell.cell_type == "code":
            try:
                source = self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id)
            except MissingEntry:
                source = None
            if source is not None and BEGIN_HIDDEN in source.source and \
                    _lines(_HIDDEN_RE.sub("", source.source)) == _lines(cell.source):
                cell.source = source.source
        return super().preprocess_cell(cell, resources, cell_index)


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def hidden_test_lines(notebook_path: str | os.PathLike, min_length: int = 16) -> list[str]:
    """The distinctive lines of a notebook's hidden tests: stripped, at least ``min_length`` characters,
    not comments, and not also written outside the hidden regions (those are public anyway)."""
    import nbformat

    nb = nbformat.read(str(notebook_path), as_version=4)
    hidden: list[str] = []
    public: set[str] = set()
    for cell in nb.cells:
        regions = _HIDDEN_RE.findall(cell.source) if cell.cell_type == "code" else []
        public.update(line.strip() for line in _HIDDEN_RE.sub("", cell.source).splitlines())
        for region in regions:
            hidden += [line.strip() for line in region.splitlines()[1:-1]]
    return [line for line in dict.fromkeys(hidden)
            if len(line) >= min_length and not line.startswith("#") and line not in public]


def feedback_leaks(root: str | os.PathLike, assignment: str) -> list[tuple[str, str]]:
    """``(html file, leaked line)`` for every hidden-test line found in the assignment's feedback HTML."""
    root = Path(root)
    source = root / "solutions" / assignment / f"{assignment}.ipynb"
    lines = hidden_test_lines(source) if source.exists() else []
    found = []
    for page in sorted((root / "feedback").glob(f"*/{assignment}/*.html")):
        text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))
        found += [(str(page), line) for line in lines if line in text]
        if BEGIN_HIDDEN in text:
            found.append((str(page), BEGIN_HIDDEN))
    return found


# --------------------------------------------------------------------------- the course folder


def assignments_in(root: str | os.PathLike) -> list[str]:
    """The assignments with a source notebook ``solutions/<a>/<a>.ipynb``, in teaching order."""
    root = Path(root)
    found = [p.name for p in (root / "solutions").iterdir() if (p / f"{p.name}.ipynb").is_file()] \
        if (root / "solutions").is_dir() else []
    return [a for a in ASSIGNMENTS if a in found] + sorted(a for a in found if a not in ASSIGNMENTS)


def students_in(root: str | os.PathLike) -> list[str]:
    """The student ids found as folders of ``submitted/`` (nbgrader's submitted/<student>/<assignment>/)."""
    sub = Path(root) / "submitted"
    if not sub.is_dir():
        return []
    return sorted(p.name for p in sub.iterdir() if p.is_dir() and not p.name.startswith("."))


def _with_scripts_on_path() -> None:
    """Put this interpreter's scripts folder (.venv/bin) first on PATH.

    nbgrader creates a new gradebook by running the ``alembic`` script, which ``make``
    (that calls .venv/bin/python without activating the environment) does not find otherwise.
    """
    scripts = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if scripts not in path.split(os.pathsep):
        os.environ["PATH"] = scripts + (os.pathsep + path if path else "")


def _nbgrader(root: Path, *args: str, quiet: bool = False) -> None:
    _with_scripts_on_path()
    exe = Path(sys.executable).with_name("nbgrader")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "nbgrader"]
    out = subprocess.run(cmd + list(args), cwd=root, capture_output=quiet, text=True)
    if out.returncode:
        if quiet:
            sys.stderr.write(out.stdout + out.stderr)
        raise SystemExit(f"nbgrader {' '.join(args)} failed (exit status {out.returncode})")


def _gradebook(root: Path):
    """nbgrader's Gradebook of the course at ``root`` (its db_url read from the course's config)."""
    from nbgrader.api import Gradebook
    from traitlets.config.loader import PyFileConfigLoader

    _with_scripts_on_path()
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    url = config.CourseDirectory.get("db_url") or f"sqlite:///{root / 'gradebook.db'}"
    course_id = config.CourseDirectory.get("course_id") or ""
    return Gradebook(url, course_id=course_id)


def release(root: str | os.PathLike = ".", names: list[str] | None = None) -> None:
    """``nbgrader generate_assignment`` for each assignment: solutions/ -> exercises/ (and the gradebook)."""
    root = Path(root).resolve()
    for name in names or assignments_in(root):
        _nbgrader(root, "generate_assignment", name, "--force")


def exchange(root: str | os.PathLike = ".", names: list[str] | None = None) -> None:
    """Release the assignments into the course's exchange (nbgrader_exchange/), so that students'
    Assignment List tab in JupyterLab lists them (fetch, validate, submit)."""
    root = Path(root).resolve()
    with _gradebook(root) as gb:
        recorded = {a.name for a in gb.assignments if a.notebooks}
    for name in names or assignments_in(root):
        if name not in recorded:
            _nbgrader(root, "generate_assignment", name, "--force", quiet=True)
        _nbgrader(root, "release_assignment", name, "--force", quiet=True)
        print(f"released {name} into {root / 'nbgrader_exchange'}")


def preflight_device() -> list[str]:
    """The devices grading will use; stops (SystemExit) before anything is graded when they are not available."""
    from .grading.run import resolve_devices

    try:
        return [str(d) for d in resolve_devices(None)]
    except (RuntimeError, ValueError) as exc:
        raise SystemExit(f"autograde stopped before grading anything (no grade was written): {exc}") from None


def autograde(root: str | os.PathLike = ".", names: list[str] | None = None, *, students: list[str] | None = None,
              jobs: int = 1, force: bool = False) -> list:
    """Grade the submissions in ``submitted/``: new or changed ones only unless ``force`` (see :mod:`cs502_lib.autograde`).

    Adds the students found to the gradebook, records an assignment that a fresh clone has only as a
    committed release, grades ``jobs`` submissions at a time, prints the summary and writes it to
    ``autograded/autograde_summary.json``. Returns the outcomes.
    """
    from .autograde import grade_submissions, write_summary

    root = Path(root).resolve()
    devices = preflight_device()
    found = students_in(root)
    if not found:
        raise SystemExit(f"nothing to grade: put submissions in {root / 'submitted'}/<student>/<assignment>/")
    if students:
        unknown = [s for s in students if s not in found]
        if unknown:
            raise SystemExit(f"no submission folder for {unknown} in {root / 'submitted'}; found: {found}")
        found = list(students)
    bad = [s for s in found if not _STUDENT_RE.match(s)]
    if bad:
        raise SystemExit(f"unusable student folder names in submitted/: {bad} (letters, digits, _ . @ - only)")
    names = names or [a for a in assignments_in(root) if any((root / "submitted" / s / a).is_dir() for s in found)]
    with _gradebook(root) as gb:
        known = {s.id for s in gb.students}
        for student in found:
            if student not in known:
                gb.update_or_create_student(student)
                print(f"added student {student} to the gradebook")
        recorded = {a.name for a in gb.assignments if a.notebooks}
    for name in names:
        if name not in recorded:  # a fresh clone: the release is committed but the gradebook is new
            print(f"recording {name} in the gradebook (nbgrader generate_assignment)")
            _nbgrader(root, "generate_assignment", name, "--force", quiet=True)
    print(f"grading on {', '.join(devices)}")
    pairs = [(s, a) for a in names for s in found if (root / "submitted" / s / a).is_dir()]
    outcomes = grade_submissions(root, pairs, jobs=jobs, force=force)
    write_summary(root, outcomes)
    return outcomes


def feedback(root: str | os.PathLike = ".", names: list[str] | None = None) -> None:
    """``nbgrader generate_feedback`` (sanitized by the config), then check the HTML for hidden tests."""
    root = Path(root).resolve()
    graded = root / "autograded"
    if not graded.is_dir():
        raise SystemExit("nothing graded yet: run `make autograde` first")
    names = names or [a for a in assignments_in(root) if any(graded.glob(f"*/{a}"))]
    for name in names:
        _nbgrader(root, "generate_feedback", name, "--force")
        _finish_pages(root, name)
        leaks = feedback_leaks(root, name)
        if leaks:
            raise SystemExit(
                f"feedback of {name} shows hidden-test code ({leaks[0][1]!r} in {leaks[0][0]}); "
                "is cs502_lib.course.SanitizeFeedback configured in nbgrader_config.py?"
            )
        print(f"feedback of {name}: {len(list((root / 'feedback').glob(f'*/{name}/*.html')))} page(s), no hidden test shown")


def _finish_pages(root: Path, assignment: str) -> None:
    """Local MathJax in every page of ``assignment``; written answers not graded yet shown as awaiting grading."""
    from nbgrader.api import MissingEntry

    from .feedback import finish_page

    pages = sorted((root / "feedback").glob(f"*/{assignment}/*.html"))
    with _gradebook(root) as gb:
        for page in pages:
            student = page.parent.parent.name
            try:
                nb = gb.find_submission_notebook(page.stem, assignment, student)
                pending = [g.name for g in nb.grades if g.needs_manual_grade and g.manual_score is None
                           and registry_by_cell(g.name) is None]
            except MissingEntry:
                pending = []
            finish_page(page, root / "feedback", pending)
    students = {p.parent.parent.name for p in pages}
    missing = [s for s in students_in(root) if (root / "autograded" / s / assignment).is_dir() and s not in students]
    from .feedback import load_record

    for s in sorted(missing):
        record = load_record(root, s, assignment) or {}
        why = record.get("ungradable") or record.get("kernel_problem") or "see the autograde summary"
        print(f"no feedback page for {s} / {assignment}: nbgrader wrote none ({why})")
    ungraded = [s for s in students_in(root) if (root / "submitted" / s / assignment).is_dir()
                and not (root / "autograded" / s / assignment).is_dir()]
    for s in sorted(ungraded):
        print(f"no feedback page for {s} / {assignment}: the submission was not autograded (run make autograde)")


def make_course(dest: str | os.PathLike, source_root: str | os.PathLike, names: list[str] | None = None,
                *, config_extra: str = "") -> Path:
    """A fresh course folder at ``dest``: the sources of ``names`` and the config of ``source_root``.

    ``config_extra`` is appended to the copied ``nbgrader_config.py`` (tests use it for a
    shorter cell timeout). Returns ``dest``.
    """
    dest, source_root = Path(dest), Path(source_root)
    dest.mkdir(parents=True, exist_ok=True)
    for name in names or assignments_in(source_root):
        shutil.copytree(source_root / "solutions" / name, dest / "solutions" / name, dirs_exist_ok=True)
    config = (source_root / "nbgrader_config.py").read_text(encoding="utf-8")
    (dest / "nbgrader_config.py").write_text(config + ("\n" + config_extra if config_extra else ""), encoding="utf-8")
    return dest


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cs502_lib.course", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["release", "autograde", "feedback", "exchange"])
    parser.add_argument("assignments", nargs="*", help="assignments (default: all of solutions/)")
    parser.add_argument("--root", default=".", help="the course folder (default: the current directory)")
    parser.add_argument("--student", action="append", help="autograde: only this student (repeatable)")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="autograde: submissions graded at once (default 1)")
    parser.add_argument("--force", action="store_true", help="autograde: grade again even unchanged submissions")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"-j/--jobs must be at least 1, got {args.jobs}")
    root = Path(args.root).resolve()
    if not (root / "nbgrader_config.py").is_file():
        parser.error(f"{root} has no nbgrader_config.py: run from the course folder or pass --root")
    unknown = [a for a in args.assignments if a not in assignments_in(root)]
    if unknown:
        parser.error(f"unknown assignments {unknown}; known: {assignments_in(root)}")
    if args.command == "autograde":
        autograde(root, args.assignments or None, students=args.student, jobs=args.jobs, force=args.force)
    else:
        {"release": release, "feedback": feedback, "exchange": exchange}[args.command](root, args.assignments or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
