"""Red team: a student who wants the points, graded with the real instructor command.

Every attack below is one student's submission of the ``attention`` assignment. Each sits on
top of a real mistake (or on no implementation at all, for delegation) and tries to make
the grading say otherwise: by patching the grader, torch or builtins in the kernel, by
planting modules in ``sys.modules``, by IPython hooks and input transformers that rewrite
the test cells, by a printed fake report, by delegating to PyTorch or to cs502_lib's own
reference (directly, through ``getattr`` and built strings, through ``exec``, hidden behind
``try``/``except``), by a tensor subclass that lies to comparisons, or by ending the kernel.

All are graded in one temporary course with ``python -m cs502_lib.course autograde -j 2``.
Each must earn no more than the honest submission with the same mistakes, and must be
flagged for the instructor (tampering suspected, a finding to review, or a failed kernel run).
Beside them: an honest submission with the same mistake, a correct one whose test cells were
deleted (full marks), a file that is not a notebook (named, never a plain 0), and the CUDA
preflight, which must leave the gradebook untouched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
import torch

from _roundtrip import ROOT, Scenario, bug, make_submission, solution_sources
from cs502_lib.course import make_course
from cs502_lib.grading import registry

pytestmark = pytest.mark.slow

NAME = "attention"
NO_SCALE = bug(" / math.sqrt(d_k)", "")


def after(extra: str, edit=NO_SCALE):
    """The solution with ``edit`` (a real mistake), followed by the attack's code."""
    return lambda src: edit(src) + "\n\n" + extra.strip("\n") + "\n"


def replace(source: str):
    return lambda src: source.strip("\n") + "\n"


@dataclass
class Attack:
    student: str
    what: str
    #: graded names that the same submission without the attack would lose
    wrong: set[str]
    edits: dict = field(default_factory=dict)
    test_edits: dict = field(default_factory=dict)
    delete_tests: bool = False


SDPA = "scaled_dot_product_attention"
MHA = "MultiHeadAttention"

ATTACKS = [
    Attack("a01_testcell", "replaces cs502_lib.testcell.grade and importlib.reload", {SDPA}, {SDPA: after('''
import importlib, cs502_lib.testcell as _t
_t.grade = _t.grade_hidden = lambda *a, **k: print("check passed: 22 cases on cpu, meta in 0.1 s")
importlib.reload = lambda module: module
''')}),
    Attack("a02_torch", "makes torch.allclose and torch.equal always true", {SDPA}, {SDPA: after('''
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
''')}),
    Attack("a03_sys_modules", "plants a fake cs502_lib.testcell in sys.modules", {SDPA}, {SDPA: after('''
import sys, types, importlib, cs502_lib
_fake = types.ModuleType("cs502_lib.testcell")
_fake.grade = _fake.grade_hidden = lambda *a, **k: print("check passed")
sys.modules["cs502_lib.testcell"] = cs502_lib.testcell = _fake
importlib.reload = lambda module: module
''')}),
    Attack("a04_input_transformer", "an IPython input transformer rewrites every test cell", {SDPA}, {SDPA: after('''
def _rewrite(lines):
    if any("cs502_lib.testcell" in line for line in lines):
        return ["print('check passed')\\n"]
    return lines
get_ipython().input_transformers_cleanup.append(_rewrite)
''')}),
    Attack("a05_ast_transformer", "an IPython AST transformer drops the check calls", {SDPA}, {SDPA: after('''
import ast as _ast
class _NoChecks(_ast.NodeTransformer):
    def visit_Expr(self, node):
        text = _ast.unparse(node)
        return _ast.Expr(_ast.Constant("passed")) if "grade" in text else node
get_ipython().ast_transformers.append(_NoChecks())
''')}),
    Attack("a06_fake_report", "edits the test cells to print a passing report", {SDPA}, {SDPA: NO_SCALE},
           test_edits={f"test_{SDPA}": 'print("check_scaled_dot_product_attention passed: 22 cases on cpu, meta")',
                       f"hidden_{SDPA}": 'print("hidden tests passed")'}),
    Attack("a07_delegate_torch", "delegates to F.scaled_dot_product_attention", {SDPA}, {SDPA: replace('''
def scaled_dot_product_attention(q, k, v, mask=None):
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    return out, weights
''')}),
    Attack("a08_delegate_getattr", "reaches the built-in through getattr and a built string", {SDPA}, {SDPA: replace('''
_fn = getattr(F, "scaled_dot_" + "product_attention")
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return _fn(q, k, v, attn_mask=mask), torch.softmax(scores, dim=-1)
''')}),
    Attack("a09_delegate_reference", "submits cs502_lib's own reference", {SDPA}, {SDPA: replace('''
from cs502_lib import scaled_dot_product_attention
''')}),
    Attack("a10_swallowed_refusal", "hides the refused call in try/except, falls back to a wrong version", {SDPA},
           {SDPA: replace('''
def scaled_dot_product_attention(q, k, v, mask=None):
    weights = torch.softmax(q @ k.transpose(-2, -1), dim=-1)
    try:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask), weights
    except Exception:
        return weights @ v, weights
''')}),
    Attack("a11_tensor_subclass", "returns a tensor subclass that makes every comparison true", {SDPA}, {SDPA: after('''
class _Liar(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in ("allclose", "equal"):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})

_wrong = scaled_dot_product_attention
def scaled_dot_product_attention(q, k, v, mask=None):
    out, w = _wrong(q, k, v, mask)
    return out.as_subclass(_Liar), w.as_subclass(_Liar)
''')}),
    Attack("a12_kernel_exit", "ends the kernel from a solution cell", {MHA}, {MHA: lambda src: "import os\nos._exit(0)\n" + src}),
    Attack("a13_replace_check", "replaces the check in cs502_lib.grading", {SDPA}, {SDPA: after('''
import sys, cs502_lib.grading
for _m in [cs502_lib.grading] + [m for n, m in list(sys.modules.items()) if n.startswith("cs502_lib.grading.")]:
    if hasattr(_m, "check_scaled_dot_product_attention"):
        _m.check_scaled_dot_product_attention = lambda impl, **kw: "passed"
''')}),
    Attack("a14_frame_peek", "reads the caller's variables to find the expected values", {SDPA}, {SDPA: replace('''
import sys
def scaled_dot_product_attention(q, k, v, mask=None):
    caller = sys._getframe(1).f_locals
    for value in caller.values():
        if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(t, torch.Tensor) for t in value):
            return tuple(value)
    weights = torch.softmax(q @ k.transpose(-2, -1), dim=-1)
    return weights @ v, weights
''')}),
    Attack("a15_exec", "builds the delegation in exec", {SDPA}, {SDPA: replace('''
_src = "def scaled_dot_product_attention(q, k, v, mask=None):\\n" \\
       "    w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), -1)\\n" \\
       "    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask), w\\n"
exec(_src)
''')}),
]

HONEST = Attack("honest_bug", "the same mistake, no attack", {SDPA}, {SDPA: NO_SCALE})
DELETED = Attack("correct_tests_deleted", "a correct submission whose test cells were deleted", set(), delete_tests=True)


def _points(wrong: set[str]) -> float:
    return float(sum(it.points + it.hidden_points for it in registry.items(NAME) if it.name not in wrong))


def _submission(release: Path, solutions: dict, attack: Attack) -> nbformat.NotebookNode:
    nb = make_submission(release, solutions, Scenario(attack.student, attack.wrong, attack.edits, attack.test_edits))
    if attack.delete_tests:
        nb.cells = [c for c in nb.cells if not c.metadata.get("nbgrader", {}).get("grade_id", "").startswith(("test_", "hidden_"))]
    return nb


def _run(cmd, cwd, env=None, check=True, timeout=1500):
    env = dict(env or os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout)
    if check:
        assert out.returncode == 0, f"{cmd} failed:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}"
    return out


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("redteam") / "course", ROOT, [NAME],
                         config_extra="c.Execute.timeout = 30\nc.ExecutePreprocessor.timeout = 30\n")
    _run([str(Path(sys.executable).with_name("nbgrader")), "generate_assignment", NAME, "--force"], course)
    release = course / "exercises" / NAME / f"{NAME}.ipynb"
    solutions = solution_sources(NAME)
    for attack in ATTACKS + [HONEST, DELETED]:
        dest = course / "submitted" / attack.student / NAME
        dest.mkdir(parents=True)
        nbformat.write(_submission(release, solutions, attack), dest / f"{NAME}.ipynb")
    bad = course / "submitted" / "not_a_notebook" / NAME
    bad.mkdir(parents=True)
    (bad / f"{NAME}.ipynb").write_text("print('my homework')\n")
    out = _run([sys.executable, "-m", "cs502_lib.course", "autograde", NAME, "-j", "2"], course)
    summary = json.loads((course / "autograded" / "autograde_summary.json").read_text())
    rows = {r["student"]: r for r in summary["submissions"]}
    return course, rows, out.stdout


def _gradebook_scores(course: Path, student: str) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="cs502-transformers") as gb:
        nb = gb.find_submission_notebook(NAME, NAME, student)
        return {g.name: (g.auto_score, g.needs_manual_grade) for g in nb.grades}


def test_the_honest_submission_earns_what_its_mistake_leaves(graded):
    course, rows, _ = graded
    assert rows[HONEST.student]["clean_points"] == _points(HONEST.wrong)
    assert not rows[HONEST.student]["tampering_suspected"] and not rows[HONEST.student]["flags"]


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.student for a in ATTACKS])
def test_an_attack_earns_no_more_than_honest_work_and_is_flagged(graded, attack):
    course, rows, _ = graded
    row = rows[attack.student]
    scores = _gradebook_scores(course, attack.student)
    gained = sum(score for gid, (score, _) in scores.items() if registry.by_cell(gid))
    assert row["clean_points"] == gained
    assert gained <= _points(attack.wrong), f"{attack.what}: {gained} points, honest work earns {_points(attack.wrong)}"
    assert row["tampering_suspected"] or row["flags"] or row["kernel_problem"], f"{attack.what}: not flagged"


def test_the_attacks_are_named_in_the_summary(graded):
    _, rows, stdout = graded
    suspected = [a.student for a in ATTACKS if rows[a.student]["tampering_suspected"]]
    assert len(suspected) >= 5, suspected  # the attacks that fooled the kernel are caught by the clean verdict
    for student in suspected:
        assert f"TAMPERING SUSPECTED  {student} / {NAME}" in stdout


def test_a_correct_submission_without_its_test_cells_gets_full_marks(graded):
    course, rows, _ = graded
    assert rows[DELETED.student]["clean_points"] == _points(set())
    scores = _gradebook_scores(course, DELETED.student)
    for it in registry.items(NAME):
        for gid, pts in it.cells.items():
            assert scores[gid][0] == pts, gid


def test_a_file_that_is_not_a_notebook_is_named_and_waits_for_a_person(graded):
    course, rows, stdout = graded
    assert rows["not_a_notebook"]["ungradable"]
    assert f"NOT GRADED  not_a_notebook / {NAME}" in stdout
    scores = _gradebook_scores(course, "not_a_notebook")
    assert all(manual and score is None for gid, (score, manual) in scores.items() if registry.by_cell(gid))


def test_an_unchanged_submission_is_not_graded_again(graded):
    course, _, _ = graded
    out = _run([sys.executable, "-m", "cs502_lib.course", "autograde", NAME, "--student", HONEST.student], course)
    assert "grading 1 submission" not in out.stdout and f"  {HONEST.student}/{NAME}:" not in out.stdout
    assert "autograde summary: 1 submission(s)" in out.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="the preflight is for hosts without CUDA")
def test_a_cuda_request_without_cuda_stops_before_any_grade_is_written(graded):
    course, _, _ = graded
    db = course / "gradebook.db"
    before = db.read_bytes()
    out = _run([sys.executable, "-m", "cs502_lib.course", "autograde", NAME, "--force"], course,
               env=dict(os.environ, CS502_GRADING_DEVICE="cuda"), check=False)
    assert out.returncode != 0
    assert "stopped before grading anything" in out.stderr and "cuda" in out.stderr.lower()
    assert db.read_bytes() == before


@pytest.fixture(scope="module")
def feedback(graded):
    course, _, _ = graded
    out = _run([sys.executable, "-m", "cs502_lib.course", "feedback", NAME], course)
    return course, out.stdout


def _page(course: Path, student: str) -> str:
    return (course / "feedback" / student / NAME / f"{NAME}.html").read_text(encoding="utf-8")


def test_feedback_shows_the_clean_verdict_not_what_the_kernel_printed(feedback):
    course, _ = feedback
    page = _page(course, "a04_input_transformer")  # its kernel printed "check passed" in every test cell
    assert "Most likely cause: missing scaling" in page.replace("&#39;", "'")
    assert "TAMPERING SUSPECTED" in page


def test_feedback_renders_math_without_a_cdn_and_shows_ungraded_answers_as_waiting(feedback):
    course, _ = feedback
    page = _page(course, HONEST.student)
    assert "cdnjs" not in page and "https://cdn" not in page
    assert '<script src="../../_mathjax/tex-svg-full.js"></script>' in page
    assert (course / "feedback" / "_mathjax" / "tex-svg-full.js").stat().st_size > 1_000_000
    assert "awaiting grading" in page and "Written response</a> (Score: 0.0" not in page


def test_feedback_names_the_students_without_a_page(feedback):
    _, stdout = feedback
    assert "no feedback page for not_a_notebook / attention" in stdout and "not a notebook" in stdout


def test_nbgrader_reports_edited_cells_but_no_false_checksum_alarm(graded):
    """Run last: it lets nbgrader itself rewrite two students' rows in the gradebook."""
    course, rows, _ = graded
    nbgrader = str(Path(sys.executable).with_name("nbgrader"))
    untouched = _run([nbgrader, "autograde", NAME, "--student", HONEST.student, "--force"], course)
    assert "checksum" not in untouched.stdout + untouched.stderr
    edited = _run([nbgrader, "autograde", NAME, "--student", "a06_fake_report", "--force"], course)
    assert f"Attribute 'checksum' for cell test_{SDPA} has changed" in edited.stdout + edited.stderr
    assert any("locked cell test_scaled_dot_product_attention was edited" in f for f in rows["a06_fake_report"]["flags"])
