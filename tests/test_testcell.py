"""cs502_lib.testcell (what the assignments' test cells call) and the feedback sanitizer of cs502_lib.course."""

import subprocess
import sys
import textwrap
import time

import nbformat
import pytest

from cs502_lib.course import SanitizeFeedback


def _run(code: str) -> str:
    """Run ``code`` in a fresh interpreter (tampering must not leak into this test process)."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_a_clean_interpreter_shows_no_tampering():
    out = _run("""
        import cs502_lib, cs502_lib.grading, cs502_lib.dnabert, cs502_lib.course
        from cs502_lib import testcell
        print(testcell.tampering())
    """)
    assert out.strip() == "[]"


def test_grade_runs_the_check_and_detects_a_replaced_check_for_that_check_only():
    out = _run("""
        import torch, cs502_lib.grading
        from cs502_lib import testcell

        def causal_mask(n, device=None):
            i = torch.arange(n, device=device)
            return i[None, :] <= i[:, None]

        def padding_mask(lengths, max_len):
            return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]

        print("report:", testcell.grade("causal_mask", causal_mask, show=False).passed)
        cs502_lib.grading.check_causal_mask = lambda impl, **kw: "all good"
        try:
            testcell.grade("causal_mask", causal_mask)
        except AssertionError as e:
            print("refused:", "grading code was modified" in str(e), type(e).__name__)
        # the reload restored the check, but the tampering is remembered for that check ...
        try:
            testcell.grade("causal_mask", causal_mask)
        except AssertionError as e:
            print("still refused:", "grading code was modified" in str(e))
        # ... and only for that check
        print("other check:", testcell.grade("padding_mask", padding_mask, show=False).passed)
        try:
            testcell.untouched("causal_mask")
        except AssertionError:
            print("hidden tests refused")
        testcell.untouched("padding_mask")
    """)
    assert "report: True" in out
    assert "refused: True GradingError" in out
    assert "still refused: True" in out
    assert "other check: True" in out
    assert "hidden tests refused" in out


def test_patching_torch_or_the_engine_touches_every_check():
    out = _run("""
        import torch, cs502_lib.grading.run
        from cs502_lib import testcell
        torch.allclose = lambda *a, **k: True
        found = testcell.tampering()
        print(("torch", "allclose") in found)
        try:
            testcell.grade("causal_mask", lambda n, device=None: None)
        except AssertionError as e:
            print("refused:", "torch.allclose" in str(e))
    """)
    assert "True" in out.splitlines()[0] and "refused: True" in out


def test_the_reference_itself_is_not_accepted():
    out = _run("""
        import cs502_lib
        from cs502_lib import testcell
        try:
            testcell.grade("causal_mask", cs502_lib.causal_mask)
        except AssertionError as e:
            print("refused:", "write causal_mask yourself" in str(e))
    """)
    assert "refused: True" in out


def test_time_limit_stops_an_infinite_loop():
    from cs502_lib.testcell import time_limit

    start = time.perf_counter()
    with pytest.raises(AssertionError, match="did not finish within 0.5 s"):
        with time_limit(0.5, "the hidden tests of f"):
            while True:
                pass
    assert time.perf_counter() - start < 5
    with time_limit(1.0):  # nothing happens when the code is quick, and the timer is disarmed
        pass
    time.sleep(1.2)


def test_sanitize_feedback_hides_hidden_tests_and_tracebacks():
    cell = nbformat.v4.new_code_cell(
        "# Hidden tests of f (1 point)\n### BEGIN HIDDEN TESTS\nassert f(3) == 9, 'f: wrong square'\n### END HIDDEN TESTS"
    )
    cell.outputs = [nbformat.v4.new_output(
        "error", ename="AssertionError", evalue="\x1b[31mf: wrong square\x1b[0m",
        traceback=["\x1b[31m----\x1b[0m", "Cell In[4], line 3", "assert f(3) == 9, 'f: wrong square'"],
    )]
    nb = nbformat.v4.new_notebook(cells=[cell])
    nb, _ = SanitizeFeedback().preprocess(nb, {})
    out = nb.cells[0]
    assert "f(3) == 9" not in out.source and "# Hidden tests of f (1 point)" in out.source
    assert "hidden tests: their code is not shown" in out.source
    assert out.outputs[0].traceback == ["AssertionError: f: wrong square"]
