"""Reference implementations of the course's neural building blocks."""

from .attention import MultiHeadAttention, scaled_dot_product_attention
from .positional import TokenEmbedding, causal_mask, padding_mask, sinusoidal_positional_encoding
from .rnn import LSTM, RNN, lstm_cell, rnn_cell
from .transformer import Decoder, DecoderLayer, Encoder, EncoderLayer, Transformer

__all__ = [
    "rnn_cell", "lstm_cell", "RNN", "LSTM",
    "scaled_dot_product_attention", "MultiHeadAttention",
    "sinusoidal_positional_encoding", "causal_mask", "padding_mask", "TokenEmbedding",
    "EncoderLayer", "DecoderLayer", "Encoder", "Decoder", "Transformer",
]
