"""`audioconcept bench` without the typer CLI (the GPU host's image may lack its version):

python tools/device/bench.py OUT.json BUNDLE... [--threads 1,2,4,8,16] [--batch 1,16] [--backends onnx,torch]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from audioconcept.benchmarks.harness import BenchConfig, run_bench


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("bundles", nargs="+", type=Path)
    ap.add_argument("--threads", default="1,2,4,8,16")
    ap.add_argument("--batch", default="1,16")
    ap.add_argument("--backends")
    ap.add_argument("--repeats", type=int, default=15)
    a = ap.parse_args()
    cfg = BenchConfig(
        tuple(a.bundles),
        tuple(a.backends.split(",")) if a.backends else None,
        tuple(int(t) for t in a.threads.split(",")),
        tuple(int(b) for b in a.batch.split(",")),
        warmup=3,
        repeats=a.repeats,
        eval_windows=16,
        out=a.out,
    )
    run_bench(cfg)
    print(f"results: {a.out}")


if __name__ == "__main__":
    main()
