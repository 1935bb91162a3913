"""The Transformer diagrams draw, name their parts, keep their text inside the figure and stay legible."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from cs502_lib.diagrams import transformer  # noqa: E402
from _diagram_checks import diagram_tests  # noqa: E402
from cs502_lib.diagrams._draw import text_labels  # noqa: E402

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


globals().update(diagram_tests({name: (getattr(transformer, name), keys) for name, keys in KEY_LABELS.items()},
                                exact=True))


def test_the_decoder_block_shows_the_causal_mask_and_the_memory():
    labels = text_labels(transformer.draw_decoder_block())
    assert any("causal mask" in t for t in labels) and any("memory" in t for t in labels)
    plt.close("all")


def test_stack_label_can_be_changed():
    fig = transformer.draw_transformer(stack_text="6 ×")
    try:
        assert "6 ×" in text_labels(fig)
    finally:
        plt.close(fig)
