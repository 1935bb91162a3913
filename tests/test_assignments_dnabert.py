"""nbgrader round trip of the dnabert assignment: release, submissions, autograde, feedback (see tests/_roundtrip.py)."""

import re

import pytest

from _roundtrip import EDITED_TEST, Scenario, bug, expected, feedback_html, loop_at_top, run_round_trip, tamper
from cs502_lib.course import hidden_test_lines

pytestmark = pytest.mark.slow

NAME = "dnabert"
SCENARIOS = [
    Scenario("full", set()),
    Scenario("blank", {"*"}, fill=False),
    Scenario("bug", {"transcribe"}, edits={"transcribe": bug('"C": "G", "G": "C"', '"C": "C", "G": "G"')}),
    Scenario("locked", {"kmer_tokenize"}, edits={"kmer_tokenize": bug("range(len(seq) - k + 1)", "range(len(seq) - k)")},
             test_edits={"test_kmer_tokenize": EDITED_TEST, "hidden_kmer_tokenize": EDITED_TEST}),
    Scenario("rogue", {"span_mask", "translate"},
             edits={"span_mask": loop_at_top, "translate": tamper("check_translate")}),
]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    return run_round_trip(NAME, SCENARIOS, tmp_path_factory.mktemp(NAME))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.student for s in SCENARIOS])
def test_scores(graded, scenario):
    want = expected(NAME, scenario.loses)
    assert {gid: graded.scores[scenario.student][gid] for gid in want} == want


def test_the_written_answer_waits_for_a_person(graded):
    assert graded.needs_manual["full"]


def test_autograding_time_per_submission(graded):
    per = graded.autograde_seconds / graded.students
    print(f"{NAME}: {graded.students} submissions autograded in {graded.autograde_seconds:.1f} s ({per:.1f} s each)")
    assert per < 90, f"{per:.1f} s per submission"


@pytest.mark.parametrize("student", [s.student for s in SCENARIOS])
def test_feedback_shows_messages_but_no_hidden_test(graded, student):
    page = feedback_html(graded, student)
    text = re.sub(r"<[^>]+>", "", page)
    for line in hidden_test_lines(graded.course / "solutions" / NAME / f"{NAME}.ipynb"):
        assert line not in text.replace("&quot;", '"').replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert "### BEGIN HIDDEN TESTS" not in page and "Traceback (most recent call last)" not in text
    if student != "full":
        assert "GradingError" in page or "Error" in page

