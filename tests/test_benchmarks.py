"""The benchmark harness runs and reports (speed targets live in `make bench`, not in tests)."""

import subprocess
import sys


def test_benchmark_table_lists_the_mha_entry():
    out = subprocess.run([sys.executable, "-m", "benchmarks", "bench_mha"], capture_output=True, text=True, timeout=300)
    assert "MultiHeadAttention fwd+bwd" in out.stdout, out.stderr
    assert "ours / torch <= 1.15" in out.stdout
