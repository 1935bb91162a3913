"""Shared machinery of the nbgrader round-trip tests (tests/test_assignments_<assignment>.py).

For one assignment, :func:`run_round_trip` builds a temporary course folder (the source
and the repository's nbgrader_config.py, with a shorter cell timeout), generates the
release, writes several students' submissions made from that release, autogrades them
all in one ``nbgrader autograde`` and writes their feedback. The tests then compare
each student's score per graded cell with what the scenario must earn.

Scenarios (one student each; the test files choose the names and the bugs):

* ``full``:   every solution filled in -> full marks (the written answer waits for a person);
* ``blank``:  the untouched release -> 0;
* ``bug``:    one bug in one graded name -> exactly that name's points lost (its check and hidden tests);
* ``locked``: one bug in another name, and its test cells edited to pass -> graded with the
  original cells, so exactly that name's points are lost;
* ``loop``:   an infinite loop in one solution cell -> that cell times out (the cell timeout of
  nbgrader_config.py, shortened here), that name's points are lost, and autograding finishes;
* ``tamper``: a solution cell that replaces the ``check_*`` of its own (correct) name by a no-op
  -> the clean verdict grades the function itself, which is right, so no point is lost; the
  patching is flagged for the instructor (a review comment, shown in the feedback).

(``rogue`` combines ``loop`` and ``tamper`` on two different names of one submission.)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from cs502_lib.course import make_course

ROOT = Path(__file__).resolve().parent.parent
NBGRADER = str(Path(sys.executable).with_name("nbgrader"))
CELL_TIMEOUT = 20

_MARKER_RE = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", re.M)


@dataclass
class Scenario:
    student: str
    #: graded names whose points this student must lose ("*" = all)
    loses: set[str]
    #: solution cells: name -> function(solution source) -> submitted source
    edits: dict = field(default_factory=dict)
    #: test cells: grade_id -> replacement source (a student editing a locked cell)
    test_edits: dict = field(default_factory=dict)
    fill: bool = True


def solution_sources(name: str) -> dict[str, str]:
    """grade_id -> source (without the solution markers) of the solution cells of the source notebook."""
    nb = nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)
    out = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            out[meta["grade_id"]] = _MARKER_RE.sub("", cell.source)
    return out


def graded_cells(name: str) -> dict[str, float]:
    """grade_id -> points of the autograded test cells of the source notebook."""
    nb = nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)
    return {
        c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"]["points"])
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")
    }


def owner(grade_id: str) -> str:
    """The graded name a test cell belongs to: test_<name> and hidden_<name>."""
    return grade_id.split("_", 1)[1]


def make_submission(release_nb: Path, solutions: dict[str, str], scenario: Scenario) -> nbformat.NotebookNode:
    nb = nbformat.read(release_nb, as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        if meta.get("solution") and scenario.fill:
            src = solutions[gid]
            if gid in scenario.edits:
                src = scenario.edits[gid](src)
            cell.source = src
        elif gid in scenario.test_edits:
            cell.source = scenario.test_edits[gid]
    return nb


def _run(cmd: list[str], cwd: Path, timeout: int) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-6000:]}"
    return out


@dataclass
class RoundTrip:
    course: Path
    name: str
    scores: dict  # student -> {grade_id: score}
    needs_manual: dict  # student -> bool
    autograde_seconds: float
    students: int


def run_round_trip(name: str, scenarios: list[Scenario], tmp: Path) -> RoundTrip:
    """Release, submit, autograde and write feedback for ``scenarios`` in a fresh course under ``tmp``."""
    course = make_course(tmp / "course", ROOT, [name],
                         config_extra=f"c.Execute.timeout = {CELL_TIMEOUT}\nc.ExecutePreprocessor.timeout = {CELL_TIMEOUT}\n")
    env_cmd = [NBGRADER]
    _run(env_cmd + ["generate_assignment", name, "--force"], course, 300)
    release_nb = course / "exercises" / name / f"{name}.ipynb"
    solutions = solution_sources(name)
    for sc in scenarios:
        dest = course / "submitted" / sc.student / name
        dest.mkdir(parents=True)
        nbformat.write(make_submission(release_nb, solutions, sc), dest / f"{name}.ipynb")
        (dest / "timestamp.txt").write_text("2026-11-27 12:00:00.000000 UTC")
    start = time.perf_counter()
    _run([sys.executable, "-m", "cs502_lib.course", "autograde", name], course, 900)
    seconds = time.perf_counter() - start
    _run([sys.executable, "-m", "cs502_lib.course", "feedback", name], course, 300)

    from nbgrader.api import Gradebook

    scores, manual = {}, {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="cs502-transformers") as gb:
        for sc in scenarios:
            sub = gb.find_submission_notebook(name, name, sc.student)
            scores[sc.student] = {g.name: g.score for g in sub.grades}
            manual[sc.student] = sub.needs_manual_grade
    return RoundTrip(course, name, scores, manual, seconds, len(scenarios))


def expected(name: str, loses: set[str]) -> dict[str, float]:
    cells = graded_cells(name)
    return {gid: (0.0 if ("*" in loses or owner(gid) in loses) else pts) for gid, pts in cells.items()}


def feedback_html(rt: RoundTrip, student: str) -> str:
    page = rt.course / "feedback" / student / rt.name / f"{rt.name}.html"
    return page.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- edits a student might make


def bug(old: str, new: str):
    """An edit that replaces ``old`` by ``new`` in a solution (asserting that ``old`` is there)."""

    def edit(src: str) -> str:
        assert old in src, f"{old!r} not in the solution:\n{src}"
        return src.replace(old, new, 1)

    return edit


def loop_at_top(src: str) -> str:
    """An infinite loop that runs when the cell runs (before the definition): the cell times out."""
    return "while True:\n    pass\n\n" + src


def tamper(check_name: str):
    """An edit that, after the solution, replaces ``cs502_lib.grading.<check_name>`` (and its module's) by a no-op."""

    def edit(src: str) -> str:
        return src + (
            "\n\nimport cs502_lib.grading, sys\n"
            f"cs502_lib.grading.{check_name} = lambda impl, **kw: 'all good'\n"
            "for _m in [m for n, m in list(sys.modules.items()) if n.startswith('cs502_lib.grading.')]:\n"
            f"    if hasattr(_m, '{check_name}'):\n"
            f"        setattr(_m, '{check_name}', lambda impl, **kw: 'all good')\n"
        )

    return edit


EDITED_TEST = "# I edited this test cell so that it passes\nprint('all good')\n"


def _unescape(text: str) -> str:
    for a, b in (("&quot;", '"'), ("&#39;", "'"), ("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&")):
        text = text.replace(a, b)
    return text


def round_trip_tests(name: str, scenarios: list[Scenario]) -> dict:
    """The tests every assignment shares, to bind in its test module with ``globals().update(...)``.

    A module fixture ``graded`` runs the round trip once; the tests check each scenario's scores,
    the written answer left to a person, the time per submission, and feedback without hidden tests.
    """
    import pytest

    from cs502_lib.course import hidden_test_lines

    @pytest.fixture(scope="module")
    def graded(tmp_path_factory):
        return run_round_trip(name, scenarios, tmp_path_factory.mktemp(name))

    @pytest.mark.parametrize("scenario", scenarios, ids=[s.student for s in scenarios])
    def test_scores(graded, scenario):
        want = expected(name, scenario.loses)
        assert {gid: graded.scores[scenario.student][gid] for gid in want} == want

    def test_the_written_answer_waits_for_a_person(graded):
        assert graded.needs_manual["full"]

    def test_autograding_time_per_submission(graded):
        per = graded.autograde_seconds / graded.students
        print(f"{name}: {graded.students} submissions autograded in {graded.autograde_seconds:.1f} s ({per:.1f} s each)")
        assert per < 90, f"{per:.1f} s per submission"

    @pytest.mark.parametrize("student", [s.student for s in scenarios])
    def test_feedback_shows_messages_but_no_hidden_test(graded, student):
        page = feedback_html(graded, student)
        text = _unescape(re.sub(r"<[^>]+>", "", page))
        for line in hidden_test_lines(graded.course / "solutions" / name / f"{name}.ipynb"):
            assert line not in text
        assert "### BEGIN HIDDEN TESTS" not in page and "Traceback (most recent call last)" not in text
        if student != "full":
            assert "GradingError" in page or "Error" in page

    return {f.__name__: f for f in (test_scores, test_the_written_answer_waits_for_a_person,
                                    test_autograding_time_per_submission, test_feedback_shows_messages_but_no_hidden_test)} | {"graded": graded}
