"""The grading engine: one ``check_<name>`` per graded name of the course.

Each check takes the student's function (or class), runs it on seeded cases on the
CPU, on the ``meta`` device under a strict device guard, and on CUDA when present,
and either returns a :class:`CheckReport` or raises :class:`GradingError` whose
message says what failed, on which case, expected versus got, and the most likely
cause in plain words::

    from cs502_lib.grading import check_scaled_dot_product_attention
    check_scaled_dot_product_attention(scaled_dot_product_attention)

``device=`` (or the environment variable ``CS502_GRADING_DEVICE``: ``auto``, ``cpu``,
``cuda``) chooses the devices; ``time_limit=`` (or ``CS502_GRADING_TIME_LIMIT``) the
seconds of student-code time a check allows (10 by default).
"""

from .attention import check_multi_head_attention, check_scaled_dot_product_attention
from .core import CheckReport, GradingError

__all__ = [
    "GradingError",
    "CheckReport",
    "check_scaled_dot_product_attention",
    "check_multi_head_attention",
]
