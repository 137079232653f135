"""Inference backends over one bundle, chosen by the row of `runtime.formats` they run.

onnxruntime and CoreML never import torch; the torch rows live in `runtime.torch_backend` (train extra), and the
executorch row in `runtime.executorch_backend` (executorch extra, whose Python runtime imports torch).
"""

from __future__ import annotations

import logging
import os
import platform

import numpy as np

from audioconcept.errors import BackendUnavailable, BundleError
from audioconcept.runtime.bundle import Bundle
from audioconcept.runtime.formats import DEVICES, Format, formats_for, get_format, kind_of
from audioconcept.runtime.graph_check import check_graph
from audioconcept.runtime.outputs import Outputs
from audioconcept.runtime.threads import plan_threads

log = logging.getLogger(__name__)


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
        # onnxruntime's default exhaustive cuDNN search: the heuristic one did not shorten the cold start (1.29 s
        # against 1.31 s) and doubled the CNN's batch-16 latency on an H200 (benchmarks/results/h200-20261126)
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


# onnxruntime's CPU memory for all sessions of this process: a graph that computes a huge shape while it runs (which
# graph_check cannot bound) fails with one line instead of taking the host's memory. Our largest model at batch 64
# needs a few hundred MB; AUDIOCONCEPT_ORT_MAX_MEMORY_MB raises the cap.
DEFAULT_ORT_MAX_MEMORY_MB = 2048
_ARENA: list[int] = []  # the cap registered in this process, in bytes (onnxruntime takes one per process)


def ort_memory_cap() -> int:
    """Bytes onnxruntime may hold on the CPU (AUDIOCONCEPT_ORT_MAX_MEMORY_MB, default 2048)."""
    raw = os.environ.get("AUDIOCONCEPT_ORT_MAX_MEMORY_MB", "")
    try:
        mb = float(raw) if raw else DEFAULT_ORT_MAX_MEMORY_MB
    except ValueError:
        mb = DEFAULT_ORT_MAX_MEMORY_MB
    return int(max(64.0, mb) * 1024 * 1024)


def cap_session_memory(so) -> None:
    """Make the session allocate from one process-wide CPU arena capped at `ort_memory_cap()` (registered on first
    use); where this onnxruntime cannot, the session keeps its own arena and a debug line says so."""
    ort = _ort()
    if not _ARENA:
        try:
            mem = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
            # kSameAsRequested (1): grow by what is asked, so the cap is reached only by what is really needed
            ort.create_and_register_allocator(
                mem, ort.OrtArenaCfg({"max_mem": ort_memory_cap(), "arena_extend_strategy": 1})
            )
            _ARENA.append(ort_memory_cap())
        except Exception as e:  # noqa: BLE001 - an onnxruntime without shared allocators: no cap
            log.debug("onnxruntime memory cap unavailable (%s)", e)
            return
    so.add_session_config_entry("session.use_env_allocators", "1")


def over_memory_cap(e: Exception) -> bool:
    return "bfc_arena" in str(e) and "Available memory" in str(e)


class OnnxBackend:
    """onnxruntime. On the CPU the numpy front end feeds the body graph (faster than the in-graph
    Conv1d STFT); on CUDA and the Neural Engine the whole waveform graph runs in one piece."""

    def __init__(
        self,
        bundle: Bundle,
        fmt: Format,
        device: str = "auto",
        threads: int = 0,
        full_graph: bool | None = None,
        fixed_batch: int | None = None,
    ) -> None:
        ort = _ort()
        providers, self.device = onnx_providers(device)
        self.name = fmt.backend
        self.input_kind = fmt.input
        key = fmt.artifact
        if kind_of(bundle.manifest) == "sklearn":
            self.input_kind = "features"
        elif self.device == "ane" and fmt.ane_artifact and bundle.has(fmt.ane_artifact):
            key = fmt.ane_artifact
        elif (
            fmt.mel_artifact
            and not full_graph
            and (full_graph is not None or self.device == "cpu" or not bundle.has(fmt.artifact))
            and bundle.has(fmt.mel_artifact)
            and bundle.manifest.get("runtime_frontend", "numpy") == "numpy"
        ):
            # on the CPU the numpy front end feeds the body graph (faster than the in-graph Conv1d STFT); a bundle
            # that ships only the body, like the packaged musicnn-gtzan, takes this path everywhere
            key = fmt.mel_artifact
            self.input_kind = "mel"
        path = bundle.artifact(key)
        so = ort.SessionOptions()
        self.threads = plan_threads(threads, self.input_kind == "mel")
        if self.device == "cpu":
            so.intra_op_num_threads = self.threads.intra_op
            so.add_session_config_entry("session.intra_op.allow_spinning", "1" if self.threads.spinning else "0")
        so.inter_op_num_threads = 1
        # a bundle may ask for less memory at equal speed (musicnn: no NCHWc layout, no memory pattern)
        hints = bundle.manifest.get("runtime_hints") or {}
        so.graph_optimization_level = getattr(
            ort.GraphOptimizationLevel, f"ORT_ENABLE_{hints.get('graph_optimization', 'all').upper()}"
        )
        so.enable_mem_pattern = bool(hints.get("mem_pattern", True))
        # The CoreML provider takes only static shapes: fix the batch axis to 1 on that path, so the
        # graph stays in one piece (the export checked this; see the manifest's parity.coreml_ep).
        if fixed_batch is None:
            fixed_batch = 1 if self.device == "ane" else 0
        self.fixed_batch = fixed_batch if self.input_kind != "features" else 0
        if self.fixed_batch:
            so.add_free_dimension_override_by_name("batch", self.fixed_batch)
            ep = bundle.manifest.get("parity", {}).get("coreml_ep")
            if fmt.ane_artifact and key != fmt.ane_artifact:
                log.warning(
                    "%s has no model.coreml.onnx (exported before it existed); the CoreML provider takes "
                    "model.onnx in pieces",
                    bundle.root,
                )
            elif ep and not ep.get("one_piece"):
                log.warning(
                    "%s splits into %s partitions under the CoreML provider; expect CPU fallbacks",
                    path.name,
                    ep.get("partitions"),
                )
        if self.device == "cpu":
            cap_session_memory(so)
        sha = bundle.manifest["artifacts"][key]["sha256"] if key in bundle.verified else None
        check_graph(path, str(path), sha)
        self.session = ort.InferenceSession(str(path), so, providers=providers)
        # IO binding (input copied to the GPU once, outputs kept there until one copy back) measured 10 % slower
        # than session.run on an H200 for these one-graph models (9.4 against 8.7 ms at batch 16,
        # benchmarks/results/h200-20261126): the input comes from the host and every output goes back to it, so
        # there is nothing to keep on the GPU. AUDIOCONCEPT_CUDA_IO_BINDING=1 turns it on.
        self.io_binding = self.device == "cuda" and os.environ.get("AUDIOCONCEPT_CUDA_IO_BINDING") == "1"
        self.artifact = key
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        if self.device == "cuda" and "CUDAExecutionProvider" not in self.session.get_providers():
            raise BackendUnavailable(
                "--device cuda: onnxruntime could not start the CUDA provider (driver or CUDA libraries missing)"
            )

    def _run_cuda(self, feed: np.ndarray) -> list[np.ndarray]:
        """IO binding: the batch is copied to the GPU once, outputs stay there until one copy back."""
        ort = _ort()
        binding = self.session.io_binding()
        binding.bind_ortvalue_input(self.input_name, ort.OrtValue.ortvalue_from_numpy(feed, "cuda", 0))
        for name in self.output_names:
            binding.bind_output(name, "cuda")
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()

    def _session_run(self, feed: np.ndarray) -> list[np.ndarray]:
        if self.io_binding:
            return self._run_cuda(np.ascontiguousarray(feed))
        if not self.fixed_batch or len(feed) == self.fixed_batch:
            return self.session.run(None, {self.input_name: feed})
        parts = [self.session.run(None, {self.input_name: feed[i : i + 1]}) for i in range(len(feed))]
        return [np.concatenate(p) for p in zip(*parts, strict=True)]

    def run(self, x: np.ndarray) -> Outputs:
        feed = x.astype(np.float64 if self.input_kind == "features" else np.float32, copy=False)
        try:
            got = self._session_run(feed)
        except Exception as e:
            if over_memory_cap(e):
                raise BundleError(
                    f"{self.artifact}: the model asked for more than {ort_memory_cap() >> 20} MB while it ran "
                    "(AUDIOCONCEPT_ORT_MAX_MEMORY_MB raises the cap)"
                ) from None
            raise
        res = dict(zip(self.output_names, got, strict=True))
        if self.input_kind == "features":
            p = np.asarray(res["probabilities"], dtype=np.float64)
            return Outputs(np.log(np.clip(p, 1e-12, None)), p)
        return Outputs(
            res["logits"], res["probabilities"], res.get("embedding"), res.get("concepts"), res.get("concept_frames")
        )


def unavailable_reason(fmt: Format, device: str, bundle: Bundle) -> str:
    """Why this row cannot run `bundle` on `device` here ('' when it can), without loading anything."""
    import importlib.util

    kind = kind_of(bundle.manifest)
    if kind not in fmt.kinds:
        return f"{bundle.arch} bundles do not run on --backend {fmt.backend}"
    if device != "auto" and device not in fmt.devices:
        return f"--backend {fmt.backend} runs on {', '.join(fmt.devices)}"
    if fmt.engine == "onnxruntime":
        prov = _ort().get_available_providers()
        if device == "cuda" and "CUDAExecutionProvider" not in prov:
            return "no CUDAExecutionProvider (needs onnxruntime-gpu and an NVIDIA GPU)"
        if device == "ane" and "CoreMLExecutionProvider" not in prov:
            return "no CoreMLExecutionProvider (macOS only)"
    elif fmt.engine == "coreml" and platform.system() != "Darwin":
        return "CoreML prediction needs macOS"
    elif fmt.engine == "executorch" and importlib.util.find_spec("executorch") is None:
        return f"executorch is not installed (pip install 'audioconcept[{fmt.extra}]')"
    if fmt.apple_only and platform.system() != "Darwin":
        return f"{fmt.file} runs on macOS and iOS only (this host: {platform.system()})"
    elif fmt.engine == "torch":
        if importlib.util.find_spec("torch") is None:
            return f"torch is not installed (pip install 'audioconcept[{fmt.extra}]')"
        if device == "cuda":
            from audioconcept.runtime.torch_backend import cuda_unavailable_reason

            if why := cuda_unavailable_reason():
                return why
    if not bundle.has(fmt.artifact) and not any(bundle.has(k) for k, _ in fmt.aux):
        return (bundle.manifest.get("skipped") or {}).get(fmt.export or "", f"no {fmt.file} in this bundle")
    return ""


def make_backend(bundle: Bundle, backend: str = "onnx", device: str = "auto", threads: int = 0):
    """The backend of the formats-table row `backend`, after checking the row supports this model and device."""
    fmt = get_format(backend)
    if device not in DEVICES:
        raise BackendUnavailable(f"unknown device {device!r}; choose from {', '.join(DEVICES)}")
    kind = kind_of(bundle.manifest)
    if kind not in fmt.kinds:
        ok = ", ".join(f.backend for f in formats_for(kind))
        raise BackendUnavailable(f"{bundle.arch} bundles run on --backend {ok} (asked for {backend})")
    if device != "auto" and device not in fmt.devices:
        raise BackendUnavailable(f"--backend {backend} runs on {', '.join(fmt.devices)}, not {device}")
    if fmt.engine == "onnxruntime":
        return OnnxBackend(bundle, fmt, device, threads=threads)
    if fmt.engine == "coreml":
        from audioconcept.runtime.coreml_backend import CoreMLBackend

        return CoreMLBackend(bundle, device)
    if fmt.engine == "executorch":
        from audioconcept.runtime.executorch_backend import ExecuTorchBackend

        return ExecuTorchBackend(bundle, fmt, device, threads)
    from audioconcept.runtime.torch_backend import TorchBackend

    return TorchBackend(bundle, fmt, device, threads)


__all__ = ["DEVICES", "Outputs", "make_backend", "unavailable_reason"]
