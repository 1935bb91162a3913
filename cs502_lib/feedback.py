"""What a student reads after grading: the clean verdict in each test cell, math without a CDN, answers
that wait for a person shown as such, and ``nbgrader validate`` advice that is never cut.

* :func:`verdict_outputs` turns the clean verdict of a graded test cell (the record that
  :mod:`cs502_lib.autograde` writes beside the autograded notebook) into that cell's output, so
  the feedback shows what decided the points, not what the student's kernel printed.
* :func:`finish_page` points an nbgrader feedback page at a local copy of MathJax (written once
  into ``feedback/_mathjax/``) instead of a CDN, and marks the written answers nobody has graded
  yet as "awaiting grading" instead of a score of 0.
* :func:`wrap_validator_output` makes ``nbgrader validate`` wrap long lines instead of cutting them
  at 90 characters (``nbgrader_config.py`` calls it).
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from pathlib import Path

__all__ = ["load_record", "verdict_outputs", "finish_page", "wrap_validator_output", "MATHJAX_DIR"]

#: Where the local MathJax lives, inside the feedback folder.
MATHJAX_DIR = "_mathjax"
_CDN_RE = re.compile(r'<script src="https://cdnjs\.cloudflare\.com/ajax/libs/mathjax/[^"]*">\s*</script>')
_MATHJAX_CONFIG = ("<script>window.MathJax = {tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], "
                   "displayMath: [['$$', '$$'], ['\\\\[', '\\\\]']], processEscapes: true}, "
                   "svg: {fontCache: 'global'}};</script>")


def load_record(root: str | Path, student: str, assignment: str) -> dict | None:
    """The grading record of a submission (None if it was not graded with ``cs502_lib.course autograde``)."""
    from .autograde import RECORD

    path = Path(root) / "autograded" / student / assignment / RECORD
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def verdict_outputs(grade_id: str, record: dict) -> list[dict] | None:
    """The outputs a graded test cell shows in feedback: its clean verdict (None if the record has none)."""
    verdict = (record or {}).get("verdict") or {}
    cell = verdict.get("cells", {}).get(grade_id)
    if cell is None:
        if record and record.get("ungradable"):
            text = f"Not graded automatically: {record['ungradable']}. Your instructor will look at it.\n"
            return [{"output_type": "stream", "name": "stdout", "text": text}]
        return None
    if cell["points"] == cell["max_points"]:
        return [{"output_type": "stream", "name": "stdout", "text": cell["message"] + "\n"}]
    return [{"output_type": "error", "ename": "GradingError", "evalue": cell["message"],
             "traceback": [f"GradingError: {cell['message']}"]}]


def finish_page(page: Path, feedback_root: Path, manual_pending: list[str]) -> None:
    """Local MathJax instead of the CDN; "awaiting grading" for the written answers in ``manual_pending``."""
    text = page.read_text(encoding="utf-8")
    target = feedback_root / MATHJAX_DIR / "tex-svg-full.js"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(_mathjax_source(), target)
    rel = Path(*[".."] * (len(page.relative_to(feedback_root).parts) - 1), MATHJAX_DIR, "tex-svg-full.js").as_posix()
    text = _CDN_RE.sub(lambda m: f'{_MATHJAX_CONFIG}\n<script src="{rel}"></script>', text)
    for gid in manual_pending:
        text = re.sub(rf'(<a href="#{re.escape(gid)}">[^<]*</a> \(Score: )[0-9.]+( / )', r"\1awaiting grading\2", text)
        text = re.sub(rf'(id="{re.escape(gid)}".{{0,2000}}?Score: )[0-9.]+( / )', r"\1awaiting grading\2", text,
                      count=1, flags=re.S)
    page.write_text(text, encoding="utf-8")


def _mathjax_source() -> Path:
    """MathJax's single-file SVG bundle from the sphinx-mathjax-offline distribution (the book's MathJax)."""
    import importlib.util

    spec = importlib.util.find_spec("sphinx-mathjax-offline")  # the distribution's import name has dashes
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "static" / "mathjax" / "tex-svg-full.js"
        if candidate.is_file():
            return candidate
    raise SystemExit("MathJax for the feedback pages comes from sphinx-mathjax-offline, which is not installed")


def wrap_validator_output() -> None:
    """Make nbgrader's Validator wrap long lines (a check's advice is often longer than 90 characters)."""
    from nbgrader.validator import Validator
    from nbgrader.validator import strip_ansi

    if getattr(Validator._indent, "_cs502", False):
        return

    def _indent(self, val: str) -> str:
        width = max(self.width - len(self.indent), 40)
        lines = []
        for line in val.split("\n"):
            line = strip_ansi(line)
            lead = len(line) - len(line.lstrip(" "))
            pieces = textwrap.wrap(line, width=width, subsequent_indent=" " * (lead + 2),
                                   break_long_words=True, replace_whitespace=False) or [""]
            lines += [self.indent + p for p in pieces]
        return "\n".join(lines)

    _indent._cs502 = True
    Validator._indent = _indent
