"""Run every benchmark and print one table: ``python -m benchmarks [name ...]``."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import torch

import benchmarks


def main(argv: list[str]) -> int:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    header = f"{'benchmark':<62} {'ours':>10} {'baseline':>10} {'ratio':>7}  {'target':<24} met"
    print(header)
    print("-" * len(header))
    all_met = True
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        results = module.run()
        for r in results if isinstance(results, list) else [results]:
            all_met &= r.met
            print(f"{r.name:<62} {r.ours:>9.4g}{r.unit} {r.baseline:>9.4g}{r.unit} {r.ratio:>7.3f}  {r.target:<24} {'yes' if r.met else 'NO'}")
            if r.detail:
                print(f"    {r.detail}")
    print("\nbaselines: measured in the same run, interleaved; medians of the repetitions")
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
