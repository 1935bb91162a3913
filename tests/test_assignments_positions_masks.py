"""nbgrader round trip of the positions_masks assignment: release, submissions, autograde, feedback (see tests/_roundtrip.py)."""

import pytest

from _roundtrip import EDITED_TEST, Scenario, bug, feedback_html, loop_at_top, round_trip_tests, tamper

pytestmark = pytest.mark.slow

NAME = "positions_masks"
SCENARIOS = [
    Scenario("full", set()),
    Scenario("blank", {"*"}, fill=False),
    Scenario("bug", {"sinusoidal_positional_encoding"},
             edits={"sinusoidal_positional_encoding": bug("torch.sin(angles), torch.cos(angles)", "torch.cos(angles), torch.sin(angles)")}),
    Scenario("locked", {"causal_mask"}, edits={"causal_mask": bug("position[None, :] <= position[:, None]", "position[None, :] < position[:, None]")},
             test_edits={"test_causal_mask": EDITED_TEST, "hidden_causal_mask": EDITED_TEST}),
    Scenario("rogue", {"padding_mask"},
             edits={"padding_mask": loop_at_top, "sinusoidal_positional_encoding": tamper("check_positional_encoding")}),
]


globals().update(round_trip_tests(NAME, SCENARIOS))


def test_feedback_gives_the_checks_message(graded):
    assert "Most likely cause" in feedback_html(graded, "bug")
    page = feedback_html(graded, "rogue")
    assert "tampering: the solution cells replace cs502_lib.grading.check_positional_encoding" in page
    assert "CellTimeoutError" in page or "KeyboardInterrupt" in page

