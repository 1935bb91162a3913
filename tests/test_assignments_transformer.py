"""nbgrader round trip of the transformer assignment: release, submissions, autograde, feedback (see tests/_roundtrip.py)."""

import pytest

from _roundtrip import EDITED_TEST, Scenario, bug, loop_at_top, round_trip_tests, tamper

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
    Scenario("tamper", set(), edits={"DecoderLayer": tamper("check_decoder_layer")}),
]


globals().update(round_trip_tests(NAME, SCENARIOS))

