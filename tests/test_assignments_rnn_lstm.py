"""nbgrader round trip of the rnn_lstm assignment: release, submissions, autograde, feedback (see tests/_roundtrip.py)."""

import pytest

from _roundtrip import EDITED_TEST, Scenario, bug, feedback_html, loop_at_top, round_trip_tests, tamper

pytestmark = pytest.mark.slow

NAME = "rnn_lstm"
SCENARIOS = [
    Scenario("full", set()),
    Scenario("blank", {"*"}, fill=False),
    Scenario("bug", {"rnn_cell"}, edits={"rnn_cell": bug("torch.tanh(", "torch.sigmoid(")}),
    Scenario("locked", {"lstm_cell"}, edits={"lstm_cell": bug("c_new = f * c + i * g", "c_new = f * c + g")},
             test_edits={"test_lstm_cell": EDITED_TEST, "hidden_lstm_cell": EDITED_TEST}),
    Scenario("loop", {"rnn_cell"}, edits={"rnn_cell": loop_at_top}),
    Scenario("tamper", set(), edits={"lstm_cell": tamper("check_lstm_cell")}),
]


globals().update(round_trip_tests(NAME, SCENARIOS))


def test_feedback_gives_the_checks_message(graded):
    assert "Most likely cause" in feedback_html(graded, "bug")
    assert "tampering: the solution cells replace cs502_lib.grading.check_lstm_cell" in feedback_html(graded, "tamper")
    assert "CellTimeoutError" in feedback_html(graded, "loop") or "KeyboardInterrupt" in feedback_html(graded, "loop")

