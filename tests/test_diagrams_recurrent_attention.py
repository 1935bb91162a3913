"""The diagrams of chapters 2-5 (cs502_lib.diagrams.recurrent and .attention) and the heatmap's label colours.

Each diagram must draw, name its key parts, keep every text inside the figure, and stay legible at the book's
content width: every text at least 8 px high on the page at a 1280 px window.
"""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from _diagram_checks import diagram_tests  # noqa: E402
from cs502_lib import scaled_dot_product_attention  # noqa: E402
from cs502_lib.diagrams import _draw, attention, recurrent  # noqa: E402
from cs502_lib.plotting import heatmap, label_color, relative_luminance  # noqa: E402

DIAGRAMS = {
    "rnn_unrolled": (recurrent.draw_rnn_unrolled, ["$x_t$", "$h_t$", "$h_0$", "$W_{hh}$", "$W_{xh}$", "$x_{T}$"]),
    "lstm_cell": (recurrent.draw_lstm_cell,
                  ["$c_{t-1}$", "$c_t$", "$h_{t-1}$", "$h_t$", "$x_t$", "forget", "input", "candidate", "output",
                   "tanh", "+"]),
    "gru_cell": (recurrent.draw_gru_cell, ["$h_{t-1}$", "$h_t$", "$x_t$", "reset", "update", "candidate"]),
    "qkv_example": (attention.draw_qkv_example, ["Q (queries)", "V (values)", "weights", "output", "softmax"]),
    "multi_head": (attention.draw_multi_head, ["X\n(5, 16)", "$W^Q$", "$W^K$", "$W^V$", "$W^O$", "head 0", "head 3",
                                               "output\n(5, 16)"]),
}


globals().update(diagram_tests(DIAGRAMS, max_width=7.6))


def test_text_px_on_page_scales_wide_figures_down():
    fig = plt.figure(figsize=(14.6, 3), dpi=100)          # 1460 px, shown at 730 px: half size
    fig.text(0.5, 0.5, "x", fontsize=10)
    ((_, px),) = _draw.text_px_on_page(fig, content_px=730, dpi=100)
    assert px == pytest.approx(10 * 100 / 72 / 2)
    plt.close(fig)


def test_qkv_numbers_come_from_the_library():
    ex = attention.qkv_example()
    out, weights = scaled_dot_product_attention(ex["Q"], ex["K"], ex["V"])
    torch.testing.assert_close(ex["weights"], weights)
    torch.testing.assert_close(ex["output"], out)
    torch.testing.assert_close(ex["scaled"], ex["Q"] @ ex["K"].T / math.sqrt(2))
    torch.testing.assert_close(torch.softmax(ex["scaled"], -1), weights)
    # the weights written in the figure are the library's, rounded as shown
    fig = attention.draw_qkv_example()
    texts = set(_draw.text_labels(fig))
    for w in weights.flatten().tolist():
        assert f"{w:.2f}" in texts
    plt.close(fig)


def test_multi_head_shapes_follow_the_arguments():
    fig = attention.draw_multi_head(n=7, d_model=12, num_heads=3)
    texts = _draw.text_labels(fig)
    assert any("(7, 12)" in t for t in texts) and any("(3, 7, 4)" in t for t in texts)
    assert not any("head 3" in t for t in texts)
    plt.close(fig)
    with pytest.raises(ValueError, match="divisible"):
        attention.draw_multi_head(d_model=10, num_heads=4)


def test_new_diagram_units_are_inches():
    fig, ax = _draw.new_diagram(5, 2)
    assert ax.get_xlim() == (0, 5) and ax.get_ylim() == (0, 2) and not ax.axison
    b = _draw.box(ax, 1, 1, 1, 0.5, "q", role="query")
    assert b.left == (0.5, 1) and b.anchor_towards((3, 1)) == b.right and b.anchor_towards((1, 0)) == b.bottom
    with pytest.raises(KeyError, match="known roles"):
        _draw.role_colors("nope")
    plt.close(fig)


# ------------------------------------------------------------------ heatmap label colours

def test_label_color_contrasts_with_its_background():
    assert label_color("white") != "white"
    assert label_color("#ffffcc") != "white"
    assert label_color("black") == "white"
    assert label_color("#08306b") == "white"          # the dark end of Blues
    assert relative_luminance("white") == pytest.approx(1.0) and relative_luminance("black") == 0.0


@pytest.mark.parametrize("cmap", ["Blues", "viridis", "coolwarm", "magma"])
def test_heatmap_labels_are_dark_on_light_cells_and_light_on_dark_cells(cmap):
    m = np.array([[0.0, 0.25], [0.75, 1.0]])
    fig, ax = plt.subplots()
    heatmap(m, annotate=True, ax=ax, cmap=cmap, colorbar=False)
    im = ax.get_images()[0]
    texts = {t.get_text(): t for t in ax.texts}
    assert len(texts) == 4
    for i in range(2):
        for j in range(2):
            t = texts[f"{m[i, j]:.2f}"]
            cell = im.cmap(im.norm(m[i, j]))
            text_lum = relative_luminance(t.get_color())
            cell_lum = relative_luminance(cell)
            # WCAG contrast ratio of the label against its own cell
            hi, lo = max(text_lum, cell_lum), min(text_lum, cell_lum)
            assert (hi + 0.05) / (lo + 0.05) >= 3.0, f"{cmap}: label {t.get_text()} hard to read on its cell"
    plt.close(fig)


def test_heatmap_on_blues_bag_of_words_is_not_white_on_pale():
    # chapter 1's figure: counts 0 and 1 on Blues; the 0 cells are nearly white, so their labels must be dark
    m = torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, 1.0]])
    fig, ax = plt.subplots()
    heatmap(m, annotate=True, ax=ax, cmap="Blues", colorbar=False, fmt=".0f")
    zero_labels = [t for t in ax.texts if t.get_text() == "0"]
    assert zero_labels and all(t.get_color() != "white" for t in zero_labels)
    plt.close(fig)


def test_sci_writes_numbers_for_prose():
    from cs502_lib.plotting import sci

    assert sci(4.4e-14) == "4 \u00d7 10\u207b\u00b9\u2074"
    assert sci(1.8e7, 1) == "1.8 \u00d7 10\u2077"
    assert sci(2.0) == "2" and sci(0) == "0"


def test_show_source_wraps_long_lines_instead_of_scrolling():
    from cs502_lib import MultiHeadAttention
    from cs502_lib.plotting import show_source

    html = show_source(MultiHeadAttention)._repr_html_()
    assert '<pre style="white-space: pre-wrap' in html and "MultiHeadAttention" in html
