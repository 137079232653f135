"""The manifest core and the model card."""

from __future__ import annotations

import json

from audioconcept.export.manifest import artifact_entry, core_manifest, model_card
from audioconcept.runtime.bundle import SCHEMA_VERSION


def _core(**over):
    kw = dict(
        name="m",
        arch="cnn",
        labels=["a", "b"],
        window_s=3.0,
        hop_s=1.5,
        sample_rate=16000,
        frontend=None,
        inputs={"waveform": {"name": "waveform", "shape": ["batch", 48000], "dtype": "float32"}},
        outputs=[],
        source_sha256="0" * 64,
        source_path="ck",
        trained_on="synth:x",
        metrics={"test": {"accuracy": 0.5, "macro_f1": 0.4, "n": 10}},
    )
    kw.update(over)
    return core_manifest(**kw)


def test_core_fields(tmp_path):
    m = _core(extra={"receptive_field": {"used_s": 2.0}})
    assert m["schema_version"] == SCHEMA_VERSION
    assert m["window_samples"] == 48000  # from the bundle's own sample rate
    assert m["receptive_field"] == {"used_s": 2.0}
    assert m["versions"]["numpy"]
    json.dumps(m)  # JSON-able


def test_artifact_entry_hashes_files_and_folders(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"abc")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "w.bin").write_bytes(b"x")
    e = artifact_entry(tmp_path, "model.onnx", "waveform", "fp32")
    assert e["size_bytes"] == 3 and len(e["sha256"]) == 64
    assert artifact_entry(tmp_path, "pkg", "waveform", "fp16")["size_bytes"] == 1


def test_model_card_says_why_int8_was_not_shipped():
    timing = {
        "fp32_layers": "first 0 of 15 body layers (plus the classifier)",
        "end_to_end_ms_int8": 12.0,
        "end_to_end_ms_fp32": 9.0,
        "fp32_path": "numpy front end + model.body.onnx",
    }
    m = {
        **_core(),
        "artifacts": {"onnx": {"file": "model.onnx", "sha256": "1" * 64, "size_bytes": 1000, "input": "waveform"}},
        "parity": {},
        "skipped": {"int8": "int8 is not faster end to end on this host"},
        "int8_measured": timing,
    }
    card = model_card(m)
    assert "int8 (not shipped: int8 is not faster end to end on this host)" in card
    assert "12.0 ms against 9.0 ms fp32" in card
    m["parity"]["int8"] = {"n_clips": 400, "max_abs_logit_diff": 0.1, "mean_abs_logit_diff": 0.01, "top1_agreement": 1}
    m["parity"]["int8"].update(timing)
    assert "int8 (shipped)" in model_card(m)
    assert "Test accuracy at training time: 0.500" in card
