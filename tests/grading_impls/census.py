"""The census of the catalogue: every accepted implementation and every mutant through its check, counted.

``python tests/grading_impls/census.py`` prints the table; ``tests/test_grading_styles_census.py`` runs the
same census under ``make test`` and holds the targets (no crash, every correct one accepted, every mutant
rejected, the likely cause named for at least 95% of the mutants).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `grading_impls` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cs502_lib.grading as grading  # noqa: E402
from grading_impls import correct_bio, correct_nn, mutants_bio, mutants_nn, styles_bio, styles_nn  # noqa: E402

#: (name, {check: [correct implementations]}, [(check, mutant, words)]) of each part of the catalogue.
PARTS = [
    ("nn", correct_nn.CORRECT, mutants_nn.MUTANTS),
    ("bio", correct_bio.CORRECT, mutants_bio.MUTANTS),
    ("styles nn", styles_nn.CORRECT, styles_nn.MUTANTS),
    ("styles bio", styles_bio.CORRECT, styles_bio.MUTANTS),
]

CAUSE = "Most likely cause:"


@dataclass
class Census:
    correct: int = 0
    accepted: int = 0
    mutants: int = 0
    rejected: int = 0
    named: int = 0  # rejected with a "Most likely cause:" line
    words: int = 0  # rejected with the words the catalogue expects for that mutant
    crashes: list = field(default_factory=list)  # (what, exception) of anything but a GradingError
    problems: list = field(default_factory=list)  # one line per correct one rejected or mutant missed

    def add(self, other: "Census") -> None:
        for name in ("correct", "accepted", "mutants", "rejected", "named", "words"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.crashes += other.crashes
        self.problems += other.problems

    def line(self) -> str:
        share = self.named / self.mutants if self.mutants else 1.0
        return (f"correct accepted {self.accepted}/{self.correct}; mutants rejected {self.rejected}/{self.mutants}; "
                f"causes named {self.named}/{self.mutants} ({share:.1%}); expected words {self.words}/{self.mutants}; "
                f"crashes {len(self.crashes)}")


def _name(impl) -> str:
    return getattr(impl, "__name__", repr(impl))


def run_part(correct: dict, mutants: list) -> Census:
    c = Census()
    for check, impls in correct.items():
        for impl in impls:
            c.correct += 1
            try:
                getattr(grading, check)(impl)
                c.accepted += 1
            except grading.GradingError as exc:
                c.problems.append(f"{check}({_name(impl)}) rejected a correct implementation: {str(exc)[:300]}")
            except BaseException as exc:  # noqa: BLE001 - a crash is what the census counts
                c.crashes.append((f"{check}({_name(impl)})", exc))
    for check, impl, words in mutants:
        c.mutants += 1
        try:
            getattr(grading, check)(impl, time_limit=3)
            c.problems.append(f"{check}({_name(impl)}) accepted a mutant")
        except grading.GradingError as exc:
            message = str(exc)
            c.rejected += 1
            c.named += CAUSE in message
            c.words += words.lower() in message.lower()
            if CAUSE not in message or words.lower() not in message.lower():
                c.problems.append(f"{check}({_name(impl)}) expected {words!r}: {message[:300]}")
        except BaseException as exc:  # noqa: BLE001
            c.crashes.append((f"{check}({_name(impl)})", exc))
    return c


def run() -> tuple[Census, list[tuple[str, Census]]]:
    """The census of every part, and of the whole catalogue."""
    total, parts = Census(), []
    for name, correct, mutants in PARTS:
        part = run_part(correct, mutants)
        parts.append((name, part))
        total.add(part)
    return total, parts


def report(total: Census, parts: list[tuple[str, Census]]) -> str:
    lines = [f"{name:>10}: {part.line()}" for name, part in parts]
    lines.append(f"{'all':>10}: {total.line()}")
    lines += [f"  crash: {what}: {type(exc).__name__}: {exc}" for what, exc in total.crashes]
    lines += [f"  {p}" for p in total.problems]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(*run()))
