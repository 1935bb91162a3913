"""The pretraining benchmark says 'skipped' (and still times ours) when transformers is absent."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_bench_pretrain_without_transformers_prints_a_skipped_row():
    code = (
        "import sys; sys.modules['transformers'] = None\n"  # makes `import transformers` fail
        "import torch; torch.set_num_threads(1)\n"
        "from benchmarks import bench_pretrain\n"
        "[r] = bench_pretrain.run()\n"
        "print(r.target); print(r.met, r.ours > 0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "skipped: transformers not installed (pip install -e '.[bench]')" in out.stdout
    assert "True True" in out.stdout
