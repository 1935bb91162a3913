"""The checks every drawn diagram shares, to bind in a test module with ``globals().update(diagram_tests(...))``.

``diagrams`` maps a name to ``(draw, key labels)``: the figure draws, carries each key label (as a part of
some text, or exactly with ``exact=True``), keeps every text inside the figure, is no wider than
``max_width`` inches and shows every text at least ``MIN_TEXT_PX`` high at the book's content width.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from cs502_lib.diagrams._draw import BOOK_CONTENT_PX, MIN_TEXT_PX, text_labels, text_px_on_page, texts_outside_figure  # noqa: E402


def diagram_tests(diagrams: dict, *, exact: bool = False, max_width: float = 7.5 + 1e-9) -> dict:
    @pytest.fixture(params=sorted(diagrams))
    def diagram(request):
        draw, keys = diagrams[request.param]
        fig = draw()
        yield request.param, fig, keys
        plt.close(fig)

    def test_diagram_draws_and_names_its_parts(diagram):
        name, fig, keys = diagram
        texts = text_labels(fig)
        missing = [k for k in keys if (k not in texts if exact else not any(k in t for t in texts))]
        assert not missing, f"{name}: no text for {missing}; texts: {texts}"

    def test_diagram_text_stays_inside_the_figure(diagram):
        name, fig, _ = diagram
        assert texts_outside_figure(fig) == [], f"{name}: text cut off at the figure's edge"

    def test_diagram_is_legible_at_page_width(diagram):
        name, fig, _ = diagram
        assert fig.get_figwidth() <= max_width, f"{name}: wider than the page ({fig.get_figwidth()} in)"
        small = [(t, round(px, 1)) for t, px in text_px_on_page(fig) if px < MIN_TEXT_PX]
        assert not small, f"{name}: texts below {MIN_TEXT_PX} px at {BOOK_CONTENT_PX} px: {small}"

    return {f.__name__: f for f in (diagram, test_diagram_draws_and_names_its_parts,
                                    test_diagram_text_stays_inside_the_figure, test_diagram_is_legible_at_page_width)}
