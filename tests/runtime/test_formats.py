"""The one formats table: every consumer reads it, and each row is wired to an exporter and a backend."""

from __future__ import annotations

import pytest

from audioconcept.errors import AudioConceptError, BackendUnavailable
from audioconcept.runtime.formats import (
    BACKENDS,
    EXPORT_FLAGS,
    FORMATS,
    artifacts_for,
    export_flags_for,
    formats_for,
    get_format,
    help_text,
    kind_of,
)


def test_names_are_unique_and_rows_complete():
    assert len(set(BACKENDS)) == len(BACKENDS)
    assert len(set(EXPORT_FLAGS)) == len(EXPORT_FLAGS)
    for f in FORMATS:
        assert f.engine in ("onnxruntime", "coreml", "torch")
        assert f.input in ("waveform", "features")
        assert set(f.devices) <= {"cpu", "cuda", "ane"}
        assert f.kinds and set(f.kinds) <= {"torch", "sklearn"}
        assert f.gate.min_top1_agreement > 0
        assert f.file.startswith("model.")


def test_every_export_flag_has_exactly_one_exporter():
    from audioconcept.export.formats import EXPORTERS

    assert set(EXPORTERS) == set(EXPORT_FLAGS)


def test_every_backend_has_an_engine_in_make_backend(cnn_bundle):
    """Each row either builds here or says in one line why not (never a KeyError or a traceback)."""
    from audioconcept.runtime.backends import make_backend, unavailable_reason
    from audioconcept.runtime.bundle import open_bundle

    b = open_bundle(cnn_bundle)
    for f in formats_for("torch"):
        for device in f.devices:
            why = unavailable_reason(f, device, b)
            if why:
                with pytest.raises(AudioConceptError):  # BackendUnavailable, or BundleError for a missing file
                    make_backend(b, f.backend, device)
            else:
                be = make_backend(b, f.backend, device)
                assert be.name == f.backend


def test_kinds_and_artifacts():
    assert kind_of({"inputs": {"features": {}}}) == "sklearn"
    assert kind_of({"inputs": {"waveform": {}, "mel": {}}}) == "torch"
    assert "int8" in export_flags_for("torch") and "int8" not in export_flags_for("sklearn")
    assert artifacts_for("onnx", "torch") == ("onnx", "onnx_body", "onnx_coreml")
    assert artifacts_for("onnx", "sklearn") == ("onnx",)
    assert artifacts_for("torch", "torch") == ("pt2",)  # eager torch reads the weights of model.pt2
    with pytest.raises(BackendUnavailable, match="unknown backend"):
        get_format("tflite")


def test_cli_help_comes_from_the_table():
    assert help_text("backend").split(" | ") == list(BACKENDS)
    assert help_text("export").split(",") == list(EXPORT_FLAGS)


def test_unsupported_device_is_one_line(cnn_bundle):
    from audioconcept.runtime.backends import make_backend
    from audioconcept.runtime.bundle import open_bundle

    b = open_bundle(cnn_bundle)
    with pytest.raises(BackendUnavailable, match="runs on cpu"):
        make_backend(b, "onnx-int8", "cuda")
    with pytest.raises(BackendUnavailable, match="unknown device"):
        make_backend(b, "onnx", "tpu")
