"""nbgrader round trip of the rnn_lstm assignment: release, submissions, autograde, feedback (see tests/_roundtrip.py)."""

import re

import pytest

from _roundtrip import EDITED_TEST, Scenario, bug, expected, feedback_html, loop_at_top, run_round_trip, tamper
from cs502_lib.course import hidden_test_lines

pytestmark = pytest.mark.slow

NAME = "rnn_lstm"
SCENARIOS = [
    Scenario("full", set()),
    Scenario("blank", {"*"}, fill=False),
    Scenario("bug", {"rnn_cell"}, edits={"rnn_cell": bug("torch.tanh(", "torch.sigmoid(")}),
    Scenario("locked", {"lstm_cell"}, edits={"lstm_cell": bug("c_new = f * c + i * g", "c_new = f * c + g")},
             test_edits={"test_lstm_cell": EDITED_TEST, "hidden_lstm_cell": EDITED_TEST}),
    Scenario("loop", {"rnn_cell"}, edits={"rnn_cell": loop_at_top}),
    Scenario("tamper", {"lstm_cell"}, edits={"lstm_cell": tamper("check_lstm_cell")}),
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


def test_feedback_gives_the_checks_message(graded):
    assert "Most likely cause" in feedback_html(graded, "bug")
    assert "grading code was modified" in feedback_html(graded, "tamper")
    assert "CellTimeoutError" in feedback_html(graded, "loop") or "KeyboardInterrupt" in feedback_html(graded, "loop")

