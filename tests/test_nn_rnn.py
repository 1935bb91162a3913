"""rnn_cell / lstm_cell and the RNN / LSTM layers against PyTorch's own modules."""

import pytest
import torch
from torch import nn

from cs502_lib import LSTM, RNN, lstm_cell, rnn_cell

ATOL = 1e-5


def _rnn_weights(cell: nn.RNNCell):
    return cell.weight_ih.T, cell.weight_hh.T, cell.bias_ih + cell.bias_hh


def _lstm_weights(cell: nn.LSTMCell):
    return cell.weight_ih.T, cell.weight_hh.T, cell.bias_ih + cell.bias_hh


@pytest.mark.parametrize("B,D,H", [(1, 1, 1), (4, 3, 5), (7, 16, 8)])
def test_rnn_cell_matches_torch_values_and_grads(B, D, H):
    cell = nn.RNNCell(D, H)
    x = torch.randn(B, D, requires_grad=True)
    h = torch.randn(B, H, requires_grad=True)
    ours = rnn_cell(x, h, *_rnn_weights(cell))
    ref = cell(x, h)
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=0)
    g = torch.randn_like(ref)
    gx, gh = torch.autograd.grad(ours, (x, h), g)
    rx, rh = torch.autograd.grad(ref, (x, h), g)
    torch.testing.assert_close(gx, rx, atol=ATOL, rtol=0)
    torch.testing.assert_close(gh, rh, atol=ATOL, rtol=0)


@pytest.mark.parametrize("B,D,H", [(1, 1, 1), (4, 3, 5), (6, 10, 12)])
def test_lstm_cell_matches_torch_gate_order(B, D, H):
    cell = nn.LSTMCell(D, H)
    x = torch.randn(B, D, requires_grad=True)
    h = torch.randn(B, H, requires_grad=True)
    c = torch.randn(B, H, requires_grad=True)
    h1, c1 = lstm_cell(x, h, c, *_lstm_weights(cell))
    rh1, rc1 = cell(x, (h, c))
    torch.testing.assert_close(h1, rh1, atol=ATOL, rtol=0)
    torch.testing.assert_close(c1, rc1, atol=ATOL, rtol=0)
    ours = torch.autograd.grad((h1.sum() + 2 * c1.sum()), (x, h, c))
    ref = torch.autograd.grad((rh1.sum() + 2 * rc1.sum()), (x, h, c))
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


def test_rnn_layer_matches_nn_rnn():
    torch.manual_seed(1)
    layer = RNN(3, 6)
    ref = nn.RNN(3, 6, batch_first=True)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(layer.W_x.T)
        ref.weight_hh_l0.copy_(layer.W_h.T)
        ref.bias_ih_l0.copy_(layer.b)
        ref.bias_hh_l0.zero_()
    x = torch.randn(4, 9, 3)
    out, hT = layer(x)
    rout, rh = ref(x)
    torch.testing.assert_close(out, rout, atol=ATOL, rtol=0)
    torch.testing.assert_close(hT, rh[0], atol=ATOL, rtol=0)


def test_lstm_layer_matches_nn_lstm():
    torch.manual_seed(2)
    layer = LSTM(5, 4)
    ref = nn.LSTM(5, 4, batch_first=True)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(layer.W_x.T)
        ref.weight_hh_l0.copy_(layer.W_h.T)
        ref.bias_ih_l0.copy_(layer.b)
        ref.bias_hh_l0.zero_()
    x = torch.randn(3, 11, 5)
    out, (h, c) = layer(x)
    rout, (rh, rc) = ref(x)
    torch.testing.assert_close(out, rout, atol=ATOL, rtol=0)
    torch.testing.assert_close(h, rh[0], atol=ATOL, rtol=0)
    torch.testing.assert_close(c, rc[0], atol=ATOL, rtol=0)


def test_lstm_forget_gate_bias_starts_at_one():
    layer = LSTM(2, 3)
    assert torch.equal(layer.b[3:6].detach(), torch.ones(3))


@pytest.mark.parametrize(
    "args,match",
    [
        ((torch.randn(2, 3), torch.randn(2, 4), torch.randn(3, 5), torch.randn(4, 4), torch.randn(4)), "W_x must have shape"),
        ((torch.randn(2, 3), torch.randn(3, 4), torch.randn(3, 4), torch.randn(4, 4), torch.randn(4)), "same batch size"),
        ((torch.randn(2, 3), torch.randn(2, 4), torch.randn(3, 4), torch.randn(4, 3), torch.randn(4)), "W_h must have shape"),
        ((torch.randn(2, 3), torch.randn(2, 4), torch.randn(3, 4), torch.randn(4, 4), torch.randn(5)), "b must have shape"),
        ((torch.randn(3), torch.randn(2, 4), torch.randn(3, 4), torch.randn(4, 4), torch.randn(4)), "x must have 2 dimensions"),
        (([[1.0]], torch.randn(1, 1), torch.randn(1, 1), torch.randn(1, 1), torch.randn(1)), "x must be a torch.Tensor"),
    ],
)
def test_rnn_cell_errors(args, match):
    with pytest.raises(ValueError, match=match):
        rnn_cell(*args)


def test_lstm_cell_errors():
    x, h, c = torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 4)
    with pytest.raises(ValueError, match=r"W_x must have shape \(3, 16\)"):
        lstm_cell(x, h, c, torch.randn(3, 4), torch.randn(4, 16), torch.randn(16))
    with pytest.raises(ValueError, match="c must have the same shape as h"):
        lstm_cell(x, h, torch.randn(2, 5), torch.randn(3, 16), torch.randn(4, 16), torch.randn(16))


def test_layer_errors():
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        RNN(3, 0)
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, 3\)"):
        LSTM(3, 4)(torch.randn(2, 5, 4))
