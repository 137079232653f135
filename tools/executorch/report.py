"""What the ExecuTorch row costs and what its gate measured, written as JSON plus Markdown tables for
docs/executorch.md (figures are never typed into prose):

- import cost of each way to reach ExecuTorch's runtime from Python, in fresh processes (median of --repeats):
  modules loaded, seconds, and whether torch came with it; onnxruntime (the base runtime) beside it;
- the parity gate of each bundle given (from its manifest): clips, max |dlogit|, top-1, concept outputs, what
  XNNPACK took and what the portable kernels run, and the .pte's size against model.body.onnx.

Usage: .venv/bin/python tools/executorch/report.py models/cnn models/vggish models/musicnn-gtzan \\
           [--out reports/executorch] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from audioconcept.utils import atomic_write_json, atomic_write_text

IMPORTS = {
    "onnxruntime (base runtime)": "import onnxruntime",
    "torch alone": "import torch",
    "executorch's compiled runtime (what --backend executorch loads)": (
        "import torch; from executorch.extension.pybindings import _C"
    ),
    "executorch.runtime (the public Python API)": "from executorch.runtime import Runtime",
}


def import_cost(stmt: str, repeats: int) -> dict:
    code = (
        "import sys, time, warnings, logging; warnings.simplefilter('ignore'); logging.disable(logging.WARNING)\n"
        f"n0 = len(sys.modules); t = time.perf_counter(); {stmt}\n"
        "print(time.perf_counter() - t, len(sys.modules) - n0, 'torch' in sys.modules)"
    )
    runs = []
    for _ in range(repeats):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            return {"error": r.stderr.strip().splitlines()[-1:]}
        s, n, torch_loaded = r.stdout.split()[-3:]
        runs.append((float(s), int(n), torch_loaded == "True"))
    return {
        "seconds_median": round(float(np.median([s for s, _, _ in runs])), 3),
        "modules": runs[-1][1],
        "imports_torch": runs[-1][2],
        "repeats": repeats,
    }


def gate_row(bundle: Path) -> dict:
    m = json.loads((bundle / "manifest.json").read_text())
    g = m["parity"].get("executorch")
    art = m["artifacts"].get("executorch")
    if not g or not art:
        return {"model": m["name"], "arch": m["arch"], "status": m.get("skipped", {}).get("executorch", "not exported")}
    low = art["lowering"]
    body = m["artifacts"].get("onnx_body", {}).get("size_bytes")
    return {
        "model": m["name"],
        "arch": m["arch"],
        "n_clips": g["n_clips"],
        "data": m.get("parity_data") or m.get("trained_on"),
        "max_abs_logit_diff": g["max_abs_logit_diff"],
        "top1_agreement": g["top1_agreement"],
        "concepts_max_abs_diff": (g.get("concepts") or {}).get("max_abs_diff"),
        "concept_frames_max_abs_diff": (g.get("concepts") or {}).get("frames_max_abs_diff"),
        "passed": g["passed"],
        "delegated_subgraphs": low["delegated_subgraphs"],
        "delegated_ops": low["delegated_ops"],
        "portable_ops": low["portable_ops"],
        "batch": low["batch"],
        "pte_mb": round(art["size_bytes"] / 1e6, 3),
        "body_onnx_mb": round(body / 1e6, 3) if body else None,
        "executorch": m["versions"].get("executorch"),
    }


def _e(v) -> str:
    return "-" if v is None else f"{v:.1e}"


def markdown_gate(rows: list[dict]) -> str:
    lines = [
        "| model | clips | max \\|Δlogit\\| | top-1 | concepts max \\|Δ\\| | concept frames max \\|Δ\\| | gate | "
        "XNNPACK subgraphs | portable kernels | .pte MB | model.body.onnx MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "n_clips" not in r:
            lines.append(f"| {r['model']} | | | | | | {r['status']} | | | | |")
            continue
        portable = ", ".join(f"{k} x{v}" for k, v in r["portable_ops"].items()) or "none"
        body = "-" if r["body_onnx_mb"] is None else f"{r['body_onnx_mb']:.2f}"
        lines.append(
            f"| {r['model']} ({r['arch']}) | {r['n_clips']} | {_e(r['max_abs_logit_diff'])} | "
            f"{r['top1_agreement']:.3f} | {_e(r['concepts_max_abs_diff'])} | {_e(r['concept_frames_max_abs_diff'])} | "
            f"{'passed' if r['passed'] else 'FAILED'} | {r['delegated_subgraphs']} | {portable} | {r['pte_mb']:.2f} | "
            f"{body} |"
        )
    return "\n".join(lines) + "\n"


def markdown_imports(rows: dict) -> str:
    lines = ["| what is imported | seconds (median) | modules loaded | imports torch |", "|---|---|---|---|"]
    for name, r in rows.items():
        if "error" in r:
            lines.append(f"| {name} | error: {r['error']} | | |")
        else:
            lines.append(
                f"| {name} | {r['seconds_median']:.2f} | {r['modules']} | {'yes' if r['imports_torch'] else 'no'} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundles", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=Path("reports/executorch"))
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    from audioconcept.benchmarks.hostinfo import host_info

    imports = {name: import_cost(stmt, a.repeats) for name, stmt in IMPORTS.items()}
    gates = [gate_row(b) for b in a.bundles]
    a.out.mkdir(parents=True, exist_ok=True)
    host = host_info()
    atomic_write_json(a.out / "executorch.json", {"host": host, "imports": imports, "gates": gates})
    atomic_write_text(a.out / "GATE.md", markdown_gate(gates))
    atomic_write_text(a.out / "IMPORT.md", markdown_imports(imports))
    print((a.out / "GATE.md").read_text() + "\n" + (a.out / "IMPORT.md").read_text())


if __name__ == "__main__":
    main()
