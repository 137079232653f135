"""`train --device cuda` on a small synthetic set: it runs, and a fixed epoch count is never cut short.

python tools/device/train_smoke.py OUT.json
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from audioconcept.data.synth.generate import SynthConfig, generate_genres
from audioconcept.train.config import AugmentConfig, TrainConfig
from audioconcept.train.loop import train_torch


def main() -> None:
    out = Path(sys.argv[1])
    data = Path("/tmp/smoke-synth")
    if not (data / "ground_truth.json").exists():
        generate_genres(SynthConfig(data, clips_per_genre=4, seconds=30.0, seed=0, workers=8))
    res = {}
    for device in ("cuda", "cpu"):
        t = time.perf_counter()
        cfg = TrainConfig(
            model="cnn",
            data=f"synth:{data}",
            out=Path(f"/tmp/smoke-ck-{device}"),
            epochs=6,
            batch_size=8,
            lr=3e-3,
            device=device,
            patience=0,
            augment=AugmentConfig(enabled=False),
        )
        _, run = train_torch(cfg)
        res[device] = {
            "seconds": round(time.perf_counter() - t, 1),
            "epochs_run": len(run.get("history", [])),
            "best_epoch": run.get("best_epoch"),
            "test_accuracy": (run.get("test") or {}).get("accuracy"),
            "device": run.get("device"),
        }
        print(device, res[device], flush=True)
    out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
