"""The Transformer diagrams draw, name their parts, keep their text inside the figure and stay legible."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from cs502_lib.diagrams import transformer  # noqa: E402
from cs502_lib.diagrams._draw import (  # noqa: E402
    BOOK_CONTENT_PX,
    MIN_TEXT_PX,
    text_labels,
    text_px_on_page,
    texts_outside_figure,
)

KEY_LABELS = {
    "draw_transformer": [
        "Input embedding", "Output embedding", "Positional\nencoding", "Multi-head\nself-attention",
        "Masked multi-head\nself-attention", "Multi-head\ncross-attention", "Feed forward", "Add & Norm",
        "Linear", "Softmax", "N ×", "× N", "Encoder", "Decoder", "encoder output: K, V",
    ],
    "draw_encoder_block": [
        "Multi-head\nself-attention", "LayerNorm", "+", "Add & Norm", "ReLU", "residual\n(identity)",
        "Q", "K", "V", "padding mask\n(B, 1, 1, n)",
    ],
    "draw_decoder_block": [
        "Masked multi-head\nself-attention", "Multi-head\ncross-attention", "LayerNorm", "+", "ReLU",
        "Add & Norm 1", "Add & Norm 2", "Add & Norm 3", "residual\n(identity)", "Q", "K", "V",
    ],
}


@pytest.fixture(params=sorted(KEY_LABELS))
def drawn(request):
    fig = getattr(transformer, request.param)()
    yield request.param, fig
    plt.close(fig)


def test_draws_with_its_key_labels(drawn):
    name, fig = drawn
    labels = text_labels(fig)
    missing = [t for t in KEY_LABELS[name] if t not in labels]
    assert not missing, f"{name} lacks the labels {missing}"
    assert any("causal mask" in t for t in labels) or name != "draw_decoder_block"
    assert any("memory" in t for t in labels) or name != "draw_decoder_block"


def test_every_text_inside_the_figure(drawn):
    name, fig = drawn
    assert texts_outside_figure(fig) == [], f"{name}: text cut off at the figure's edge"


def test_every_text_legible_at_the_book_width(drawn):
    name, fig = drawn
    assert fig.get_figwidth() <= 7.5, f"{name} is wider than the page's content column"
    # the book shows a figure at most BOOK_CONTENT_PX wide: s pt at 100 dpi is s*100/72 px, scaled to fit
    sizes = text_px_on_page(fig)
    small = [(t, round(px, 1)) for t, px in sizes if px < MIN_TEXT_PX]
    assert not small, f"{name}: texts below {MIN_TEXT_PX} px at {BOOK_CONTENT_PX} px: {small}"
    scale = min(1.0, BOOK_CONTENT_PX / (fig.get_figwidth() * fig.dpi))
    smallest_pt = min(t.get_fontsize() for t in fig.findobj(matplotlib.text.Text) if t.get_text().strip())
    assert smallest_pt * fig.dpi / 72 * scale >= MIN_TEXT_PX


def test_stack_label_can_be_changed():
    fig = transformer.draw_transformer(stack_text="6 ×")
    try:
        assert "6 ×" in text_labels(fig)
    finally:
        plt.close(fig)
