"""DNABERT-mini pretraining throughput against Hugging Face's BertForMaskedLM of the same size, on the CPU.

One training step = forward, masked-LM loss, backward and an AdamW step, on the same
span-masked batch of 6-mer ids (B windows of L tokens). Both models have the same
encoder size (4 layers, d_model 128, 4 heads, feed-forward 512, 512 positions, no
dropout); ours is the committed checkpoint's configuration (compositional embedding +
residual convolution + factorized per-base head), theirs the standard BERT (one
embedding per k-mer, a 4**k + 5-way softmax tied to the embedding). A second row,
for information, times the encoders alone (ours without the convolution).

``transformers`` is an optional extra (``pip install -e '.[bench]'``); without it the
comparison rows say "skipped".
"""

from __future__ import annotations

import statistics
import time

import torch

from cs502_lib.bio import KmerTokenizer, span_mask
from cs502_lib.dnabert.model import DNABertConfig, DNABertForMaskedLM, DNABertModel, masked_lm_loss

from ._timing import Result, compare

B, L, K = 32, 128, 6
D, LAYERS, HEADS, FF = 128, 4, 4, 512
TARGET = 1.0
SKIP = "skipped: transformers not installed (pip install -e '.[bench]')"


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    codes = torch.randint(0, 4, (B, L - 2 + K - 1), generator=g)
    body = KmerTokenizer(K).kmer_ids(codes)
    ids = torch.cat([torch.full((B, 1), 2), body, torch.full((B, 1), 3)], 1)
    return span_mask(ids, K, 0.15, generator=g)


def _hf_config():
    from transformers import BertConfig

    return BertConfig(
        vocab_size=4**K + 5, hidden_size=D, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
        intermediate_size=FF, max_position_embeddings=512, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, pad_token_id=0, attn_implementation="sdpa",
    )


def run() -> list[Result]:
    torch.manual_seed(0)
    masked, labels = _batch()
    config = DNABertConfig(k=K, d_model=D, num_layers=LAYERS, num_heads=HEADS, d_ff=FF, conv_kernel=13, sinusoidal_init=True)
    ours = DNABertForMaskedLM(config)
    opt_ours = torch.optim.AdamW(ours.parameters(), lr=1e-4)

    def step_ours():
        loss = masked_lm_loss(ours(masked), labels)
        opt_ours.zero_grad(set_to_none=True)
        loss.backward()
        opt_ours.step()

    name = f"DNABERT-mini pretraining step (B={B}, L={L}, d={D}, {LAYERS} layers)"
    try:
        import transformers  # noqa: F401
    except ImportError:
        step_ours()  # warm-up
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            step_ours()
            times.append(time.perf_counter() - t0)
        t = statistics.median(times)
        return [Result(name=name, ours=t, baseline=float("nan"), baseline_name="skipped", target=SKIP, met=True,
                       detail=f"ours {B * L / t:,.0f} tokens/s; {SKIP}")]

    from transformers import BertForMaskedLM, BertModel

    ref = BertForMaskedLM(_hf_config())
    opt_ref = torch.optim.AdamW(ref.parameters(), lr=1e-4)

    def step_ref():
        loss = ref(input_ids=masked, labels=labels).loss
        opt_ref.zero_grad(set_to_none=True)
        loss.backward()
        opt_ref.step()

    t_ours, t_ref = compare(step_ours, step_ref, repeats=7)

    enc_ours = DNABertModel(DNABertConfig(k=K, d_model=D, num_layers=LAYERS, num_heads=HEADS, d_ff=FF))
    enc_ref = BertModel(_hf_config(), add_pooling_layer=False)

    def fb_ours():
        enc_ours(masked).sum().backward()

    def fb_ref():
        enc_ref(input_ids=masked).last_hidden_state.sum().backward()

    e_ours, e_ref = compare(fb_ours, fb_ref, repeats=7)
    n_ours = sum(p.numel() for p in ours.parameters())
    n_ref = sum(p.numel() for p in ref.parameters())
    return [
        Result(
            name=name, ours=t_ours, baseline=t_ref, baseline_name="transformers BertForMaskedLM",
            target=f"ours / HF <= {TARGET}", met=t_ours / t_ref <= TARGET,
            detail=f"ours {B * L / t_ours:,.0f} tokens/s ({n_ours:,} params), "
                   f"HF BertForMaskedLM {B * L / t_ref:,.0f} tokens/s ({n_ref:,} params)",
        ),
        Result(
            name="  encoders only, fwd+bwd (ours without the convolution)", ours=e_ours, baseline=e_ref,
            baseline_name="transformers BertModel", target="information only", met=True,
        ),
    ]
