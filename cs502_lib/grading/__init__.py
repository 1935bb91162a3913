"""The grading engine: one ``check_<name>`` per graded name of the course.

Each check takes the student's function (or class), runs it on seeded cases on the
CPU, on the ``meta`` device under a strict device guard, and on CUDA when present,
and either returns a :class:`CheckReport` or raises :class:`GradingError` whose
message says what failed, on which case, expected versus got, and the most likely
cause in plain words::

    from cs502_lib.grading import check_scaled_dot_product_attention
    check_scaled_dot_product_attention(scaled_dot_product_attention)

``device=`` (or the environment variable ``CS502_GRADING_DEVICE``: ``auto``, ``cpu``,
``cuda``) chooses the devices; ``time_limit=`` (or ``CS502_GRADING_TIME_LIMIT``) the
seconds of student-code time a check allows (10 by default).

Layout: the engine every check shares, each module one job: :mod:`.report` (GradingError,
CheckReport), :mod:`.deadline` (the time limit), :mod:`.attribution` (the student's line
and the likely cause of an error), :mod:`.calls` (calling student code under the guards),
:mod:`.context` (a case run and compared with the reference), :mod:`.modules` (the
student's nn.Module built with the reference weights), :mod:`.run` (devices, ``run_check``);
:mod:`.guards` (delegation and device guards), :mod:`.catalog` (the diagnosed mistakes),
and one module of checks per assignment. The clean verdict: :mod:`.verdict`, :mod:`.remote`
and :mod:`.worker` (the student's code in a sandboxed process), :mod:`.wire`, :mod:`.scan`.
"""

from .attention import check_multi_head_attention, check_scaled_dot_product_attention
from .report import CheckReport, GradingError
from .dnabert import check_kmer_tokenize, check_kmer_vocab, check_span_mask, check_transcribe, check_translate
from .positions_masks import check_causal_mask, check_padding_mask, check_positional_encoding
from .rnn_lstm import check_lstm_cell, check_rnn_cell
from .transformer import check_decoder_layer, check_encoder_layer

__all__ = [
    "GradingError",
    "CheckReport",
    # rnn_lstm
    "check_rnn_cell",
    "check_lstm_cell",
    # attention
    "check_scaled_dot_product_attention",
    "check_multi_head_attention",
    # positions_masks
    "check_positional_encoding",
    "check_causal_mask",
    "check_padding_mask",
    # transformer
    "check_encoder_layer",
    "check_decoder_layer",
    # dnabert
    "check_transcribe",
    "check_translate",
    "check_kmer_tokenize",
    "check_kmer_vocab",
    "check_span_mask",
]
