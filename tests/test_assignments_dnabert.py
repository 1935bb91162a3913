"""nbgrader round trip of the dnabert assignment: release, submissions, autograde, feedback (see tests/_roundtrip.py)."""

import pytest

from _roundtrip import EDITED_TEST, Scenario, bug, loop_at_top, round_trip_tests, tamper

pytestmark = pytest.mark.slow

NAME = "dnabert"
SCENARIOS = [
    Scenario("full", set()),
    Scenario("blank", {"*"}, fill=False),
    Scenario("bug", {"transcribe"}, edits={"transcribe": bug('"C": "G", "G": "C"', '"C": "C", "G": "G"')}),
    Scenario("locked", {"kmer_tokenize"}, edits={"kmer_tokenize": bug("range(len(seq) - k + 1)", "range(len(seq) - k)")},
             test_edits={"test_kmer_tokenize": EDITED_TEST, "hidden_kmer_tokenize": EDITED_TEST}),
    Scenario("rogue", {"span_mask"},
             edits={"span_mask": loop_at_top, "translate": tamper("check_translate")}),
]


globals().update(round_trip_tests(NAME, SCENARIOS))

