"""Rebuild the small bundles shipped inside the package (`make bundles`).

cnn-synth: the CNN trained on the synthetic set, ONNX only, with its concept head.
svm-gtzan: the SVM trained on the real GTZAN features table, through skl2onnx.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from audioconcept.export.exporter import ExportConfig, export_checkpoint
from audioconcept.utils import atomic_dir, atomic_write_json

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "runtime" / "bundles"
KEEP = {"cnn-synth": ("onnx", "onnx_body"), "svm-gtzan": ("onnx", "shapley_background")}
TRAINED_ON = {
    "cnn-synth": "AudioConcept synthetic genres (synth, seed 0, 30 clips x 10 genres)",
    "svm-gtzan": "GTZAN features_30_sec.csv (real music, 1000 tracks)",
}
DESCRIPTIONS = {
    "cnn-synth": "short-chunk CNN trained on AudioConcept's synthetic genres (numpy renderer, 30 clips per genre); "
    "it knows synthetic timbres, not real recordings",
    "svm-gtzan": "StandardScaler + PowerTransformer + calibrated RBF SVC on the 57 features of the real GTZAN "
    "features_30_sec.csv (80/20 split, random_state 42); the runtime computes the features with numpy",
}


def package(name: str, checkpoint: Path, data: str | None = None) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        fmts = ("onnx",)
        src = export_checkpoint(ExportConfig(checkpoint, Path(tmp) / name, fmts, data=data, name=name))
        m = json.loads((src / "manifest.json").read_text())
        keep = KEEP[name]
        m["artifacts"] = {k: v for k, v in m["artifacts"].items() if k in keep}
        m["description"] = DESCRIPTIONS[name]
        m["trained_on"] = TRAINED_ON[name]
        m["source_checkpoint"]["path"] = f"(not shipped) {Path(m['source_checkpoint']['path']).name}"
        with atomic_dir(PACKAGE_DIR / name, marker="manifest.json") as out:
            for art in m["artifacts"].values():
                shutil.copy2(src / art["file"], out / art["file"])
            shutil.copy2(src / "README.md", out / "README.md")
            atomic_write_json(out / "manifest.json", m)
    return PACKAGE_DIR / name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cnn", type=Path)
    ap.add_argument("--svm-gtzan", type=Path)
    ap.add_argument("--data", default=None, help="parity audio for the CNN (default: its training data)")
    a = ap.parse_args()
    if a.cnn:
        print(package("cnn-synth", a.cnn, a.data))
    if a.svm_gtzan:
        print(package("svm-gtzan", a.svm_gtzan))


if __name__ == "__main__":
    main()
