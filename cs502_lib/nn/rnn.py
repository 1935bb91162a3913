"""Recurrent cells and the layers that unroll them (chapters 2 and 3).

Weights follow the course's convention ``x @ W`` (input features first), so a
weight that maps D inputs to H hidden units has shape (D, H). PyTorch's
``nn.RNNCell`` stores the transpose, (H, D); the tests copy weights across with
a ``.T``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._validation import require_ndim, require_positive_int, require_shape, require_tensor

__all__ = ["rnn_cell", "lstm_cell", "RNN", "LSTM"]


def _check_cell_inputs(x, h, W_x, W_h, b, gates: int):
    for name, value in (("x", x), ("h", h), ("W_x", W_x), ("W_h", W_h), ("b", b)):
        require_tensor(name, value)
    require_ndim("x", x, 2)
    require_ndim("h", h, 2)
    B, D = x.shape
    H = h.shape[1]
    if h.shape[0] != B:
        raise ValueError(f"x and h must have the same batch size, got x {tuple(x.shape)} and h {tuple(h.shape)}")
    require_shape("W_x", W_x, (D, gates * H), f"(input size D={D}, {gates}*H={gates * H})" if gates > 1 else f"(D={D}, H={H})")
    require_shape("W_h", W_h, (H, gates * H), f"(H={H}, {gates}*H={gates * H})" if gates > 1 else f"(H={H}, H={H})")
    require_shape("b", b, (gates * H,), f"({gates}*H,)" if gates > 1 else "(H,)")


def rnn_cell(x: torch.Tensor, h: torch.Tensor, W_xh: torch.Tensor, W_hh: torch.Tensor, b_h: torch.Tensor) -> torch.Tensor:
    r"""One step of an Elman RNN: :math:`h_t = \tanh(x_t W_{xh} + h_{t-1} W_{hh} + b_h)`.

    Args:
        x: input at this step, shape (B, D).
        h: previous hidden state, shape (B, H).
        W_xh: input-to-hidden weights, shape (D, H).
        W_hh: hidden-to-hidden weights, shape (H, H).
        b_h: bias, shape (H,).

    Returns:
        The new hidden state, shape (B, H).
    """
    _check_cell_inputs(x, h, W_xh, W_hh, b_h, gates=1)
    return torch.tanh(x @ W_xh + h @ W_hh + b_h)


def lstm_cell(
    x: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor,
    W_x: torch.Tensor,
    W_h: torch.Tensor,
    b: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""One step of an LSTM.

    The pre-activations ``x @ W_x + h @ W_h + b`` are split into four chunks of
    H columns in PyTorch's order **i, f, g, o**:

    .. math::
        i = \sigma(\cdot),\ f = \sigma(\cdot),\ g = \tanh(\cdot),\ o = \sigma(\cdot),\quad
        c_t = f \odot c_{t-1} + i \odot g,\quad h_t = o \odot \tanh(c_t)

    Args:
        x: input, shape (B, D).
        h: previous hidden state, shape (B, H).
        c: previous cell state, shape (B, H).
        W_x: input weights of the four gates, shape (D, 4H).
        W_h: recurrent weights of the four gates, shape (H, 4H).
        b: biases of the four gates, shape (4H,).

    Returns:
        ``(h_new, c_new)``, each of shape (B, H).
    """
    _check_cell_inputs(x, h, W_x, W_h, b, gates=4)
    require_tensor("c", c)
    if c.shape != h.shape:
        raise ValueError(f"c must have the same shape as h {tuple(h.shape)}, got {tuple(c.shape)}")
    gates = x @ W_x + h @ W_h + b
    i, f, g, o = gates.chunk(4, dim=-1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c_new = f * c + i * g
    h_new = o * torch.tanh(c_new)
    return h_new, c_new


class _Recurrent(nn.Module):
    gates = 1

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size = require_positive_int("input_size", input_size)
        self.hidden_size = require_positive_int("hidden_size", hidden_size)
        G = self.gates * hidden_size
        self.W_x = nn.Parameter(torch.empty(input_size, G))
        self.W_h = nn.Parameter(torch.empty(hidden_size, G))
        self.b = nn.Parameter(torch.empty(G))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform(-1/sqrt(H), 1/sqrt(H)), PyTorch's default for recurrent layers."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _check_input(self, x: torch.Tensor) -> None:
        require_tensor("x", x)
        require_ndim("x", x, 3)
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"x must have shape (B, T, {self.input_size}) (batch first), got {tuple(x.shape)}"
            )

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, hidden_size={self.hidden_size}"


class RNN(_Recurrent):
    """An Elman RNN layer that unrolls :func:`rnn_cell` over a batch-first sequence.

    ``forward(x, h0=None)`` takes x of shape (B, T, D) and returns
    ``(outputs, h_T)`` with outputs (B, T, H), the hidden state after every step,
    and h_T (B, H), the last one.
    """

    gates = 1

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_input(x)
        B, T, _ = x.shape
        h = x.new_zeros(B, self.hidden_size) if h0 is None else h0
        outputs = []
        for t in range(T):
            h = rnn_cell(x[:, t], h, self.W_x, self.W_h, self.b)
            outputs.append(h)
        out = torch.stack(outputs, dim=1) if outputs else x.new_zeros(B, 0, self.hidden_size)
        return out, h


class LSTM(_Recurrent):
    """An LSTM layer that unrolls :func:`lstm_cell` over a batch-first sequence.

    ``forward(x, state=None)`` takes x of shape (B, T, D) and an optional
    ``(h0, c0)``; it returns ``(outputs, (h_T, c_T))`` with outputs (B, T, H).
    """

    gates = 4

    def reset_parameters(self) -> None:
        super().reset_parameters()
        with torch.no_grad():  # a forget-gate bias of 1 helps long memories (Jozefowicz et al. 2015)
            self.b[self.hidden_size : 2 * self.hidden_size].fill_(1.0)

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        self._check_input(x)
        B, T, _ = x.shape
        if state is None:
            h = x.new_zeros(B, self.hidden_size)
            c = x.new_zeros(B, self.hidden_size)
        else:
            h, c = state
        outputs = []
        for t in range(T):
            h, c = lstm_cell(x[:, t], h, c, self.W_x, self.W_h, self.b)
            outputs.append(h)
        out = torch.stack(outputs, dim=1) if outputs else x.new_zeros(B, 0, self.hidden_size)
        return out, (h, c)
