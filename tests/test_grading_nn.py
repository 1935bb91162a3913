"""The nine nn checks: references and independently written correct variants pass; every mutant fails, named."""

import pytest

import cs502_lib
import cs502_lib.grading as grading
from grading_impls.correct_nn import CORRECT
from grading_impls.mutants_nn import MUTANTS

REFERENCES = {
    "check_rnn_cell": cs502_lib.rnn_cell,
    "check_lstm_cell": cs502_lib.lstm_cell,
    "check_scaled_dot_product_attention": cs502_lib.scaled_dot_product_attention,
    "check_multi_head_attention": cs502_lib.MultiHeadAttention,
    "check_positional_encoding": cs502_lib.sinusoidal_positional_encoding,
    "check_causal_mask": cs502_lib.causal_mask,
    "check_padding_mask": cs502_lib.padding_mask,
    "check_encoder_layer": cs502_lib.EncoderLayer,
    "check_decoder_layer": cs502_lib.DecoderLayer,
}


def _id(value):
    return getattr(value, "__name__", str(value))


@pytest.mark.parametrize("check", sorted(REFERENCES))
def test_reference_passes_on_cpu_and_meta(check):
    report = getattr(grading, check)(REFERENCES[check])
    assert isinstance(report, grading.CheckReport)
    assert report.cases >= 4
    assert report.devices[0] == "cpu"
    if check != "check_positional_encoding":  # the contract has no device argument
        assert report.devices[1] == "meta"


@pytest.mark.parametrize("check,impl", [(c, i) for c, impls in CORRECT.items() for i in impls], ids=_id)
def test_correct_variant_passes(check, impl):
    report = getattr(grading, check)(impl)
    assert report.cases >= 4
    assert report.name == check


def test_every_nn_check_has_three_correct_variants_and_mutants():
    assert set(CORRECT) == set(REFERENCES)
    assert all(len(v) >= 3 for v in CORRECT.values())
    assert {c for c, _, _ in MUTANTS} == set(REFERENCES)


@pytest.mark.parametrize("check,impl,words", MUTANTS, ids=lambda v: _id(v) if callable(v) else "")
def test_mutant_fails_and_names_the_cause(check, impl, words):
    with pytest.raises(grading.GradingError) as info:
        getattr(grading, check)(impl, time_limit=3)
    message = str(info.value)
    assert message.startswith(f"{check} failed:")
    assert words.lower() in message.lower(), message
