"""nbgrader round trip of the attention assignment: release, submissions, autograde, feedback (see tests/_roundtrip.py)."""

import pytest

from _roundtrip import EDITED_TEST, Scenario, bug, feedback_html, loop_at_top, round_trip_tests, tamper

pytestmark = pytest.mark.slow

NAME = "attention"
SCENARIOS = [
    Scenario("full", set()),
    Scenario("blank", {"*"}, fill=False),
    Scenario("bug", {"scaled_dot_product_attention"},
             edits={"scaled_dot_product_attention": bug(" / math.sqrt(d_k)", "")}),
    Scenario("locked", {"MultiHeadAttention"},
             edits={"MultiHeadAttention": bug("return self.w_o(out), weights", "return out, weights")},
             test_edits={"test_MultiHeadAttention": EDITED_TEST, "hidden_MultiHeadAttention": EDITED_TEST}),
    Scenario("loop", {"scaled_dot_product_attention"}, edits={"scaled_dot_product_attention": loop_at_top}),
    Scenario("tamper", set(), edits={"MultiHeadAttention": tamper("check_multi_head_attention")}),
]


globals().update(round_trip_tests(NAME, SCENARIOS))


def test_feedback_gives_the_checks_message(graded):
    assert "sqrt" in feedback_html(graded, "bug")
    assert "tampering: the solution cells replace cs502_lib.grading.check_multi_head_attention" in \
        feedback_html(graded, "tamper")

