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
"""

from .attention import check_multi_head_attention, check_scaled_dot_product_attention
from .core import CheckReport, GradingError

__all__ = [
    "GradingError",
    "CheckReport",
    "check_scaled_dot_product_attention",
    "check_multi_head_attention",
]

from .positions_masks import check_causal_mask, check_padding_mask, check_positional_encoding  # noqa: E402
from .rnn_lstm import check_lstm_cell, check_rnn_cell  # noqa: E402

__all__ += [
    "check_rnn_cell", "check_lstm_cell", "check_positional_encoding", "check_causal_mask", "check_padding_mask",
]

from .transformer import check_decoder_layer, check_encoder_layer  # noqa: E402

__all__ += ["check_encoder_layer", "check_decoder_layer"]

from .dnabert import (  # noqa: E402
    check_kmer_tokenize,
    check_kmer_vocab,
    check_span_mask,
    check_transcribe,
    check_translate,
)

__all__ += ["check_transcribe", "check_translate", "check_kmer_tokenize", "check_kmer_vocab", "check_span_mask"]
