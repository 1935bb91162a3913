"""cs502_lib: the helper library of the course "Transformers for biomedicine".

The reference implementations of every graded name are importable from here::

    from cs502_lib import scaled_dot_product_attention, MultiHeadAttention
"""

from .nn import (
    LSTM,
    RNN,
    Decoder,
    DecoderLayer,
    Encoder,
    EncoderLayer,
    MultiHeadAttention,
    TokenEmbedding,
    Transformer,
    causal_mask,
    lstm_cell,
    padding_mask,
    rnn_cell,
    scaled_dot_product_attention,
    sinusoidal_positional_encoding,
)
from .training import set_seed
from .bio import transcribe, translate, kmer_tokenize, build_kmer_vocab, span_mask

__version__ = "0.1.0"

__all__ = [
    "rnn_cell", "lstm_cell", "RNN", "LSTM",
    "scaled_dot_product_attention", "MultiHeadAttention",
    "sinusoidal_positional_encoding", "causal_mask", "padding_mask", "TokenEmbedding",
    "EncoderLayer", "DecoderLayer", "Encoder", "Decoder", "Transformer",
    "set_seed",
    "transcribe", "translate", "kmer_tokenize", "build_kmer_vocab", "span_mask",
]
