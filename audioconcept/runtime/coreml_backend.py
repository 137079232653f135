"""The CoreML row of the formats table: `.mlpackage` prediction through coremltools (macOS; `coreml` extra)."""

from __future__ import annotations

import platform

import numpy as np

from audioconcept.errors import BackendUnavailable, MissingExtra
from audioconcept.runtime.bundle import Bundle
from audioconcept.runtime.outputs import Outputs

COMPUTE_UNITS = {"cpu": "CPU_ONLY", "ane": "CPU_AND_NE", "auto": "ALL"}


class CoreMLBackend:
    name = "coreml"
    input_kind = "waveform"

    def __init__(self, bundle: Bundle, device: str = "auto") -> None:
        if platform.system() != "Darwin":
            raise BackendUnavailable(
                f"--backend coreml needs macOS (this host runs {platform.system()}); use --backend onnx"
            )
        try:
            import coremltools as ct
        except ImportError:
            raise MissingExtra("coremltools", "coreml", "--backend coreml") from None
        if device == "cuda":
            raise BackendUnavailable("--backend coreml runs on cpu, ane or auto, not cuda")
        units = getattr(ct.ComputeUnit, COMPUTE_UNITS[device])
        self.device = device
        self.artifact = "coreml"
        self.model = ct.models.MLModel(str(bundle.artifact("coreml")), compute_units=units)
        self.output_names = [o["name"] for o in bundle.manifest["outputs"]]

    def run(self, x: np.ndarray) -> Outputs:
        res = self.model.predict({"waveform": x.astype(np.float32)})
        return Outputs(
            *(
                np.asarray(res[n]) if n in res else None
                for n in ("logits", "probabilities", "embedding", "concepts", "concept_frames")
            )
        )


def coreml_predict(path, x: np.ndarray, units: str = "ALL") -> np.ndarray:
    import coremltools as ct

    m = ct.models.MLModel(str(path), compute_units=getattr(ct.ComputeUnit, units))
    return np.concatenate([np.asarray(m.predict({"waveform": x[i : i + 1]})["logits"]) for i in range(len(x))])
