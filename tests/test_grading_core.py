"""The grading engine itself: time limit, error attribution, return types, devices, guards, the report."""

import linecache
import math
import threading
import time

import numpy as np
import pytest
import torch
from torch import nn

import cs502_lib
import cs502_lib.grading as grading
from cs502_lib.grading.guards import DeviceMismatch, GuardMode

CONTRACT_CHECKS = [
    "check_rnn_cell", "check_lstm_cell", "check_scaled_dot_product_attention", "check_multi_head_attention",
    "check_positional_encoding", "check_causal_mask", "check_padding_mask", "check_encoder_layer",
    "check_decoder_layer", "check_transcribe", "check_translate", "check_kmer_tokenize", "check_kmer_vocab",
    "check_span_mask",
]


def test_the_fourteen_checks_and_the_error_type_are_exported():
    assert set(CONTRACT_CHECKS) <= set(grading.__all__)
    assert issubclass(grading.GradingError, AssertionError)
    for name in CONTRACT_CHECKS:
        assert callable(getattr(grading, name))


def _sdpa(q, k, v, mask=None):
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    w = s.softmax(-1)
    return w @ v, w


def _loop_forever(q, k, v, mask=None):
    while True:
        pass


def test_an_infinite_loop_is_stopped_with_a_clear_message():
    start = time.perf_counter()
    with pytest.raises(grading.GradingError) as info:
        grading.check_scaled_dot_product_attention(_loop_forever, time_limit=0.5)
    assert time.perf_counter() - start < 5
    assert "took longer than 0.5 s" in str(info.value)
    assert "while True" in str(info.value)  # the line it was running
    # the interpreter carries on, and the references are restored and usable
    assert grading.check_scaled_dot_product_attention(_sdpa).cases > 10


def test_the_time_limit_works_outside_the_main_thread_too():
    result = {}

    def worker():
        try:
            grading.check_scaled_dot_product_attention(_loop_forever, time_limit=0.5)
        except grading.GradingError as exc:
            result["message"] = str(exc)

    t = threading.Thread(target=worker)
    t.start()
    t.join(timeout=20)
    assert not t.is_alive()
    assert "took longer than 0.5 s" in result["message"]


def test_the_time_limit_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("CS502_GRADING_TIME_LIMIT", "0.3")
    with pytest.raises(grading.GradingError, match=r"longer than 0.3 s"):
        grading.check_rnn_cell(lambda x, h, W, U, b: _loop_forever(x, h, W))


def test_an_exception_is_reported_at_the_students_own_line_of_a_notebook_cell():
    source = "import torch\n\ndef rnn_cell(x, h, W_xh, W_hh, b_h):\n    return torch.tanh(x @ W_hh + b_h)\n"
    filename = "/tmp/ipykernel_4242/1234567.py"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {}
    exec(compile(source, filename, "exec"), namespace)
    with pytest.raises(grading.GradingError) as info:
        grading.check_rnn_cell(namespace["rnn_cell"])
    message = str(info.value)
    assert "line 4 of your notebook cell" in message
    assert "return torch.tanh(x @ W_hh + b_h)" in message
    assert "RuntimeError" in message
    assert "grading" not in message.split("at ", 1)[1].splitlines()[0]  # no grader internals as the location


@pytest.mark.parametrize(
    "returned,words",
    [
        (None, "missing `return`"),
        ("h", "str"),
        (3, "int"),
        ({"h": 1}, "dict"),
        ([1.0, 2.0], "list"),
        (np.zeros((3, 5)), "NumPy"),
        (torch.zeros(3, 5, dtype=torch.int64), "dtype torch.int64"),
        (torch.zeros(5, 3), "transposed"),
        (torch.full((3, 5), float("nan")), "nan"),
        (torch.full((3, 5), float("inf")), "inf"),
    ],
    ids=["None", "str", "int", "dict", "list", "numpy", "int64", "transposed", "nan", "inf"],
)
def test_wrong_return_values_get_a_specific_grading_error(returned, words):
    def student(x, h, W_xh, W_hh, b_h):
        return returned

    with pytest.raises(grading.GradingError) as info:
        grading.check_rnn_cell(student)
    assert words.lower() in str(info.value).lower()


def test_wrong_kinds_of_impl_are_grading_errors():
    with pytest.raises(grading.GradingError, match="pass your class itself"):
        grading.check_multi_head_attention(cs502_lib.MultiHeadAttention(8, 2))
    with pytest.raises(grading.GradingError, match="expected your function"):
        grading.check_rnn_cell(42)
    with pytest.raises(grading.GradingError, match="subclass of torch.nn.Module"):
        grading.check_encoder_layer(dict)


def test_a_student_exception_of_any_kind_becomes_a_grading_error():
    class Weird(Exception):
        pass

    def student(q, k, v, mask=None):
        raise Weird("boom")

    with pytest.raises(grading.GradingError, match="Weird: boom"):
        grading.check_scaled_dot_product_attention(student)


def test_report_prints_one_line_and_renders_html():
    report = grading.check_causal_mask(cs502_lib.causal_mask)
    line = str(report).splitlines()[0]
    assert line.startswith("check_causal_mask passed:")
    assert "cases on cpu, meta" in line and line.endswith(" s")
    html = report._repr_html_()
    assert "check_causal_mask passed" in html and "<div" in html


def test_device_selection(monkeypatch):
    monkeypatch.setenv("CS502_GRADING_DEVICE", "cpu")
    assert grading.check_causal_mask(cs502_lib.causal_mask).devices == ["cpu"]
    assert grading.check_causal_mask(cs502_lib.causal_mask, device="auto").devices[:2] == ["cpu", "meta"]
    with pytest.raises(ValueError, match="unknown grading device"):
        grading.check_causal_mask(cs502_lib.causal_mask, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            grading.check_causal_mask(cs502_lib.causal_mask, device="cuda")


def test_the_device_guard_rejects_mixed_devices_but_allows_cpu_scalars():
    meta = torch.zeros(3, 3, device="meta")
    with GuardMode(strict_device=True):
        assert (meta * torch.tensor(2.0)).device.type == "meta"
        with pytest.raises(DeviceMismatch):
            meta @ torch.ones(3, 3)  # on meta alone this would silently give a meta tensor


def test_delegation_is_undone_after_the_check():
    def student(q, k, v, mask=None):
        return cs502_lib.scaled_dot_product_attention(q, k, v, mask)

    with pytest.raises(grading.GradingError, match="reference scaled_dot_product_attention"):
        grading.check_scaled_dot_product_attention(student)
    q = torch.randn(1, 2, 4)
    out, w = cs502_lib.scaled_dot_product_attention(q, q, q)
    assert out.shape == (1, 2, 4)
    nn.MultiheadAttention(4, 2)  # torch's modules work again too
    nn.LSTM(3, 4)(torch.randn(2, 5, 3))


def test_references_of_other_names_may_be_used_as_building_blocks():
    class Encoder(nn.Module):
        def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
            super().__init__()
            self.self_attn = cs502_lib.MultiHeadAttention(d_model, num_heads)
            self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))
            self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
            self.dropout = nn.Dropout(dropout)

        def forward(self, x, mask=None):
            x = self.norm1(x + self.dropout(self.self_attn(x, x, x, mask)[0]))
            return self.norm2(x + self.dropout(self.ffn(x)))

    assert grading.check_encoder_layer(Encoder).cases > 5


def test_checks_leave_the_rng_and_thread_settings_alone():
    threads = torch.get_num_threads()
    state = torch.get_rng_state()
    grading.check_lstm_cell(cs502_lib.lstm_cell)
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.get_rng_state(), state)


def test_value_reading_code_falls_back_on_meta_and_the_report_says_so():
    def causal(n, device=None):
        mask = torch.ones(n, n, dtype=torch.bool, device=device).tril()
        assert mask.sum().item() == n * (n + 1) // 2  # reads a value: impossible on meta
        return mask

    report = grading.check_causal_mask(causal)
    assert "meta (fell back)" in report.devices
    assert any("item" in note for note in report.notes)


@pytest.mark.gpu
@pytest.mark.parametrize("check", CONTRACT_CHECKS)
def test_references_pass_on_cuda(check):
    from test_grading_bio import REFERENCES as BIO
    from test_grading_nn import REFERENCES as NN

    impl = {**NN, **BIO}[check]
    report = getattr(grading, check)(impl, device="cuda")
    if check in ("check_transcribe", "check_translate", "check_kmer_tokenize", "check_kmer_vocab",
                 "check_positional_encoding"):
        assert report.devices == ["cpu"]
    else:
        assert any(d.startswith("cuda") for d in report.devices)


@pytest.mark.gpu
def test_a_tensor_created_on_the_cpu_fails_on_cuda():
    def student(n, device=None):
        return torch.ones(n, n, dtype=torch.bool).tril()

    with pytest.raises(grading.GradingError, match="on device cpu; expected cuda"):
        grading.check_causal_mask(student, device="cuda")


def test_the_bfloat16_case_accepts_correct_variants(monkeypatch):
    """The bfloat16 case runs on CUDA; forced onto the CPU here so that it is tested without a GPU."""
    from grading_impls.correct_nn import sdpa_bias_float64, sdpa_einsum, sdpa_where_manual_softmax

    from cs502_lib.grading import attention

    monkeypatch.setattr(attention, "_BF16_DEVICES", {"cpu", "cuda"})
    base = grading.check_scaled_dot_product_attention(cs502_lib.scaled_dot_product_attention, device="cpu").cases
    for impl in (sdpa_einsum, sdpa_bias_float64, sdpa_where_manual_softmax):
        assert grading.check_scaled_dot_product_attention(impl, device="cpu").cases == base

    def float32_out(q, k, v, mask=None):
        out, w = _sdpa(q.float(), k.float(), v.float(), mask)
        return out, w

    with pytest.raises(grading.GradingError, match="dtype torch.float32; expected torch.bfloat16"):
        grading.check_scaled_dot_product_attention(float32_out, device="cpu")


def test_the_grading_benchmark_reports_the_target():
    from benchmarks import bench_grading

    result = bench_grading.run()
    assert result.target == "total <= 20 s"
    assert result.met, result.detail


_JUNK = [None, 1, "x", [], (None, None), (torch.zeros(1),) * 3, torch.zeros(1), np.zeros(1), {}, object(),
         torch.zeros(2, 3, dtype=torch.complex64), float("nan")]
_ERRORS = [SystemExit(3), ValueError("v"), RecursionError("r"), MemoryError("m"), StopIteration()]
_FUNCTION_CHECKS = [c for c in CONTRACT_CHECKS if c not in
                    ("check_multi_head_attention", "check_encoder_layer", "check_decoder_layer")]


@pytest.mark.parametrize("check", _FUNCTION_CHECKS)
def test_any_return_value_or_exception_gives_a_grading_error(check):
    for junk in _JUNK:
        with pytest.raises(grading.GradingError):
            getattr(grading, check)(lambda *a, _j=junk, **k: _j)
    for error in _ERRORS:
        def student(*a, _e=error, **k):
            raise _e

        with pytest.raises(grading.GradingError, match=type(error).__name__):
            getattr(grading, check)(student)


def test_a_module_returning_junk_gives_a_grading_error():
    from grading_impls.correct_nn import DecoderWithOwnMHA, EncoderWithOwnMHA, MHAEinsum

    for check, base in (("check_multi_head_attention", MHAEinsum), ("check_encoder_layer", EncoderWithOwnMHA),
                        ("check_decoder_layer", DecoderWithOwnMHA)):
        for junk in _JUNK:
            class Junk(base):
                def forward(self, *args, _j=junk):
                    return _j

            with pytest.raises(grading.GradingError, match="returned|is a|is None|has shape|dtype|contains"):
                getattr(grading, check)(Junk)
