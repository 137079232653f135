"""Full-width VGGish (VGG16 on a 224x224 mel image, 134 M parameters) through the project's int8 quantiser,
timed as the runtime runs it on the CPU: numpy front end + body, fp32 against int8, alternating, medians.

The weights are untrained (no full-width checkpoint ships; speed does not depend on them), so agreement is not
measured here; `audioconcept export --formats onnx,int8` measures it on a trained model. Usage:

    .venv/bin/python tools/int8/vggish_full_width.py [--threads 2] [--rounds 15] [--work /tmp/vggish-int8]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from audioconcept.export.quantize import quantize_with_fallback
from audioconcept.models.frontend_config import MelConfig
from audioconcept.models.vggish import VGGish, VGGishConfig
from audioconcept.runtime.frontend import NumpyMelFrontEnd

WINDOW_S = 3.96


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--work", type=Path, default=Path("/tmp/vggish-int8"))
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    mel_cfg = MelConfig()
    fe = NumpyMelFrontEnd(mel_cfg.to_dict())
    rng = np.random.default_rng(0)
    window = int(round(WINDOW_S * mel_cfg.sample_rate))
    audio = (rng.standard_normal((17, window)) * 0.1).astype(np.float32)
    mels = fe(audio)
    fp32, int8 = a.work / "body.onnx", a.work / "body.int8.onnx"
    if not fp32.exists():
        torch.manual_seed(0)
        body = VGGish(VGGishConfig(width=1.0)).eval()
        prog = torch.onnx.export(
            body,
            (torch.from_numpy(mels[:1]),),
            dynamo=True,
            opset_version=18,
            input_names=["mel"],
            output_names=["logits"],
            dynamic_shapes={"mel": {0: torch.export.Dim("batch")}},
        )
        prog.save(str(fp32))
    if not int8.exists():  # every layer int8 (agreement 1.0 stops the fp32 fallback at its first step)
        quantize_with_fallback(fp32, int8, mels[:16], lambda _: 1.0, 0.99)

    def session(path: Path):
        so = ort.SessionOptions()
        so.intra_op_num_threads = a.threads
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        return lambda: s.run(None, {"mel": fe(audio[16:])})

    runs = {"fp32": session(fp32), "int8": session(int8)}
    times: dict[str, list[float]] = {k: [] for k in runs}
    for i in range(a.rounds + 2):
        for k, fn in runs.items() if i % 2 else reversed(runs.items()):
            t = time.perf_counter()
            fn()
            if i >= 2:
                times[k].append(time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(20):
        fe(audio[16:])
    fe_ms = (time.perf_counter() - t) / 20 * 1e3
    out = {k: round(float(np.median(v)) * 1e3, 2) for k, v in times.items()}
    print(json.dumps({"threads": a.threads, "end_to_end_ms": out, "front_end_ms": round(fe_ms, 2)}, indent=2))


if __name__ == "__main__":
    main()
