"""MultiHeadAttention (ours) against torch.nn.MultiheadAttention: forward + backward on the CPU.

The target applies to torch's default call (which, like ours, computes the
attention weights). A second row, for information, compares with torch's
``need_weights=False`` call, which dispatches to a fused attention kernel.
"""

from __future__ import annotations

import torch
from torch import nn

from cs502_lib import MultiHeadAttention

from ._timing import Result, compare

B, L, D, H = 32, 128, 256, 8
TARGET = 1.15


def run() -> list[Result]:
    torch.manual_seed(0)
    ours = MultiHeadAttention(D, H)
    ref = nn.MultiheadAttention(D, H, batch_first=True)
    x = torch.randn(B, L, D, requires_grad=True)

    def step_ours():
        out, _ = ours(x, x, x)
        out.sum().backward()

    def step_ref():
        out, _ = ref(x, x, x)
        out.sum().backward()

    def step_ref_fused():
        out, _ = ref(x, x, x, need_weights=False)
        out.sum().backward()

    t_ours, t_ref = compare(step_ours, step_ref, repeats=9)
    t_ours2, t_fused = compare(step_ours, step_ref_fused, repeats=9)
    return [
        Result(
            name=f"MultiHeadAttention fwd+bwd (B={B}, L={L}, d={D}, h={H})",
            ours=t_ours, baseline=t_ref, baseline_name="nn.MultiheadAttention",
            target=f"ours / torch <= {TARGET}", met=t_ours / t_ref <= TARGET,
        ),
        Result(
            name="  same, torch with need_weights=False (fused kernel)",
            ours=t_ours2, baseline=t_fused, baseline_name="nn.MultiheadAttention fused",
            target="information only", met=True,
        ),
    ]
