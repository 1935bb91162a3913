"""The assignments' sources, their committed release and nbgrader's validate (the student's view)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from cs502_lib.course import ASSIGNMENTS, assignments_in, hidden_test_lines, make_course
from cs502_lib.grading import registry
from cs502_lib.testcell import CHECKS

ROOT = Path(__file__).resolve().parent.parent
NBGRADER = str(Path(sys.executable).with_name("nbgrader"))
ENV = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))

#: The graded names of DESIGN.md's contract, per assignment (the registry may grade more).
CONTRACT = {
    "rnn_lstm": ["rnn_cell", "lstm_cell"],
    "attention": ["scaled_dot_product_attention", "MultiHeadAttention"],
    "positions_masks": ["sinusoidal_positional_encoding", "causal_mask", "padding_mask"],
    "transformer": ["EncoderLayer", "DecoderLayer"],
    "dnabert": ["transcribe", "translate", "kmer_tokenize", "build_kmer_vocab", "span_mask"],
}
#: What is graded, in notebook order: the registry (a new graded function is added there, not here).
GRADED = {name: [it.name for it in registry.items(name)] for name in ASSIGNMENTS}


def _nb(kind: str, name: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / kind / name / f"{name}.ipynb", as_version=4)


def _comparable(nb: nbformat.NotebookNode) -> list:
    """Cell types, sources and metadata: what must agree between two generations of a release."""
    return [(c.cell_type, c.source, json.dumps(c.metadata, sort_keys=True)) for c in nb.cells]


def test_every_assignment_is_there_and_grades_the_contract_names():
    assert assignments_in(ROOT) == list(ASSIGNMENTS) == list(CONTRACT)
    for name, names in CONTRACT.items():
        assert [n for n in GRADED[name] if n in names] == names, name


def test_notebooks_are_what_the_builder_writes():
    """solutions/<a>/<a>.ipynb is built from assignments/<a>.py (tools/build_assignments.py): never edited by hand."""
    assert sorted(p.stem for p in (ROOT / "assignments").glob("*.py")) == sorted(ASSIGNMENTS)
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "build_assignments.py"), "--check"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


def test_no_source_inside_the_nbgrader_source_folders():
    """nbgrader's release copies every file of solutions/<a>/: only the notebook may be there."""
    for name in ASSIGNMENTS:
        assert sorted(p.name for p in (ROOT / "solutions" / name).iterdir()
                      if not p.name.startswith(".")) == [f"{name}.ipynb"]


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_one_solution_cell_per_graded_name(name):
    nb = _nb("solutions", name)
    solution_code = [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
    assert [c.metadata.nbgrader.grade_id for c in solution_code] == GRADED[name]
    for cell in solution_code:
        meta = cell.metadata.nbgrader
        assert meta.grade is False and meta.locked is False
        assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source
        # written independently: not the library's reference of the same name
        assert f"cs502_lib.{meta.grade_id}" not in cell.source and f"import {meta.grade_id}" not in cell.source
    tests = {c.metadata.nbgrader.grade_id: c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
             and c.cell_type == "code"}
    for graded in GRADED[name]:
        assert f'grade("{graded}", {graded})' in tests[f"test_{graded}"].source
        assert graded in CHECKS
        assert "### BEGIN HIDDEN TESTS" in tests[f"hidden_{graded}"].source
        assert tests[f"test_{graded}"].metadata.nbgrader.locked and tests[f"test_{graded}"].metadata.nbgrader.points > 0
    written = [c for c in nb.cells if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("solution")]
    assert len(written) == 1 and written[0].metadata.nbgrader.grade and written[0].metadata.nbgrader.points > 0
    assert "How to check your work" in nb.cells[1].source
    assert f"../../book/" in nb.cells[0].source


@pytest.mark.parametrize("kind", ["solutions", "exercises"])
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_committed_without_outputs(kind, name):
    for cell in _nb(kind, name).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_hides_solutions_and_hidden_tests(name):
    text = (ROOT / "exercises" / name / f"{name}.ipynb").read_text(encoding="utf-8")
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    for line in hidden_test_lines(ROOT / "solutions" / name / f"{name}.ipynb"):
        assert line not in text
    assert text.count("raise NotImplementedError()") >= len(GRADED[name])


@pytest.mark.slow
def test_committed_release_is_up_to_date(tmp_path):
    """Regenerate the release with nbgrader in a temporary course: it must equal exercises/."""
    course = make_course(tmp_path / "course", ROOT)
    for name in ASSIGNMENTS:
        out = subprocess.run([NBGRADER, "generate_assignment", name, "--force"], cwd=course,
                             capture_output=True, text=True, env=ENV)
        assert out.returncode == 0, out.stderr[-4000:]
    stale = [name for name in ASSIGNMENTS
             if _comparable(nbformat.read(course / "exercises" / name / f"{name}.ipynb", as_version=4))
             != _comparable(_nb("exercises", name))]
    assert not stale, f"exercises/ is stale for {stale}: run `make release` and commit exercises/"


def _validate(path: Path) -> str:
    out = subprocess.run([NBGRADER, "validate", str(path)], cwd=ROOT, capture_output=True, text=True, env=ENV,
                         timeout=600)
    return out.stdout + out.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_validate_lists_the_failures_of_the_untouched_release(name):
    report = _validate(ROOT / "exercises" / name / f"{name}.ipynb")
    assert "VALIDATION FAILED" in report, report[-3000:]
    for graded in GRADED[name]:
        assert f'grade("{graded}"' in report, f"{graded} missing from the validate report"
    assert "NotImplementedError" in report


@pytest.mark.slow
def test_validate_passes_a_solution():
    report = _validate(ROOT / "solutions" / "positions_masks" / "positions_masks.ipynb")
    assert "Success! Your notebook passes all the tests." in report, report[-3000:]
