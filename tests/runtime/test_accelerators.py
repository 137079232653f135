"""CUDA and Core ML prediction where this host has them: the same real clip through the accelerator and through
the CPU's ONNX path must give the same genres and concepts. Elsewhere each test skips with the runtime's own
reason (`backends.unavailable_reason`); on this project's CPU machines they skip, and the CUDA paths were run on a
lent GPU host with tools/device/gpu_checks.py."""

from __future__ import annotations

import numpy as np
import pytest

from audioconcept.runtime.backends import unavailable_reason
from audioconcept.runtime.bundle import open_bundle
from audioconcept.runtime.formats import get_format
from audioconcept.runtime.registry import resolve_bundle


def _runs_here(backend: str, device: str, name: str):
    """A skip mark with the runtime's reason when this host cannot run the row (decided at collection, so a
    skipped test builds none of its fixtures)."""
    why = unavailable_reason(get_format(backend), device, open_bundle(resolve_bundle(name)))
    return pytest.mark.skipif(bool(why), reason=f"--backend {backend} --device {device}: {why}")


def _agree(a, b, tol: float) -> None:
    assert [g for g, _ in a.genres] == [g for g, _ in b.genres]
    assert len(a.windows) == len(b.windows)
    for wa, wb in zip(a.windows, b.windows, strict=True):
        pa = np.array([wa.probabilities[k] for k in sorted(wa.probabilities)])
        pb = np.array([wb.probabilities[k] for k in sorted(wa.probabilities)])
        assert np.abs(pa - pb).max() <= tol
        for c, s in wa.concepts.items():
            assert abs(s - wb.concepts[c]) <= tol, c


@_runs_here("onnx", "cuda", "cnn-synth")
@pytest.mark.parametrize("name", ["musicnn-gtzan", "cnn-synth"])
def test_cuda_predicts_what_the_cpu_predicts(name, real_excerpt):
    from audioconcept.runtime.model import load

    bundle = resolve_bundle(name)
    gpu = load(bundle, backend="onnx", device="cuda")
    assert gpu.backend.device == "cuda"
    assert "CUDAExecutionProvider" in gpu.backend.session.get_providers(), "fell back to the CPU"
    cpu = load(bundle, backend="onnx", device="cpu")
    _agree(gpu.predict(real_excerpt), cpu.predict(real_excerpt), tol=1e-3)


@_runs_here("coreml", "cpu", "cnn-synth")
def test_coreml_predicts_what_onnx_predicts(tmp_path, cnn_checkpoint, real_excerpt):
    """The CNN through the Core ML row (fp16 body: the LOSSY gate's tolerance) against its ONNX graph."""
    from audioconcept.export.exporter import ExportConfig, export_checkpoint
    from audioconcept.runtime.model import load

    pytest.importorskip("coremltools")
    out = export_checkpoint(ExportConfig(cnn_checkpoint, tmp_path / "cnn", ("onnx", "coreml"), n_parity=2))
    coreml = load(out, backend="coreml", device="cpu").predict(real_excerpt)
    onnx = load(out, backend="onnx", device="cpu").predict(real_excerpt)
    _agree(coreml, onnx, tol=2e-2)


@_runs_here("onnx", "ane", "musicnn-gtzan")
def test_ane_runs_the_coreml_graph_through_onnxruntime(real_excerpt):
    """--device ane: model.coreml.onnx under onnxruntime's CoreML execution provider (macOS only)."""
    from audioconcept.runtime.model import load

    bundle = resolve_bundle("musicnn-gtzan")
    ane = load(bundle, backend="onnx", device="ane")
    assert "CoreMLExecutionProvider" in ane.backend.session.get_providers()
    _agree(ane.predict(real_excerpt), load(bundle, backend="onnx", device="cpu").predict(real_excerpt), tol=2e-2)
