"""Code written in the styles students bring from elsewhere: accepted where it meets the contract, otherwise
rejected with the likely cause named; and nothing a student's code or object does makes a check crash."""

import math

import pytest
import torch
from torch import nn

import cs502_lib.grading as grading
from cs502_lib.grading.guards import DeviceMismatch, GuardMode, MetaValuesUnreadable, is_stand_in
from grading_impls import styles_bio, styles_nn
from grading_impls.correct_nn import MHAEinsum
from grading_impls.mutants_nn import MHAKeyFromQuery, MHANoValueError

CORRECT = [(c, i) for part in (styles_nn.CORRECT, styles_bio.CORRECT) for c, impls in part.items() for i in impls]
MUTANTS = styles_nn.MUTANTS + styles_bio.MUTANTS


def _id(value):
    return getattr(value, "__name__", str(value))


@pytest.mark.parametrize("check,impl", CORRECT, ids=_id)
def test_a_correct_style_passes(check, impl):
    assert getattr(grading, check)(impl).cases >= 4


@pytest.mark.parametrize("check,impl,words", MUTANTS, ids=lambda v: _id(v) if callable(v) else "")
def test_a_wrong_style_fails_and_names_the_cause(check, impl, words):
    with pytest.raises(grading.GradingError) as info:
        getattr(grading, check)(impl, time_limit=3)
    message = str(info.value)
    assert message.startswith(f"{check} failed:")
    assert "Most likely cause:" in message, message
    assert words.lower() in message.lower(), message


# --------------------------------------------------------------------------- blank exercises


def _blank_function(*args, **kwargs):
    raise NotImplementedError()


class _BlankModule(nn.Module):
    """As the released notebooks have it: both methods still raise NotImplementedError."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        raise NotImplementedError()

    def forward(self, *args, **kwargs):
        raise NotImplementedError()


_CLASS_CHECKS = {"check_multi_head_attention", "check_encoder_layer", "check_decoder_layer"}
_ALL_CHECKS = [
    "check_rnn_cell", "check_lstm_cell", "check_scaled_dot_product_attention", "check_multi_head_attention",
    "check_positional_encoding", "check_causal_mask", "check_padding_mask", "check_encoder_layer",
    "check_decoder_layer", "check_transcribe", "check_translate", "check_kmer_tokenize", "check_kmer_vocab",
    "check_span_mask",
]


@pytest.mark.parametrize("check", _ALL_CHECKS)
def test_a_blank_exercise_is_not_written_yet(check):
    impl = _BlankModule if check in _CLASS_CHECKS else _blank_function
    with pytest.raises(grading.GradingError) as info:
        getattr(grading, check)(impl)
    message = str(info.value)
    assert "is not written yet: it raises NotImplementedError" in message
    assert "replace it with your code" in message


def test_torchs_own_not_implemented_error_is_not_called_a_blank():
    def student(x, h, W_xh, W_hh, b_h):
        raise NotImplementedError("Could not run 'aten::tanh' with arguments from the 'CPU' backend")

    with pytest.raises(grading.GradingError) as info:
        grading.check_rnn_cell(student)
    assert "not written yet" not in str(info.value)
    assert "raised NotImplementedError: Could not run 'aten::tanh'" in str(info.value)


# --------------------------------------------------------------------------- MultiHeadAttention's ValueError


def test_right_values_without_the_value_error_say_both():
    with pytest.raises(grading.GradingError) as info:
        grading.check_multi_head_attention(MHANoValueError)
    message = str(info.value)
    assert "no ValueError for d_model=10, num_heads=3, but every value was right" in message
    assert "match the reference in all" in message
    assert "Most likely cause: a missing ValueError" in message


def test_wrong_values_without_the_value_error_report_the_values_first_then_the_error():
    class NoCheckKeyFromQuery(MHAKeyFromQuery):
        def __init__(self, d_model, num_heads):
            MHANoValueError.__init__(self, d_model, num_heads)

    with pytest.raises(grading.GradingError) as info:
        grading.check_multi_head_attention(NoCheckKeyFromQuery)
    first, also = str(info.value).split("\n  Also: ")
    assert "wrong values in `out`" in first and "key is taken from the query" in first
    assert also.startswith("no ValueError for d_model=10, num_heads=3")


# --------------------------------------------------------------------------- devices without a GPU


def test_a_cpu_copy_fails_on_a_cpu_only_grader():
    """`lengths.cpu()` is harmless on the CPU; the meta run (the CPU-only grader's stand-in for a GPU) catches it."""
    with pytest.raises(grading.GradingError) as info:
        grading.check_padding_mask(styles_nn.padding_moves_lengths_to_cpu, device="meta")
    message = str(info.value)
    assert "`mask` is on device cpu; expected meta" in message
    assert "moved a tensor to the CPU" in message
    # the same code passes where only the CPU runs: it is the meta run that finds it
    assert grading.check_padding_mask(styles_nn.padding_moves_lengths_to_cpu, device="cpu").devices == ["cpu"]


def test_reading_a_cpu_copy_still_falls_back_on_meta():
    report = grading.check_padding_mask(styles_nn.padding_lengths_read_back, device="meta")
    assert report.devices == ["cpu", "meta (fell back)"]
    assert any("tolist" in note for note in report.notes)
    report = grading.check_padding_mask(styles_nn.padding_rows_of_cpu_lengths, device="meta")
    assert report.devices == ["cpu", "meta (fell back)"]  # torch.ones(n) with n from the CPU copy
    assert grading.check_padding_mask(styles_nn.padding_fill_rows, device="meta").devices == ["cpu", "meta"]


def test_the_meta_guard_gives_a_cpu_stand_in_whose_values_cannot_be_read():
    lengths = torch.tensor([3, 1]).to("meta")
    with GuardMode(strict_device=True):
        on_cpu = lengths.cpu()
        assert on_cpu.device.type == "cpu" and on_cpu.shape == (2,) and on_cpu.dtype == torch.long
        assert is_stand_in(on_cpu) and is_stand_in(on_cpu[:, None] + 1)
        for read in (lambda: on_cpu.tolist(), lambda: int(on_cpu[0]), lambda: bool(on_cpu.any()), lambda: repr(on_cpu)):
            with pytest.raises(MetaValuesUnreadable):
                read()
        assert on_cpu.shape[0] == 2 and on_cpu.numel() == 2  # metadata stays readable
        for shape_from_values in (lambda: torch.ones(on_cpu[0]), lambda: (on_cpu > 1).nonzero(),
                                  lambda: torch.arange(4, device="meta")[:on_cpu[0]], lambda: torch.where(on_cpu > 1)):
            with pytest.raises(MetaValuesUnreadable):  # zeros would decide a shape: falls back instead
                shape_from_values()
        target = torch.zeros(2, 4, dtype=torch.bool, device="meta")
        target[0, :on_cpu[0]] = True  # writing needs no value: the shape is fixed
        with pytest.raises(DeviceMismatch, match="a copy your code made with `.cpu\\(\\)`"):
            torch.arange(2, device="meta") < on_cpu
        assert (torch.arange(2) < on_cpu).to("meta").device.type == "meta"
    assert not is_stand_in(torch.zeros(2))


# --------------------------------------------------------------------------- never a crash


def test_a_lazy_layer_is_a_grading_error_not_a_crash():
    with pytest.raises(grading.GradingError, match=r"parameter 'w_q.weight' is not initialized"):
        grading.check_multi_head_attention(styles_nn.MHALazyProjections)


def test_an_object_that_misbehaves_when_read_is_a_grading_error():
    class ChangesItsReturn(MHAEinsum):
        """Right under the value cases; a 3-tuple in the behaviour checks (no gradients, B=2, L=5)."""

        def forward(self, query, key, value, mask=None):
            out = super().forward(query, key, value, mask)
            if not torch.is_grad_enabled() and tuple(query.shape[:2]) == (2, 5):
                return (*out, None)
            return out

    with pytest.raises(grading.GradingError) as info:
        grading.check_multi_head_attention(ChangesItsReturn)
    assert "the grader could not use what your code returned or built (ValueError: too many values" in str(info.value)


def test_an_overridden_eval_is_a_grading_error():
    class HasItsOwnEval(MHAEinsum):
        def eval(self, x):  # a helper named like nn.Module's own method
            return self(x, x, x)

    with pytest.raises(grading.GradingError, match="could not be put in eval mode"):
        grading.check_multi_head_attention(HasItsOwnEval)


def test_the_squeeze_hint_of_the_recurrent_checks_speaks_of_batch_size_1():
    with pytest.raises(grading.GradingError) as info:
        grading.check_lstm_cell(styles_nn.lstm_squeeze_then_dim1)
    cause = str(info.value).split("Most likely cause:")[1]
    assert "batch size 1" in cause and "`.squeeze()`" in cause
    assert "leading batch dimensions" not in cause  # not the attention checks' hint


def test_the_layout_probe_reads_any_frequency_scheme():
    from cs502_lib.grading.catalog_layers import pe_layout

    for fn, layout in ((styles_nn.pe_log_spaced_halves, "halves, sin first"),
                       (styles_nn.pe_log_spaced_halves_cos_first, "halves, cos first"),
                       (styles_nn.pe_log_spaced_interleaved, "interleaved, sin first"),
                       (styles_nn.pe_div_term_2d, "interleaved, sin first")):
        name, freq = pe_layout(fn(12, 8).double())
        assert name == layout
        assert math.isclose(freq[0].item(), 1.0, rel_tol=1e-5)  # pair 0 turns one radian per position in all
    assert pe_layout(torch.randn(12, 8, dtype=torch.float64)) is None
