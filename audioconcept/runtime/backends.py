"""Inference backends over one bundle. onnx and coreml never import torch."""

from __future__ import annotations

import logging
import platform
from dataclasses import dataclass

import numpy as np

from audioconcept.errors import BackendUnavailable, MissingExtra
from audioconcept.runtime.bundle import Bundle, open_bundle

log = logging.getLogger(__name__)

BACKENDS = ("onnx", "onnx-int8", "coreml", "torchscript", "pt2", "torch")
DEVICES = ("auto", "cpu", "cuda", "ane")
COMPUTE_UNITS = {"cpu": "CPU_ONLY", "ane": "CPU_AND_NE", "auto": "ALL", "cuda": None}


@dataclass
class Outputs:
    logits: np.ndarray  # (B, C); for the SVM, log-probabilities
    probabilities: np.ndarray  # (B, C)
    embedding: np.ndarray | None = None
    concepts: np.ndarray | None = None  # (B, K)
    concept_frames: np.ndarray | None = None  # (B, K, T)


def _ort():
    import onnxruntime as ort

    return ort


def onnx_providers(device: str) -> tuple[list, str]:
    """-> (providers, resolved device)."""
    ort = _ort()
    avail = ort.get_available_providers()
    if device == "auto":
        if "CUDAExecutionProvider" in avail:
            device = "cuda"
        elif "CoreMLExecutionProvider" in avail and platform.system() == "Darwin":
            device = "ane"
        else:
            device = "cpu"
        log.debug("--device auto: using %s (onnxruntime providers: %s)", device, ", ".join(avail))
    if device == "cuda":
        if "CUDAExecutionProvider" not in avail:
            raise BackendUnavailable(
                "--device cuda: onnxruntime has no CUDAExecutionProvider here; install onnxruntime-gpu in its own "
                "environment: pip uninstall onnxruntime && pip install onnxruntime-gpu (the two share one folder)"
            )
        return ["CUDAExecutionProvider", "CPUExecutionProvider"], "cuda"
    if device == "ane":
        if "CoreMLExecutionProvider" not in avail:
            raise BackendUnavailable(
                f"--device ane: onnxruntime's CoreMLExecutionProvider needs macOS (this host: {platform.system()})"
            )
        return [
            ("CoreMLExecutionProvider", {"MLComputeUnits": "CPUAndNeuralEngine", "ModelFormat": "MLProgram"}),
            "CPUExecutionProvider",
        ], "ane"
    if device != "cpu":
        raise BackendUnavailable(f"--device {device}: choose one of {', '.join(DEVICES)}")
    return ["CPUExecutionProvider"], "cpu"


class OnnxBackend:
    """onnxruntime. On the CPU the numpy front end feeds the body graph (faster than the in-graph
    Conv1d STFT); on CUDA and the Neural Engine the whole waveform graph runs in one piece."""

    def __init__(
        self,
        bundle: Bundle,
        device: str = "auto",
        int8: bool = False,
        threads: int = 0,
        full_graph: bool | None = None,
        fixed_batch: int | None = None,
    ) -> None:
        ort = _ort()
        providers, self.device = onnx_providers(device)
        self.name = "onnx-int8" if int8 else "onnx"
        self.input_kind = "waveform"
        if bundle.arch == "svm":
            key = "onnx"
            self.input_kind = "features"
        elif int8:
            key = "onnx_int8"
        elif (
            full_graph
            or (full_graph is None and self.device != "cpu")
            or not bundle.has("onnx_body")
            or bundle.manifest.get("runtime_frontend", "numpy") != "numpy"
        ):
            key = "onnx"
        else:
            key = "onnx_body"
            self.input_kind = "mel"
        path = bundle.artifact(key)
        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # The CoreML provider takes only static shapes: fix the batch axis to 1 on that path, so the
        # graph stays in one piece (the export checked this; see the manifest's parity.coreml_ep).
        if fixed_batch is None:
            fixed_batch = 1 if self.device == "ane" else 0
        self.fixed_batch = fixed_batch if self.input_kind != "features" else 0
        if self.fixed_batch:
            so.add_free_dimension_override_by_name("batch", self.fixed_batch)
            ep = bundle.manifest.get("parity", {}).get("coreml_ep")
            if ep and not ep.get("one_piece"):
                log.warning(
                    "%s splits into %s partitions under the CoreML provider; expect CPU fallbacks",
                    path.name,
                    ep.get("partitions"),
                )
        self.session = ort.InferenceSession(str(path), so, providers=providers)
        self.artifact = key
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        if self.device == "cuda" and "CUDAExecutionProvider" not in self.session.get_providers():
            raise BackendUnavailable(
                "--device cuda: onnxruntime could not start the CUDA provider (driver or CUDA libraries missing)"
            )

    def _session_run(self, feed: np.ndarray) -> list[np.ndarray]:
        if not self.fixed_batch or len(feed) == self.fixed_batch:
            return self.session.run(None, {self.input_name: feed})
        parts = [self.session.run(None, {self.input_name: feed[i : i + 1]}) for i in range(len(feed))]
        return [np.concatenate(p) for p in zip(*parts, strict=True)]

    def run(self, x: np.ndarray) -> Outputs:
        feed = x.astype(np.float64 if self.input_kind == "features" else np.float32, copy=False)
        res = dict(zip(self.output_names, self._session_run(feed), strict=True))
        if self.input_kind == "features":
            p = np.asarray(res["probabilities"], dtype=np.float64)
            return Outputs(np.log(np.clip(p, 1e-12, None)), p)
        return Outputs(
            res["logits"], res["probabilities"], res.get("embedding"), res.get("concepts"), res.get("concept_frames")
        )


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


class TorchBackend:
    """torchscript / pt2 / torch (eager, rebuilt from the pt2 weights). Needs the `train` extra."""

    input_kind = "waveform"

    def __init__(self, bundle: Bundle, kind: str, device: str = "auto") -> None:
        try:
            import torch
        except ImportError:
            raise MissingExtra("torch", "train", f"--backend {kind}") from None
        self.torch = torch
        self.name = kind
        if device in ("auto", "cuda") and torch.cuda.is_available():
            self.device = "cuda"
        elif device == "cuda":
            raise BackendUnavailable("--device cuda: this torch build sees no CUDA GPU")
        elif device == "ane":
            raise BackendUnavailable(f"--backend {kind} cannot use the Neural Engine; use --backend coreml or onnx")
        else:
            self.device = "cpu"
        if kind == "torchscript":
            self.module = torch.jit.load(str(bundle.artifact("torchscript")), map_location=self.device)
        elif kind == "pt2":
            self.module = torch.export.load(str(bundle.artifact("pt2"))).module().to(self.device)
        else:
            self.module = _eager_from_pt2(bundle).to(self.device)
        self.output_names = [o["name"] for o in bundle.manifest["outputs"]]

    def run(self, x: np.ndarray) -> Outputs:
        with self.torch.inference_mode():
            out = self.module(self.torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device))
        arrs = [o.float().cpu().numpy() for o in out]
        return Outputs(*arrs)


def _eager_from_pt2(bundle: Bundle):
    """Eager model (torch.stft front end) with the weights held in the bundle's .pt2 program."""
    import torch

    from audioconcept.concepts.head import head_from_manifest
    from audioconcept.export.wrapper import BodyOutputs, WaveformOutputs
    from audioconcept.models.frontend import MelFrontEnd
    from audioconcept.models.frontend_config import MelConfig
    from audioconcept.models.registry import build_body

    m = bundle.manifest
    body = build_body(m["arch"], len(m["labels"]), **(m.get("arch_config") or {}))
    head = head_from_manifest(m) if m.get("concepts") else None
    module = WaveformOutputs(MelFrontEnd(MelConfig.from_dict(m["frontend"]), "stft"), BodyOutputs(body, head))
    prog = torch.export.load(str(bundle.artifact("pt2")))
    state = {k: v for k, v in prog.state_dict.items()}
    missing, unexpected = module.load_state_dict(state, strict=False)
    if [k for k in missing if not k.startswith("frontend.")] or unexpected:
        raise BackendUnavailable(f"--backend torch: weights in model.pt2 do not fit ({missing[:3]} {unexpected[:3]})")
    return module.eval()


def make_backend(bundle: Bundle, backend: str = "onnx", device: str = "auto", threads: int = 0):
    if backend not in BACKENDS:
        raise BackendUnavailable(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if device not in DEVICES:
        raise BackendUnavailable(f"unknown device {device!r}; choose from {', '.join(DEVICES)}")
    if bundle.arch == "svm" and backend not in ("onnx",):
        raise BackendUnavailable(f"SVM bundles run on --backend onnx only (asked for {backend})")
    if backend in ("onnx", "onnx-int8"):
        return OnnxBackend(bundle, device, int8=backend == "onnx-int8", threads=threads)
    if backend == "coreml":
        return CoreMLBackend(bundle, device)
    return TorchBackend(bundle, backend, device)


def artifacts_for(backend: str, arch: str) -> tuple[str, ...]:
    """Which artifacts a backend reads (only those are hash-checked before loading)."""
    if arch == "svm":
        return ("onnx",)
    return {
        "onnx": ("onnx", "onnx_body"),
        "onnx-int8": ("onnx_int8",),
        "coreml": ("coreml",),
        "torchscript": ("torchscript",),
        "pt2": ("pt2",),
        "torch": ("pt2",),
    }[backend]


__all__ = ["BACKENDS", "DEVICES", "Outputs", "make_backend", "open_bundle", "artifacts_for", "coreml_predict"]
