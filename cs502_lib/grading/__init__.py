"""The grading engine: one ``check_<name>`` per graded name of the course.

Each check takes the student's function (or class), runs it on seeded cases on the
CPU, on the ``meta`` device under a strict device guard, and on CUDA when present,
and either returns a :class:`CheckReport` or raises :class:`GradingError` whose
message says what failed, on which case, expected versus got, and the most likely
cause in plain words. Every ``check_<...>`` named in :mod:`.registry` is exported here::

    from cs502_lib.grading import check_scaled_dot_product_attention
    check_scaled_dot_product_attention(scaled_dot_product_attention)

``device=`` (or the environment variable ``CS502_GRADING_DEVICE``: ``auto``, ``cpu``,
``cuda``) chooses the devices; ``time_limit=`` (or ``CS502_GRADING_TIME_LIMIT``) the
seconds of student-code time a check allows (10 by default).

Layout: the engine every check shares, each module one job: :mod:`.report` (GradingError,
CheckReport), :mod:`.deadline` (the time limit), :mod:`.attribution` (the student's line
and the likely cause of an error), :mod:`.calls` (calling student code under the guards),
:mod:`.context` (a case run and compared with the reference), :mod:`.modules` (the
student's nn.Module built with the reference weights), :mod:`.run` (devices, ``run_check``);
:mod:`.guards` (delegation and device guards), :mod:`.catalog` (the diagnosed mistakes),
and the modules of checks, each holding its items' public checks and hidden suites (named by the
registry: :mod:`.rnn_lstm`, :mod:`.attention`, :mod:`.positions_masks`, :mod:`.transformer`, :mod:`.strings`,
:mod:`.masking`), run by :mod:`.run` and :mod:`.hidden`. The clean verdict: :mod:`.verdict`, :mod:`.remote`
and :mod:`.worker` (the student's code in a sandboxed process), :mod:`.wire`, :mod:`.scan`.
"""

from . import registry as _registry
from .report import CheckReport, GradingError


def _export_checks() -> list[str]:
    """Put the check of every graded item of the registry into this package; their names, in registry order."""
    names = []
    for it in _registry.ITEMS:
        globals()[it.check] = it.check_object()
        names.append(it.check)
    return names


# check_<name> for every graded name: check_rnn_cell, check_lstm_cell, check_scaled_dot_product_attention, ...
__all__ = ["GradingError", "CheckReport", *_export_checks()]
