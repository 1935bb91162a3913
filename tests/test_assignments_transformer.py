"""nbgrader round trip of the transformer assignment: release, submissions, autograde, feedback (see tests/_roundtrip.py)."""

import re

import pytest

from _roundtrip import EDITED_TEST, Scenario, bug, expected, feedback_html, loop_at_top, run_round_trip, tamper
from cs502_lib.course import hidden_test_lines

pytestmark = pytest.mark.slow

NAME = "transformer"
SCENARIOS = [
    Scenario("full", set()),
    Scenario("blank", {"*"}, fill=False),
    Scenario("bug", {"EncoderLayer"},
             edits={"EncoderLayer": bug("x = self.norm1(x + self.dropout(attended))", "x = self.norm1(self.dropout(attended))")}),
    Scenario("locked", {"DecoderLayer"},
             edits={"DecoderLayer": bug("self.cross_attn(x, memory, memory, memory_mask)", "self.cross_attn(x, x, x, memory_mask)")},
             test_edits={"test_DecoderLayer": EDITED_TEST, "hidden_DecoderLayer": EDITED_TEST}),
    Scenario("loop", {"EncoderLayer"}, edits={"EncoderLayer": loop_at_top}),
    Scenario("tamper", {"DecoderLayer"}, edits={"DecoderLayer": tamper("check_decoder_layer")}),
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

