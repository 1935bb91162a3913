"""The HTML book builds with warnings as errors and contains every chapter of the table of contents."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


# the session fixture `built_book` (tests/conftest.py) builds the book once per test run


def toc_files() -> list[str]:
    text = (ROOT / "_toc.yml").read_text()
    return [m.group(1) for m in re.finditer(r"(?:root|file):\s*(\S+)", text)]


@pytest.mark.slow
def test_book_builds_with_every_toc_page(built_book):
    assert (built_book / "index.html").exists()
    for f in toc_files():
        page = built_book / f"{f}.html"
        assert page.exists(), f"{page} missing from the build"
        html = page.read_text()
        assert "Traceback (most recent call last)" not in html, f"{f} shows an error"


@pytest.mark.slow
def test_self_attention_page_has_its_figures(built_book):
    html = (built_book / "book" / "04_self_attention.html").read_text()
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', html)
    assert len(images) >= 3, f"expected the chapter's figures, found {images}"
    for src in images:
        assert (built_book / "book" / src).resolve().exists(), src
    assert "What a nice day" in html or "nice" in html
