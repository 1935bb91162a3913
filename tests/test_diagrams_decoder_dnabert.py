"""The decoder (chapter 8) and DNABERT (chapter 10) diagrams: they draw, carry their key labels, keep every
text inside the figure and readable (>= 8 px) at the book's content width, and show the library's real tokens."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from cs502_lib.bio import KmerTokenizer  # noqa: E402
from cs502_lib.diagrams import decoder, dnabert  # noqa: E402
from _diagram_checks import diagram_tests  # noqa: E402
from cs502_lib.diagrams._draw import text_labels  # noqa: E402

DIAGRAMS = {
    "causal_mask": (decoder.draw_causal_mask, ["keys", "queries", "0", r"$-\infty$", "<bos>"]),
    "cross_attention": (decoder.draw_cross_attention, ["encoder", "K", "V", "Q", "memory", "cross-attention"]),
    "dnabert_pipeline": (dnabert.draw_dnabert_pipeline, ["[CLS]", "[SEP]", "[MASK]", "encoder", "masked-LM head"]),
    "finetuning_head": (dnabert.draw_finetuning_head, ["encoder", "max over the tokens", "linear classifier", "[CLS]"]),
}


globals().update(diagram_tests(DIAGRAMS))


def test_causal_mask_grid_follows_the_library_mask():
    fig = decoder.draw_causal_mask(tokens=("a", "b", "c", "d"), query=1)
    texts = text_labels(fig)
    assert texts.count("0") == 4 * 5 // 2 and texts.count(r"$-\infty$") == 4 * 3 // 2
    plt.close(fig)
    with pytest.raises(ValueError):
        decoder.draw_causal_mask(tokens=("a", "b"), query=2)


def test_pipeline_tokens_come_from_the_library_tokenizer_and_span_mask():
    ex = dnabert.pipeline_example()
    tok = KmerTokenizer(6)
    assert ex["ids"] == tok.encode(dnabert.EXAMPLE_DNA).tolist()
    assert ex["tokens"][0] == "[CLS]" and ex["tokens"][-1] == "[SEP]"
    masked = [i for i, m in enumerate(ex["masked"]) if m]
    assert len(masked) == 6 and masked == list(range(masked[0], masked[0] + 6))
    assert len(ex["hidden_bases"]) == 1          # an isolated span of k tokens hides exactly one base
    fig = dnabert.draw_dnabert_pipeline()
    texts = text_labels(fig)
    for t in ex["tokens"]:
        assert t in texts
    assert texts.count("[MASK]") == 6
    plt.close(fig)


def test_pipeline_example_is_the_first_promoter():
    from cs502_lib.data import load_promoters

    seqs, labels = load_promoters()
    assert seqs[0].upper().startswith(dnabert.EXAMPLE_DNA) and int(labels[0]) == 1
