"""CPU latency per window against threads, for every way of running one bundle (diagnostics for issue 17).

    python tools/device/cpu_threads.py BUNDLE --threads 1,2,4,8,16 --out result.json

Each family (onnxruntime, torch) runs in its own process, so that one library's idle threads never spin
while the other is timed. Medians of `--repeats` calls after warm-up, batch 1.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from timing import median_ms  # noqa: E402


def onnx_family(bundle: Path, threads: int, warmup: int, repeats: int) -> dict:
    import onnxruntime as ort

    from audioconcept.runtime.frontend import NumpyMelFrontEnd

    m = json.loads((bundle / "manifest.json").read_text())
    x = (np.random.default_rng(0).standard_normal((1, m["window_samples"])) * 0.1).astype(np.float32)

    def session(name: str, spin: bool) -> ort.InferenceSession:
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        return ort.InferenceSession(str(bundle / name), so, providers=["CPUExecutionProvider"])

    fe_t = NumpyMelFrontEnd(m["frontend"], threads)
    fe_1 = NumpyMelFrontEnd(m["frontend"], 1)
    mel = fe_1(x)
    out: dict[str, float] = {}
    for spin in (False, True):
        body = session("model.body.onnx", spin)
        tag = "spin" if spin else "nospin"
        out[f"body_only_{tag}"] = median_ms(lambda b=body: b.run(["logits"], {"mel": mel}), warmup, repeats)
        out[f"onnx_numpyfe_{tag}"] = median_ms(lambda b=body: b.run(["logits"], {"mel": fe_t(x)}), warmup, repeats)
        out[f"onnx_numpyfe1_{tag}"] = median_ms(lambda b=body: b.run(["logits"], {"mel": fe_1(x)}), warmup, repeats)
    out["frontend_only"] = median_ms(lambda: fe_t(x), warmup, repeats)
    out["frontend_only_1thread"] = median_ms(lambda: fe_1(x), warmup, repeats)
    for name, key in (("model.onnx", "onnx_full_graph"), ("model.plain.onnx", "plain_full_graph")):
        if (bundle / name).exists():
            s = session(name, True)
            out[key] = median_ms(lambda s=s: s.run(["logits"], {"waveform": x}), warmup, repeats)
    return out


def torch_family(bundle: Path, threads: int, warmup: int, repeats: int) -> dict:
    import torch

    from audioconcept.runtime.bundle import open_bundle
    from audioconcept.runtime.torch_backend import eager_from_pt2

    torch.set_num_threads(threads)
    b = open_bundle(bundle, verify=())
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((1, b.manifest["window_samples"])) * 0.1).float()
    eager = eager_from_pt2(b)
    prog = torch.export.load(str(bundle / "model.pt2")).module()
    out = {}
    with torch.inference_mode():
        out["torch_eager"] = median_ms(lambda: eager(x), warmup, repeats)
        out["pt2"] = median_ms(lambda: prog(x), warmup, repeats)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--threads", default="1,2,4,8,16")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--family")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    counts = [int(t) for t in a.threads.split(",")]
    if a.family:  # child process: one family, every thread count
        fn = onnx_family if a.family == "onnx" else torch_family
        print(json.dumps({t: fn(a.bundle, t, a.warmup, a.repeats) for t in counts}))
        return
    res: dict = {"bundle": str(a.bundle), "threads": counts}
    import os

    for family, env in (("onnx", {}), ("onnx_blas1", {"OPENBLAS_NUM_THREADS": "1"}), ("torch", {})):
        r = subprocess.run(
            [
                sys.executable,
                __file__,
                str(a.bundle),
                "--threads",
                a.threads,
                "--family",
                family.split("_")[0],
                "--warmup",
                str(a.warmup),
                "--repeats",
                str(a.repeats),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
        )
        if r.returncode:
            res[family] = {"error": r.stderr.strip().splitlines()[-1:]}
        else:
            res[family] = json.loads(r.stdout.strip().splitlines()[-1])
    text = json.dumps(res, indent=1)
    print(text)
    if a.out:
        a.out.write_text(text)


if __name__ == "__main__":
    main()
