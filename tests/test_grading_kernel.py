"""The grader inside a real Jupyter kernel: the time limit stops a loop and the kernel lives on."""

import nbformat
import pytest

nbclient = pytest.importorskip("nbclient")


@pytest.mark.slow
def test_time_limit_in_a_jupyter_kernel_and_the_kernel_survives():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import torch\nfrom cs502_lib.grading import GradingError, check_causal_mask, check_rnn_cell"),
        nbformat.v4.new_code_cell("def rnn_cell(x, h, W_xh, W_hh, b_h):\n    while True:\n        pass\n"),
        nbformat.v4.new_code_cell(
            "try:\n    check_rnn_cell(rnn_cell, time_limit=1)\nexcept GradingError as e:\n    print(e)"),
        nbformat.v4.new_code_cell(
            "def causal_mask(n, device=None):\n    return torch.ones(n, n, dtype=torch.bool, device=device).tril()\n"
            "check_causal_mask(causal_mask)"),
    ]
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    stopped = "".join(o.get("text", "") for o in nb.cells[2].outputs)
    assert "took longer than 1 s" in stopped
    assert "line 2 of your notebook cell (in rnn_cell):  while True:" in stopped
    shown = nb.cells[3].outputs[0]["data"]
    assert "check_causal_mask passed" in shown["text/html"]
