"""The catalogue's census (tests/grading_impls/census.py): every accepted implementation and every mutant of
every part, counted. Targets: no crash, every correct one accepted, every mutant rejected, and the likely cause
("Most likely cause: ...") named for at least 95% of the mutants. `pytest -s` (or running census.py) prints it."""

import pytest

from grading_impls import census


@pytest.fixture(scope="module")
def counted():
    return census.run()


def test_the_census_counts_every_part_of_the_catalogue(counted, record_property):
    total, parts = counted
    print("\n" + census.report(total, parts))
    record_property("catalogue", total.line())
    assert [name for name, _ in parts] == ["nn", "bio", "styles nn", "styles bio"]
    assert total.correct == sum(len(v) for _, c, _ in census.PARTS for v in c.values())
    assert total.mutants == sum(len(m) for _, _, m in census.PARTS)
    assert total.mutants >= 150 and total.correct >= 60


def test_no_check_crashes_on_the_catalogue(counted):
    total, parts = counted
    assert not total.crashes, census.report(total, parts)


def test_every_correct_implementation_is_accepted_and_every_mutant_rejected(counted):
    total, parts = counted
    assert total.accepted == total.correct, census.report(total, parts)
    assert total.rejected == total.mutants, census.report(total, parts)


def test_the_likely_cause_is_named_for_at_least_95_percent_of_the_mutants(counted):
    total, parts = counted
    assert total.named >= 0.95 * total.mutants, census.report(total, parts)
    for name, part in parts:  # and no part of the catalogue much below it
        assert part.named >= 0.9 * part.mutants, f"{name}: {part.line()}"


def test_the_census_sees_a_crash_and_a_missing_cause():
    """The counting itself: a check that crashes and a message without a cause are counted as such."""
    import cs502_lib.grading as grading

    def crashes(*args, **kwargs):
        raise RuntimeError("not a GradingError")

    grading.check_census_probe = lambda impl, time_limit=None: impl()
    try:
        def no_cause():
            raise grading.GradingError("check_census_probe failed: something")

        def cause():
            raise grading.GradingError("check_census_probe failed: x\n  Most likely cause: y")

        c = census.run_part({"check_census_probe": [crashes]},
                            [("check_census_probe", no_cause, "something"), ("check_census_probe", cause, "y")])
    finally:
        del grading.check_census_probe
    assert (c.correct, c.accepted, len(c.crashes)) == (1, 0, 1)
    assert (c.mutants, c.rejected, c.named, c.words) == (2, 2, 1, 2)
    assert "causes named 1/2 (50.0%)" in c.line()
