"""The five dnabert checks: references and independently written correct variants pass; every mutant fails, named."""

import pytest

import cs502_lib.bio as bio
import cs502_lib.grading as grading
from grading_impls.correct_bio import CORRECT
from grading_impls.mutants_bio import MUTANTS

REFERENCES = {
    "check_transcribe": bio.transcribe,
    "check_translate": bio.translate,
    "check_kmer_tokenize": bio.kmer_tokenize,
    "check_kmer_vocab": bio.build_kmer_vocab,
    "check_span_mask": bio.span_mask,
}


def _id(value):
    return getattr(value, "__name__", str(value))


@pytest.mark.parametrize("check", sorted(REFERENCES))
def test_reference_passes(check):
    report = getattr(grading, check)(REFERENCES[check])
    assert report.cases >= 5
    assert report.devices[0] == "cpu"
    if check == "check_span_mask":
        assert report.devices[1] == "meta"


@pytest.mark.parametrize("check,impl", [(c, i) for c, impls in CORRECT.items() for i in impls], ids=_id)
def test_correct_variant_passes(check, impl):
    assert getattr(grading, check)(impl).cases >= 5


def test_every_bio_check_has_three_correct_variants_and_mutants():
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


def test_span_mask_loops_fall_back_on_meta_and_say_so():
    from grading_impls.correct_bio import span_mask_loops

    report = grading.check_span_mask(span_mask_loops)
    assert report.devices[1] == "meta (fell back)"
    assert any("meta device was skipped" in n and "tolist" in n for n in report.notes)
