"""What the load-time ONNX graph check costs: `python -m audioconcept.benchmarks.graph_check_cost`.

For every packaged bundle's graph: the check alone (read + parse, uncached), and `runtime.model.load` with the check
against without it, measured in one run, median of N. Writes reports/hostile-input/graph_check.json and
GRAPH_CHECK.md (included by docs/hostile-input.md).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from audioconcept.utils import atomic_write_json, atomic_write_text


def _median_ms(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def measure(repeats: int = 7) -> dict:
    import os
    import tempfile

    from audioconcept.runtime import backends, graph_check
    from audioconcept.runtime.model import load
    from audioconcept.runtime.registry import default_bundle, packaged_bundles

    rows = []
    default = Path(default_bundle()).name
    for name, root in sorted(packaged_bundles().items()):
        for f in sorted(Path(root).glob("*.onnx")):
            data_ms = _median_ms(lambda f=f: graph_check.graph_problems(f.read_bytes()), repeats)
            rows.append({"bundle": name, "file": f.name, "mb": round(f.stat().st_size / 1e6, 2), "check_ms": data_ms})
    loads = {}
    real = backends.check_graph
    old_cache = os.environ.get("AUDIOCONCEPT_CACHE")
    warm_cache = tempfile.mkdtemp(prefix="graph-check-warm-")

    def timed(name: str, variant: str) -> float:
        graph_check._checked.cache_clear()
        with tempfile.TemporaryDirectory() as cold_cache:
            os.environ["AUDIOCONCEPT_CACHE"] = cold_cache if variant == "first" else warm_cache
            if variant == "none":
                backends.check_graph = lambda *a, **k: None
            try:
                t = time.perf_counter()
                load(name, device="cpu")
                return (time.perf_counter() - t) * 1e3
            finally:
                backends.check_graph = real

    try:
        for name in sorted(packaged_bundles()):
            timed(name, "later")  # writes the verdict the "later" runs find, and warms the file cache
            got: dict[str, list[float]] = {"first": [], "later": [], "none": []}
            order = list(got)
            for i in range(repeats):  # rotated, so no variant always runs first
                for variant in order[i % 3 :] + order[: i % 3]:
                    got[variant].append(timed(name, variant))
            loads[name] = {
                "load_first_ms": statistics.median(got["first"]),
                "load_later_ms": statistics.median(got["later"]),
                "load_without_check_ms": statistics.median(got["none"]),
            }
    finally:
        if old_cache is None:
            os.environ.pop("AUDIOCONCEPT_CACHE", None)
        else:
            os.environ["AUDIOCONCEPT_CACHE"] = old_cache
        import shutil

        shutil.rmtree(warm_cache, ignore_errors=True)
    return {"default": default, "repeats": repeats, "graphs": rows, "loads": loads}


def markdown(res: dict) -> str:
    lines = [
        "| bundle | graph | MB | check alone (ms) | load, first time (ms) | load, later (ms) | load, no check (ms) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in res["graphs"]:
        ld = res["loads"][r["bundle"]]
        star = " (default)" if r["bundle"] == res["default"] else ""
        lines.append(
            f"| {r['bundle']}{star} | {r['file']} | {r['mb']:.1f} | {r['check_ms']:.1f} | {ld['load_first_ms']:.0f} | "
            f"{ld['load_later_ms']:.0f} | {ld['load_without_check_ms']:.0f} |"
        )
    lines.append("")
    lines.append(
        f"Median of {res['repeats']} runs in one process (`python -m audioconcept.benchmarks.graph_check_cost`). "
        "Check alone: reading and parsing the file. Load, first time: `runtime.model.load` when this graph has never "
        "been checked (it is parsed); later: its verdict is on disk (a marker per verified sha256 under the cache "
        "folder), so only a stat is paid; no check: the same load with the check removed. The load runs the CPU "
        "backend; the bundle's sha256 verification is in all three."
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("reports/hostile-input"))
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    res = measure(args.repeats)
    atomic_write_json(args.out / "graph_check.json", res)
    atomic_write_text(args.out / "GRAPH_CHECK.md", markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
