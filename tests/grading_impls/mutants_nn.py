"""Buggy implementations ("mutants") of the nn contracts, one per mistake of the grader's catalog (those of
positions, masks and the Transformer layers live in mutants_layers.py and are listed here too).

``MUTANTS`` lists ``(check name, mutant, words the failure message must contain)``.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import cs502_lib
from cs502_lib.nn.attention import scaled_dot_product_attention as imported_reference_sdpa

# --------------------------------------------------------------------------- rnn_cell


def rnn_no_tanh(x, h, W_xh, W_hh, b_h):
    return x @ W_xh + h @ W_hh + b_h


def rnn_no_recurrence(x, h, W_xh, W_hh, b_h):
    return torch.tanh(x @ W_xh + b_h)


def rnn_sigmoid(x, h, W_xh, W_hh, b_h):
    return torch.sigmoid(x @ W_xh + h @ W_hh + b_h)


def rnn_builtin_cell(x, h, W_xh, W_hh, b_h):
    cell = nn.RNNCell(x.shape[1], h.shape[1])
    return cell(x, h)


_RNN_MADE_BEFORE_THE_CHECK = nn.RNN(4, 5, batch_first=True)


def rnn_module_made_earlier(x, h, W_xh, W_hh, b_h):
    return _RNN_MADE_BEFORE_THE_CHECK(x[:, None, :], h[None])[1][0]


def rnn_functional_builtin(x, h, W_xh, W_hh, b_h):
    return torch.rnn_tanh_cell(x, h, W_xh.T, W_hh.T, b_h, torch.zeros_like(b_h))


def rnn_numpy(x, h, W_xh, W_hh, b_h):
    z = x.detach().numpy() @ W_xh.detach().numpy() + h.detach().numpy() @ W_hh.detach().numpy() + b_h.detach().numpy()
    return torch.from_numpy(np.tanh(z))


def rnn_returns_numpy(x, h, W_xh, W_hh, b_h):
    return torch.tanh(x @ W_xh + h @ W_hh + b_h).detach().numpy()


def rnn_list(x, h, W_xh, W_hh, b_h):
    return [row for row in torch.tanh(x @ W_xh + h @ W_hh + b_h)]


def rnn_detach(x, h, W_xh, W_hh, b_h):
    return torch.tanh(x @ W_xh + h.detach() @ W_hh + b_h)


def rnn_no_return(x, h, W_xh, W_hh, b_h):
    torch.tanh(x @ W_xh + h @ W_hh + b_h)


def rnn_swapped_weights(x, h, W_xh, W_hh, b_h):
    return torch.tanh(x @ W_hh + h @ W_xh + b_h)  # raises when D != H


# --------------------------------------------------------------------------- lstm_cell


def lstm_gate_order_ifog(x, h, c, W_x, W_h, b):
    i, f, o, g = (x @ W_x + h @ W_h + b).chunk(4, dim=1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_new), c_new


def lstm_g_sigmoid(x, h, c, W_x, W_h, b):
    i, f, g, o = torch.sigmoid(x @ W_x + h @ W_h + b).chunk(4, dim=1)
    c_new = f * c + i * g
    return o * torch.tanh(c_new), c_new


def lstm_no_tanh_on_cell(x, h, c, W_x, W_h, b):
    i, f, g, o = (x @ W_x + h @ W_h + b).chunk(4, dim=1)
    c_new = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c_new, c_new


def lstm_returns_h_only(x, h, c, W_x, W_h, b):
    i, f, g, o = (x @ W_x + h @ W_h + b).chunk(4, dim=1)
    c_new = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c_new.tanh()


def lstm_builtin(x, h, c, W_x, W_h, b):
    cell = nn.LSTMCell(x.shape[1], h.shape[1])
    return cell(x, (h, c))


def lstm_inplace_c(x, h, c, W_x, W_h, b):
    i, f, g, o = (x @ W_x + h @ W_h + b).chunk(4, dim=1)
    c *= f.sigmoid()
    c += i.sigmoid() * g.tanh()
    return o.sigmoid() * c.tanh(), c


# --------------------------------------------------------------------------- scaled_dot_product_attention


def _sdpa(q, k, v, mask=None, divisor=None, dim=-1, fill=float("-inf"), invert=False, use_mask=True, after=False):
    d = math.sqrt(q.shape[-1]) if divisor is None else divisor(q, v)
    s = q @ k.transpose(-2, -1) / d
    if mask is not None and use_mask and not after:
        s = s.masked_fill(mask if invert else ~mask, fill)
    w = torch.softmax(s, dim=dim)
    if mask is not None and after:
        w = w * mask
    return w @ v, w


def sdpa_no_scale(q, k, v, mask=None):
    return _sdpa(q, k, v, mask, divisor=lambda q, v: 1.0)


def sdpa_scale_dk(q, k, v, mask=None):
    return _sdpa(q, k, v, mask, divisor=lambda q, v: q.shape[-1])


def sdpa_scale_dv(q, k, v, mask=None):
    return _sdpa(q, k, v, mask, divisor=lambda q, v: math.sqrt(v.shape[-1]))


def sdpa_softmax_dim(q, k, v, mask=None):
    return _sdpa(q, k, v, mask, dim=-2)


def sdpa_mask_inverted(q, k, v, mask=None):
    return _sdpa(q, k, v, mask, invert=True, fill=-1e9)


def sdpa_mask_ignored(q, k, v, mask=None):
    return _sdpa(q, k, v, mask, use_mask=False)


def sdpa_mask_after_softmax(q, k, v, mask=None):
    return _sdpa(q, k, v, mask, after=True)


def sdpa_key_from_query(q, k, v, mask=None):
    s = q @ q.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    w = s.softmax(-1)
    return w @ v, w


def sdpa_transposed_weights(q, k, v, mask=None):
    out, w = _sdpa(q, k, v, mask)
    return out, w.transpose(-2, -1)


def sdpa_out_only(q, k, v, mask=None):
    return _sdpa(q, k, v, mask)[0]


def sdpa_list(q, k, v, mask=None):
    return list(_sdpa(q, k, v, mask))


def sdpa_float64_no_cast(q, k, v, mask=None):
    return _sdpa(q.double(), k.double(), v.double(), mask)


def sdpa_detach(q, k, v, mask=None):
    return _sdpa(q, k.detach(), v, mask)


def sdpa_inplace_scale(q, k, v, mask=None):
    q /= math.sqrt(q.shape[-1])
    s = q @ k.transpose(-2, -1)
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    w = s.softmax(-1)
    return w @ v, w


def sdpa_inplace_mask(q, k, v, mask=None):
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s.masked_fill(mask.logical_not_(), float("-inf"))
    w = s.softmax(-1)
    return w @ v, w


def sdpa_cpu_tensor(q, k, v, mask=None):
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    bias = torch.zeros(s.shape[-2:])  # created on the CPU whatever the inputs' device
    if mask is not None:
        bias = bias.masked_fill(~mask, float("-inf"))
    w = torch.softmax(s + bias, dim=-1)
    return w @ v, w


def sdpa_torch_builtin(q, k, v, mask=None):
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return out, torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), -1)


def sdpa_library_reference(q, k, v, mask=None):
    return cs502_lib.scaled_dot_product_attention(q, k, v, mask)


def sdpa_imported_reference(q, k, v, mask=None):
    return imported_reference_sdpa(q, k, v, mask)


def sdpa_swallows_refusal(q, k, v, mask=None):
    try:
        return F.scaled_dot_product_attention(q, k, v), None
    except Exception:
        return _sdpa(q, k, v, mask)


def sdpa_nan(q, k, v, mask=None):
    out, w = _sdpa(q, k, v, mask)
    return out * (w.sum() / w.sum().floor() - 1) / 0.0, w


def sdpa_inplace_softmax(q, k, v, mask=None):
    w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    if mask is not None:
        w.masked_fill_(~mask, 0.0)  # changes the softmax output that backpropagation needs
        w = w / w.sum(-1, keepdim=True)
    else:
        w.mul_(1.0)
    return w @ v, w


def sdpa_float_mask_arithmetic(q, k, v, mask=None):
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s + (1 - mask) * -1e9
    w = s.softmax(-1)
    return w @ v, w


def sdpa_infinite_loop(q, k, v, mask=None):
    n = 0
    while n >= 0:
        n += 1
    return _sdpa(q, k, v, mask)


def sdpa_assumes_batch_dim(q, k, v, mask=None):
    s = torch.bmm(q, k.transpose(1, 2)) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    w = s.softmax(-1)
    return torch.bmm(w, v), w


def sdpa_view_noncontiguous(q, k, v, mask=None):
    kt = k.view(*k.shape[:-2], k.shape[-1], k.shape[-2])  # a view where a transpose is needed
    s = q @ kt / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    w = s.softmax(-1)
    return w @ v, w


# --------------------------------------------------------------------------- MultiHeadAttention


class _MHABase(nn.Module):
    def __init__(self, d_model, num_heads):
        super().__init__()
        if d_model % num_heads:
            raise ValueError("d_model % num_heads != 0")
        self.h, self.d_k, self.d_model = num_heads, d_model // num_heads, d_model
        self.w_q, self.w_k, self.w_v, self.w_o = (nn.Linear(d_model, d_model) for _ in range(4))

    def split(self, x):
        B, L, _ = x.shape
        return x.view(B, L, self.h, self.d_k).transpose(1, 2)

    def merge(self, x):
        B, _, L, _ = x.shape
        return x.transpose(1, 2).reshape(B, L, self.d_model)

    def attend(self, q, k, v, mask, scale=None):
        s = q @ k.transpose(-2, -1) / (scale or math.sqrt(self.d_k))
        if mask is not None:
            s = s.masked_fill(~mask, float("-inf"))
        w = s.softmax(-1)
        return w @ v, w


class MHASplitNoTranspose(_MHABase):
    def forward(self, query, key, value, mask=None):
        B, Lq, _ = query.shape
        q = self.w_q(query).reshape(B, self.h, Lq, self.d_k)
        k = self.w_k(key).reshape(B, self.h, key.shape[1], self.d_k)
        v = self.w_v(value).reshape(B, self.h, value.shape[1], self.d_k)
        out, w = self.attend(q, k, v, mask)
        return self.w_o(out.reshape(B, Lq, self.d_model)), w


class MHANoOutputProjection(_MHABase):
    def forward(self, query, key, value, mask=None):
        out, w = self.attend(self.split(self.w_q(query)), self.split(self.w_k(key)), self.split(self.w_v(value)), mask)
        return self.merge(out), w


class MHAAveragedWeights(_MHABase):
    def forward(self, query, key, value, mask=None):
        out, w = self.attend(self.split(self.w_q(query)), self.split(self.w_k(key)), self.split(self.w_v(value)), mask)
        return self.w_o(self.merge(out)), w.mean(dim=1)


class MHAKeyFromQuery(_MHABase):
    def forward(self, query, key, value, mask=None):
        out, w = self.attend(self.split(self.w_q(query)), self.split(self.w_k(query)), self.split(self.w_v(value)),
                             mask)
        return self.w_o(self.merge(out)), w


class MHAScaleDModel(_MHABase):
    def forward(self, query, key, value, mask=None):
        out, w = self.attend(self.split(self.w_q(query)), self.split(self.w_k(key)), self.split(self.w_v(value)), mask,
                             scale=math.sqrt(self.d_model))
        return self.w_o(self.merge(out)), w


class MHANoValueError(_MHABase):
    def __init__(self, d_model, num_heads):
        nn.Module.__init__(self)
        self.h, self.d_k, self.d_model = num_heads, d_model // num_heads, d_model
        self.w_q, self.w_k, self.w_v, self.w_o = (nn.Linear(d_model, d_model) for _ in range(4))

    def forward(self, query, key, value, mask=None):
        out, w = self.attend(self.split(self.w_q(query)), self.split(self.w_k(key)), self.split(self.w_v(value)), mask)
        return self.w_o(self.merge(out)), w


class MHATorchBuiltin(nn.Module):
    def __init__(self, d_model, num_heads):
        super().__init__()
        self.inner = nn.MultiheadAttention(d_model, num_heads, batch_first=True)

    def forward(self, query, key, value, mask=None):
        return self.inner(query, key, value, attn_mask=mask)


class MHAFunctionalBuiltin(_MHABase):
    def forward(self, query, key, value, mask=None):
        D = self.d_model
        out, w = F.multi_head_attention_forward(
            query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1), D, self.h,
            torch.cat([self.w_q.weight, self.w_k.weight, self.w_v.weight]),
            torch.cat([self.w_q.bias, self.w_k.bias, self.w_v.bias]), None, None, False, 0.0,
            self.w_o.weight, self.w_o.bias, average_attn_weights=False)
        return out.transpose(0, 1), w


class MHASubclassesReference(cs502_lib.MultiHeadAttention):
    pass


class MHAWrongNames(_MHABase):
    def __init__(self, d_model, num_heads):
        super().__init__(d_model, num_heads)
        self.out_proj = self.w_o
        del self.w_o

    def forward(self, query, key, value, mask=None):
        out, w = self.attend(self.split(self.w_q(query)), self.split(self.w_k(key)), self.split(self.w_v(value)), mask)
        return self.out_proj(self.merge(out)), w


from .mutants_layers import MUTANTS as _LAYER_MUTANTS  # noqa: E402  (positions, masks, layers)

MUTANTS = [
    ("check_rnn_cell", rnn_no_tanh, "no nonlinearity"),
    ("check_rnn_cell", rnn_no_recurrence, "no recurrence"),
    ("check_rnn_cell", rnn_sigmoid, "sigmoid instead of tanh"),
    ("check_rnn_cell", rnn_builtin_cell, "nn.RNNCell"),
    ("check_rnn_cell", rnn_functional_builtin, "rnn_tanh_cell"),
    ("check_rnn_cell", rnn_module_made_earlier, "nn.RNN"),
    ("check_rnn_cell", rnn_numpy, ".numpy()"),
    ("check_rnn_cell", rnn_returns_numpy, "NumPy array"),
    ("check_rnn_cell", rnn_list, "a list"),
    ("check_rnn_cell", rnn_detach, "no gradient reaches the input `h`"),
    ("check_rnn_cell", rnn_no_return, "missing `return`"),
    ("check_rnn_cell", rnn_swapped_weights, "x @ W_hh + h @ W_xh + b_h"),
    ("check_lstm_cell", lstm_gate_order_ifog, "gate order"),
    ("check_lstm_cell", lstm_g_sigmoid, "tanh vs sigmoid"),
    ("check_lstm_cell", lstm_no_tanh_on_cell, "tanh is missing"),
    ("check_lstm_cell", lstm_returns_h_only, "single tensor"),
    ("check_lstm_cell", lstm_builtin, "nn.LSTMCell"),
    ("check_lstm_cell", lstm_inplace_c, "in place"),
    ("check_scaled_dot_product_attention", sdpa_no_scale, "missing scaling"),
    ("check_scaled_dot_product_attention", sdpa_scale_dk, "divided by d_k"),
    ("check_scaled_dot_product_attention", sdpa_scale_dv, "sqrt(d_v)"),
    ("check_scaled_dot_product_attention", sdpa_softmax_dim, "softmax over the wrong dimension"),
    ("check_scaled_dot_product_attention", sdpa_mask_inverted, "mask polarity inverted"),
    ("check_scaled_dot_product_attention", sdpa_mask_ignored, "mask is ignored"),
    ("check_scaled_dot_product_attention", sdpa_mask_after_softmax, "after the softmax"),
    ("check_scaled_dot_product_attention", sdpa_key_from_query, "key is taken from the query"),
    ("check_scaled_dot_product_attention", sdpa_transposed_weights, "transposed"),
    ("check_scaled_dot_product_attention", sdpa_out_only, "single tensor"),
    ("check_scaled_dot_product_attention", sdpa_list, "returned a list"),
    ("check_scaled_dot_product_attention", sdpa_float64_no_cast, "float64"),
    ("check_scaled_dot_product_attention", sdpa_detach, "no gradient reaches the input `k`"),
    ("check_scaled_dot_product_attention", sdpa_inplace_scale, "in place"),
    ("check_scaled_dot_product_attention", sdpa_inplace_mask, "modified its input `mask` in place"),
    ("check_scaled_dot_product_attention", sdpa_cpu_tensor, "different devices"),
    ("check_scaled_dot_product_attention", sdpa_torch_builtin, "torch.nn.functional.scaled_dot_product_attention"),
    ("check_scaled_dot_product_attention", sdpa_library_reference, "cs502_lib's reference"),
    ("check_scaled_dot_product_attention", sdpa_imported_reference, "cs502_lib's reference"),
    ("check_scaled_dot_product_attention", sdpa_swallows_refusal, "scaled_dot_product_attention"),
    ("check_scaled_dot_product_attention", sdpa_nan, "nan"),
    ("check_scaled_dot_product_attention", sdpa_inplace_softmax, "computed at line"),
    ("check_scaled_dot_product_attention", sdpa_float_mask_arithmetic, "mask is a torch.bool tensor"),
    ("check_scaled_dot_product_attention", sdpa_infinite_loop, "took longer than 3 s"),
    ("check_scaled_dot_product_attention", sdpa_view_noncontiguous, "wrong values"),
    ("check_scaled_dot_product_attention", sdpa_assumes_batch_dim, "extra leading batch dimensions"),
    ("check_multi_head_attention", MHASplitNoTranspose, "without a transpose"),
    ("check_multi_head_attention", MHANoOutputProjection, "missing output projection"),
    ("check_multi_head_attention", MHAAveragedWeights, "averaged"),
    ("check_multi_head_attention", MHAKeyFromQuery, "key is taken from the query"),
    ("check_multi_head_attention", MHAScaleDModel, "sqrt(d_model)"),
    ("check_multi_head_attention", MHANoValueError, "missing ValueError"),
    ("check_multi_head_attention", MHATorchBuiltin, "nn.MultiheadAttention"),
    ("check_multi_head_attention", MHAFunctionalBuiltin, "multi_head_attention_forward"),
    ("check_multi_head_attention", MHASubclassesReference, "cs502_lib's reference MultiHeadAttention"),
    ("check_multi_head_attention", MHAWrongNames, "no parameter 'w_o.weight'"),
    *_LAYER_MUTANTS,
]
