"""What a check gives back: :class:`GradingError` when it fails, :class:`CheckReport` when it passes."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

__all__ = ["GradingError", "CheckReport"]


class GradingError(AssertionError):
    """A check failed: the message says what, on which case, expected versus got, and the likely cause."""


@dataclass
class CheckReport:
    """What a passed check did: ``print(report)`` gives one line; Jupyter renders it as a small green box."""

    name: str
    cases: int
    devices: list[str]
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return True

    def __str__(self) -> str:
        """One line: the cases passed, the devices and the seconds (the notes are in ``.notes`` and the HTML)."""
        return f"{self.name} passed: {self.cases} cases on {', '.join(self.devices)} in {self.seconds:.2f} s"

    def __repr__(self) -> str:
        return (
            f"CheckReport(name={self.name!r}, cases={self.cases}, devices={self.devices!r}, "
            f"seconds={self.seconds:.3f}, notes={self.notes!r})"
        )

    def _repr_html_(self) -> str:
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return (
            '<div style="border-left:4px solid #2e7d32;background:#edf7ed;padding:6px 10px;'
            'font-family:sans-serif;color:#1b3d1f">'
            f"<b>&#10004; {html.escape(self.name)} passed</b>: {self.cases} cases on "
            f"{html.escape(', '.join(self.devices))} in {self.seconds:.2f} s"
            + (f'<ul style="margin:4px 0 0 0">{notes}</ul>' if notes else "")
            + "</div>"
        )
