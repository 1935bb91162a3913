"""Shared timing helpers: interleaved repetitions, median of the runs."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable


@dataclass
class Result:
    name: str
    ours: float  # seconds (or another unit, see ``unit``)
    baseline: float
    baseline_name: str
    target: str  # human-readable target, e.g. "ours / torch <= 1.15"
    met: bool
    unit: str = "s"
    detail: str = ""

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline


def compare(ours: Callable[[], object], baseline: Callable[[], object], *, repeats: int = 7, warmup: int = 2) -> tuple[float, float]:
    """Median seconds of ``ours`` and ``baseline``, run alternately so that machine noise hits both alike."""
    for _ in range(warmup):
        ours()
        baseline()
    a, b = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        ours()
        a.append(time.perf_counter() - t)
        t = time.perf_counter()
        baseline()
        b.append(time.perf_counter() - t)
    return statistics.median(a), statistics.median(b)
