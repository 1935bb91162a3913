"""The clean-verdict machinery: the wire format, the worker process and its limits, the proxies, the verdicts."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import nbformat
import pytest
import torch

from cs502_lib.grading import GradingError, check_causal_mask, check_multi_head_attention, check_padding_mask
from cs502_lib.grading import check_scaled_dot_product_attention, check_transcribe, registry, wire
from cs502_lib.grading.hidden import run_hidden
from cs502_lib.grading.remote import Worker
from cs502_lib.grading.scan import scan_source
from cs502_lib.grading.verdict import clean_verdict

ROOT = Path(__file__).resolve().parents[1]
SETUP = "import math\nimport torch\nimport torch.nn.functional as F\nfrom torch import nn\nimport cs502_lib\n"

SDPA = '''
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights
'''


def _worker(*cells: tuple[str, str], **kwargs) -> Worker:
    w = Worker(SETUP, [(n, textwrap.dedent(s)) for n, s in cells], **kwargs)
    w.start()
    return w


# --------------------------------------------------------------------------- wire


def _round_trip(value):
    enc = wire.Encoder(exact=True)
    header = enc.encode(value)
    return wire.decode(json.loads(json.dumps(header)), b"".join(enc.blobs))


def test_wire_round_trip_keeps_values_types_and_layout():
    t = torch.randn(2, 4, 5).transpose(1, 2)
    value = (t, [1, 2.5, float("nan"), "x", None, True], {"a": torch.arange(3)}, torch.device("meta"), torch.bfloat16)
    back = _round_trip(value)
    assert isinstance(back, tuple) and isinstance(back[1], list) and isinstance(back[2], dict)
    assert torch.equal(back[0], t) and back[0].stride() == t.stride()
    assert back[1][:2] == [1, 2.5] and back[1][2] != back[1][2] and back[1][3:] == ["x", None, True]
    assert torch.equal(back[2]["a"], torch.arange(3)) and back[3] == torch.device("meta") and back[4] is torch.bfloat16
    meta = _round_trip(torch.empty(3, 2, device="meta"))
    assert meta.device.type == "meta" and meta.shape == (3, 2)


def test_wire_turns_subclasses_into_plain_values():
    class Liar(str):
        def __eq__(self, other):
            return True

    class LyingTensor(torch.Tensor):
        pass

    back = _round_trip((Liar("AUG"), torch.ones(2).as_subclass(LyingTensor)))
    assert type(back[0]) is str and back[0] != "anything else"
    assert type(back[1]) is torch.Tensor


def test_wire_refuses_what_it_cannot_carry_and_malformed_messages():
    with pytest.raises(wire.WireError):
        wire.Encoder().encode(object())
    with pytest.raises(wire.WireError):
        wire.decode({"t": {"dtype": "float32", "shape": [4], "b": [0, 3]}}, b"abc")
    with pytest.raises(wire.WireError):
        wire.decode({"pickle": "..."}, b"")


# --------------------------------------------------------------------------- the worker and its proxies


def test_a_check_decides_in_the_grader_on_code_that_runs_in_the_worker():
    with _worker(("scaled_dot_product_attention", SDPA)) as w:
        w.item = "scaled_dot_product_attention"
        report = check_scaled_dot_product_attention(w.proxy("scaled_dot_product_attention"))
        assert report.cases > 10 and "meta" in ",".join(report.devices)
        assert run_hidden("scaled_dot_product_attention", w.proxy("scaled_dot_product_attention")).cases >= 3


def test_the_messages_are_the_checks_own_and_name_the_students_line():
    wrong = SDPA.replace(" / math.sqrt(q.shape[-1])", "")
    with _worker(("scaled_dot_product_attention", wrong)) as w:
        w.item = "scaled_dot_product_attention"
        with pytest.raises(GradingError, match="sqrt"):
            check_scaled_dot_product_attention(w.proxy("scaled_dot_product_attention"))
    broken = SDPA.replace("weights @ v, weights", "weights @ v.T, weights")
    with _worker(("scaled_dot_product_attention", broken)) as w:
        w.item = "scaled_dot_product_attention"
        with pytest.raises(GradingError, match=r"line 7 of your cell `scaled_dot_product_attention`"):
            check_scaled_dot_product_attention(w.proxy("scaled_dot_product_attention"))


MHA = '''
class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, num_heads):
        super().__init__()
        if d_model % num_heads:
            raise ValueError("d_model must be divisible by num_heads")
        self.h, self.d_k = num_heads, d_model // num_heads
        self.w_q, self.w_k, self.w_v, self.w_o = (nn.Linear(d_model, d_model) for _ in range(4))

    def forward(self, query, key, value, mask=None):
        B = query.shape[0]
        split = lambda x: x.reshape(B, x.shape[1], self.h, self.d_k).transpose(1, 2)
        out, w = cs502_lib.scaled_dot_product_attention(split(self.w_q(query)), split(self.w_k(key)),
                                                         split(self.w_v(value)), mask)
        return self.w_o(out.transpose(1, 2).reshape(B, query.shape[1], -1)), w
'''


def test_a_class_is_built_loaded_and_backpropagated_in_the_worker():
    with _worker(("MultiHeadAttention", MHA)) as w:
        w.item = "MultiHeadAttention"
        assert check_multi_head_attention(w.proxy("MultiHeadAttention")).cases > 10
        assert run_hidden("MultiHeadAttention", w.proxy("MultiHeadAttention")).cases >= 2
    no_grad = MHA.replace("return self.w_o(out", "return self.w_o(out.detach()")
    with _worker(("MultiHeadAttention", no_grad)) as w:
        w.item = "MultiHeadAttention"
        with pytest.raises(GradingError, match="gradient"):
            check_multi_head_attention(w.proxy("MultiHeadAttention"))


def test_an_endless_loop_is_stopped_and_the_worker_serves_on():
    loop = '''
    def causal_mask(n, device=None):
        while True:
            pass
    '''
    with _worker(("causal_mask", loop)) as w:
        w.item = "causal_mask"
        start = time.perf_counter()
        with pytest.raises(GradingError, match="longer than 1 s"):
            check_causal_mask(w.proxy("causal_mask"), time_limit=1)
        assert time.perf_counter() - start < 15


def test_a_loop_that_blocks_the_alarm_is_killed_from_outside():
    stubborn = '''
    import signal
    def causal_mask(n, device=None):
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        while True:
            pass
    '''
    with _worker(("causal_mask", stubborn)) as w:
        w.item = "causal_mask"
        with pytest.raises(GradingError, match="longer than 1 s"):
            check_causal_mask(w.proxy("causal_mask"), time_limit=1)
        assert not w.alive()  # killed; the next request starts a fresh worker
        assert w.proxy("causal_mask") is not None and w.alive()


def test_ending_the_process_or_exhausting_memory_is_a_failure_not_a_crash():
    exits = '''
    def causal_mask(n, device=None):
        import os
        os._exit(3)
    '''
    with _worker(("causal_mask", exits)) as w:
        w.item = "causal_mask"
        with pytest.raises(GradingError, match="process running your code ended"):
            check_causal_mask(w.proxy("causal_mask"))
    hungry = '''
    def causal_mask(n, device=None):
        blocks = []
        while True:
            blocks.append(bytearray(50_000_000))
    '''
    with _worker(("causal_mask", hungry), memory_mb=600) as w:
        w.item = "causal_mask"
        with pytest.raises(GradingError, match="more than 600 MB"):
            check_causal_mask(w.proxy("causal_mask"), time_limit=20)


def test_output_is_capped_and_a_cell_that_ends_the_process_is_left_out():
    noisy = 'print("x" * 10_000_000)\n' + SDPA
    killer = "import os\nos._exit(1)\n"
    with _worker(("scaled_dot_product_attention", noisy), ("padding_mask", killer), output_cap=1000) as w:
        outcomes = {r["name"]: r for r in w.cell_results}
        assert outcomes["padding_mask"]["error"]["kind"] == "crash"
        assert outcomes["scaled_dot_product_attention"]["status"] == "ok"
        w.item = "scaled_dot_product_attention"
        check_scaled_dot_product_attention(w.proxy("scaled_dot_product_attention"), device="cpu")
        assert len(w.output) <= 1000
        assert w.proxy("padding_mask") is None


def test_delegation_is_refused_in_the_worker():
    delegate = '''
    def scaled_dot_product_attention(q, k, v, mask=None):
        w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), -1)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask), w
    '''
    with _worker(("scaled_dot_product_attention", delegate)) as w:
        w.item = "scaled_dot_product_attention"
        with pytest.raises(GradingError, match="scaled_dot_product_attention"):
            run_hidden("scaled_dot_product_attention", w.proxy("scaled_dot_product_attention"))


def test_strings_and_exceptions_come_back_as_plain_values():
    liar = '''
    class _Yes(str):
        def __eq__(self, other):
            return True
        __hash__ = str.__hash__
    def transcribe(template):
        if set(template.upper()) - set("ACGT"):
            raise ValueError("not DNA")
        return _Yes("nonsense")
    '''
    with _worker(("transcribe", liar)) as w:
        w.item = "transcribe"
        with pytest.raises(GradingError, match="wrong result"):
            check_transcribe(w.proxy("transcribe"))


# --------------------------------------------------------------------------- registry, scan, verdicts


def test_the_registry_matches_the_notebooks_and_every_item_has_hidden_tests():
    for it in registry.ITEMS:
        assert callable(it.check_object()) and callable(it.hidden_suite()), it.name
    for assignment in registry.ASSIGNMENTS:
        nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
        points = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"].get("points")
                  for c in nb.cells if "nbgrader" in c.metadata}
        for it in registry.items(assignment):
            assert it.name in points and points[it.test_cell] == it.points and points[it.hidden_cell] == it.hidden_points
            assert callable(it.reference_object())


def test_the_scan_is_silent_on_honest_solutions_and_flags_reaching_around():
    for assignment in registry.ASSIGNMENTS:
        nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
                assert scan_source(cell.source, gid) == [], (assignment, gid)
    flagged = scan_source('fn = getattr(F, "scaled_dot_" + "product_attention")\nimport sys\nsys.modules["x"] = 1\n'
                          'torch.allclose = None\nexec("1")\nget_ipython().input_transformers_cleanup.append(f)\n',
                          "scaled_dot_product_attention")
    text = "\n".join(flagged)
    for needle in ("getattr", "'scaled_dot_product_attention' from strings", "imports sys", "sys.modules",
                   "assigns into the module torch", "exec", "get_ipython"):
        assert needle in text, needle


def test_a_verdict_of_a_notebook_file(tmp_path):
    release = ROOT / "exercises" / "positions_masks" / "positions_masks.ipynb"
    nb = nbformat.read(ROOT / "solutions" / "positions_masks" / "positions_masks.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "padding_mask":
            cell.source = cell.source.replace("<", "<=")
    path = tmp_path / "sub.ipynb"
    nbformat.write(nb, path)
    verdict = clean_verdict(path, "positions_masks", release)
    got = {gid: c.points for gid, c in verdict.cells.items()}
    items = registry.items("positions_masks")
    want = {gid: (0.0 if it.name == "padding_mask" else float(p)) for it in items for gid, p in it.cells.items()}
    assert got == want
    assert "Most likely cause: off by one" in verdict.cells["test_padding_mask"].message  # the check's own message
    (tmp_path / "bad.ipynb").write_text("{not json")
    assert "not a notebook" in clean_verdict(tmp_path / "bad.ipynb", "positions_masks", release).ungradable
