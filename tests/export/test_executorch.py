"""The ExecuTorch row: model.pte is written only through its parity gate, says what XNNPACK took and what the
portable kernels run, and loads and runs in the host's ExecuTorch runtime (the OperatorMissing trap)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from audioconcept.errors import ExportError

pytestmark = pytest.mark.slow  # each lowering takes seconds


def test_cnn_pte_passes_its_gate_and_records_the_lowering(cnn_pte_bundle):
    m = json.loads((cnn_pte_bundle / "manifest.json").read_text())
    art = m["artifacts"]["executorch"]
    assert art["file"] == "model.pte" and art["input"] == "mel" and art["precision"] == "fp32"
    low = art["lowering"]
    assert low["delegates"] == ["XnnpackBackend"] and low["delegated_subgraphs"] >= 1
    assert low["delegated_ops"]["aten_convolution_default"] == 5  # every convolution runs in XNNPACK
    assert set(low["portable_ops"]) <= {"aten_mean_dim", "aten_unsqueeze_copy_default", "aten_amax_default"}
    assert low["batch"]["dynamic"] and low["batch"]["min"] == 1 and 8 <= low["batch"]["max"] <= 16
    gate = m["parity"]["executorch"]
    assert gate["passed"] and gate["max_abs_logit_diff"] <= 1e-4 and gate["top1_agreement"] == 1.0


def test_pte_loads_and_runs_every_batch_size(cnn_pte_bundle):
    """Loading resolves every kernel and delegate; batches 1 and 3 (within the bound) give the body's numbers."""
    from audioconcept.export.executorch_export import run_pte
    from audioconcept.runtime.backends import OnnxBackend
    from audioconcept.runtime.bundle import open_bundle
    from audioconcept.runtime.formats import get_format

    b = open_bundle(cnn_pte_bundle)
    onnx = OnnxBackend(b, get_format("onnx"), "cpu", full_graph=False)
    mel = np.random.default_rng(0).normal(-40, 20, (15, *b.manifest["inputs"]["mel"]["shape"][1:])).astype(np.float32)
    want = onnx.run(mel)
    for batch in (1, 3, b.manifest["artifacts"]["executorch"]["lowering"]["batch"]["max"]):
        got = run_pte(cnn_pte_bundle / "model.pte", mel, batch=batch)
        assert np.abs(got[0] - want.logits).max() < 1e-4
        assert np.abs(got[2] - want.embedding).max() < 1e-4


def test_a_kernel_the_runtime_lacks_stops_the_export(tmp_path, monkeypatch):
    """An op with no ExecuTorch kernel on this host (here: every op, as if none were registered) is an export
    error before anything is written, not an OperatorMissing at load time on a phone."""
    import audioconcept.runtime.executorch_backend as eb
    from audioconcept.export.executorch_export import write_pte

    class Mean(torch.nn.Module):
        def forward(self, x):
            return x.mean(-1)

    monkeypatch.setattr(eb, "registered_kernels", lambda: set())
    with pytest.raises(ExportError, match=r"would not load: no ExecuTorch kernel for aten::mean\.out"):
        write_pte(Mean(), torch.zeros(2, 4, 8), tmp_path / "m.pte")
    assert not (tmp_path / "m.pte").exists()


def test_the_mel_split_keeps_the_fft_out_of_the_program(cnn_pte_bundle):
    """A waveform graph would call _fft_r2c, which device builds with the portable ops lack (pytorch/executorch
    #1362); the program the row writes takes the mel, so it calls no FFT kernel."""
    from audioconcept.export.executorch_export import lower_xnnpack

    class Spec(torch.nn.Module):
        def forward(self, x):
            return torch.view_as_real(torch.fft.rfft(x)).pow(2).sum(-1)

    assert "aten::_fft_r2c.out" in lower_xnnpack(Spec(), torch.zeros(2, 4, 64)).report["kernels_called"]
    m = json.loads((cnn_pte_bundle / "manifest.json").read_text())
    assert not any("fft" in k for k in m["artifacts"]["executorch"]["lowering"]["kernels_called"])


def test_probe_pte_passes_the_gate_on_real_clips(real_probe_pte_bundle):
    """The default model's kind: musicnn taggers + genre heads; logits and concept (tag) outputs gated."""
    m = json.loads((real_probe_pte_bundle / "manifest.json").read_text())
    gate = m["parity"]["executorch"]
    assert gate["passed"] and gate["max_abs_logit_diff"] <= 1e-4 and gate["top1_agreement"] == 1.0
    assert gate["n_clips"] >= 8
    assert gate["concepts"]["max_abs_diff"] <= 1e-4 and gate["concepts"]["frames_max_abs_diff"] <= 1e-3
    assert m["artifacts"]["executorch"]["lowering"]["delegated_ops"]


def test_coreml_delegate_lowers_and_its_spec_is_checked(tmp_path, cnn_checkpoint, executorch_installed):
    """The Core ML delegate lowers on Linux: one Core ML partition, fp16, batch 1, iOS 16 spec. Its numbers can
    only be checked where the runtime has the delegate (Apple), and the manifest says so."""
    import platform

    pytest.importorskip("coremltools")
    from audioconcept.export.exporter import ExportConfig, export_checkpoint
    from audioconcept.runtime.backends import unavailable_reason
    from audioconcept.runtime.bundle import open_bundle
    from audioconcept.runtime.formats import get_format

    out = export_checkpoint(ExportConfig(cnn_checkpoint, tmp_path / "b", ("executorch-coreml",), n_parity=2))
    m = json.loads((out / "manifest.json").read_text())
    art = m["artifacts"]["executorch_coreml"]
    low = art["lowering"]
    assert art["file"] == "model.coreml.pte" and art["delegate"] == "CoreMLBackend"
    assert low["delegates"] == ["CoreMLBackend"] and low["delegated_subgraphs"] == 1 and not low["portable_ops"]
    spec = low["coreml_spec"]
    n_mels, frames = m["inputs"]["mel"]["shape"][1:]
    assert spec["inputs"][0]["shape"] == [1, n_mels, frames] and len(spec["outputs"]) == 3 and spec["has_fp16_ops"]
    if platform.system() != "Darwin":
        assert (
            art["numerically_verified"] is False and m["parity"]["executorch_coreml"]["numerically_verified"] is False
        )
        assert "macOS and iOS only" in unavailable_reason(get_format("executorch-coreml"), "ane", open_bundle(out))


def test_cpp_program_runs_the_pte_without_torch(tmp_path, cnn_pte_bundle):
    """tools/executorch/run_pte.cpp: built against the wheel's headers and libraries only (what an app links), it loads
    model.pte and prints the logits the ONNX body gives for the same mel; the binary links no libtorch."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    if shutil.which("g++") is None:
        pytest.skip("g++ is not installed")
    tools = Path(__file__).resolve().parents[2] / "tools" / "executorch"
    exe = tmp_path / "run_pte"
    subprocess.run(
        [str(tools / "build.sh"), str(exe)], env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"}, check=True
    )
    ldd = subprocess.run(["ldd", str(exe)], capture_output=True, text=True).stdout
    assert "libexecutorch.so" in ldd and "libtorch" not in ldd and "libc10" not in ldd
    from audioconcept.runtime.backends import OnnxBackend
    from audioconcept.runtime.bundle import open_bundle
    from audioconcept.runtime.formats import get_format

    b = open_bundle(cnn_pte_bundle)
    mel = np.random.default_rng(1).normal(-40, 20, (1, *b.manifest["inputs"]["mel"]["shape"][1:])).astype(np.float32)
    np.save(tmp_path / "mel.npy", mel)
    r = subprocess.run([str(exe), str(cnn_pte_bundle / "model.pte"), str(tmp_path / "mel.npy")], capture_output=True)
    assert r.returncode == 0, r.stderr.decode()[-500:]
    lines = dict(line.split(":", 1) for line in r.stdout.decode().splitlines() if ":" in line)
    got = np.array(lines["logits"].split(), dtype=np.float64)
    want = OnnxBackend(b, get_format("onnx"), "cpu", full_graph=False).run(mel).logits[0]
    assert np.abs(got - want).max() < 1e-4
    bad = subprocess.run([str(exe), str(cnn_pte_bundle / "model.pte"), str(cnn_pte_bundle / "manifest.json")])
    assert bad.returncode == 2  # not a .npy: one line, no crash
