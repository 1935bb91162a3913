"""The grading engine: every check of the registry (14 today) on cs502_lib's references (CPU + meta),
as a student's notebook would run them.

Target: the checks together in under 20 s on 2 CPU cores. The baseline, for
scale, is the time to call each reference once on the checks' value cases (no
guards, no gradients, no diagnosis, no meta run); the ratio says what the
engine's thoroughness costs on top of the bare computation.
"""

from __future__ import annotations

import time

import torch

import cs502_lib
import cs502_lib.bio as bio
from cs502_lib.grading import attention, masking, positions_masks, registry, rnn_lstm, transformer

from ._timing import Result, compare

TARGET_S = 20.0

#: (check, reference) of every graded item of the registry.
CHECKS = [(it.check_object(), it.reference_object()) for it in registry.ITEMS]


def _all_checks() -> None:
    for check, ref in CHECKS:
        check(ref, device="auto")


def _bare_reference_calls() -> None:
    """Each reference called once per value case of its check, nothing else (single-threaded, like the checks)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _bare_calls()
    finally:
        torch.set_num_threads(threads)


def _bare_calls() -> None:
    for case in rnn_lstm._rnn_cases():
        cs502_lib.rnn_cell(*case.args)
    for case in rnn_lstm._lstm_cases():
        cs502_lib.lstm_cell(*case.args)
    for case in attention._sdpa_cases():
        cs502_lib.scaled_dot_product_attention(*case.args)
    for init, cases in attention._mha_cases():
        m = cs502_lib.MultiHeadAttention(*init).eval()
        for case in cases:
            m(*case.args)
    for max_len, d_model in positions_masks._PE_SIZES:
        cs502_lib.sinusoidal_positional_encoding(max_len, d_model)
    for n in (4, 1, 7, 3, 5):
        cs502_lib.causal_mask(n)
    for lengths, max_len in (([3, 1, 4], 5), ([5, 0, 2, 5], 5), ([1], 1), ([2, 6], 8)):
        cs502_lib.padding_mask(torch.tensor(lengths), max_len)
    for sizes, ref in ((transformer._encoder_sizes(), cs502_lib.EncoderLayer),
                       (transformer._decoder_sizes(), cs502_lib.DecoderLayer)):
        for init, cases in sizes:
            m = ref(*init).eval()
            for case in cases:
                m(*case.args)
    bio.transcribe("CACGTAGACTGAGGACTCCTCTTC")
    bio.translate("GUGCAUCUGACUCCUGAGGAGAAG")
    bio.kmer_tokenize("ACGTACGTAC", 6)
    for k in (1, 2, 3, 6):
        bio.build_kmer_vocab(k)
    ids = masking._batch(40, 16, 64, 6)
    for seed in range(12):
        bio.span_mask(ids, 6, 0.15, torch.Generator().manual_seed(seed))


def run() -> Result:
    start = time.perf_counter()
    _all_checks()  # the first run of a process pays PyTorch's lazy imports
    cold = time.perf_counter() - start
    warm, bare = compare(_all_checks, _bare_reference_calls, repeats=5, warmup=1)
    return Result(
        name=f"all {len(CHECKS)} grading checks on the references (cpu + meta)",
        ours=warm, baseline=bare, baseline_name="each reference called once per value case",
        target=f"total <= {TARGET_S:g} s", met=max(warm, cold) <= TARGET_S,
        detail=f"first run in a fresh process (PyTorch's lazy imports included): {cold:.2f} s; "
               f"warm median {warm:.2f} s; target {TARGET_S:g} s on 2 CPU cores",
    )
