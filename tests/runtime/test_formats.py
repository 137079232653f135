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
        assert f.engine in ("onnxruntime", "coreml", "torch", "executorch")
        assert f.input in ("waveform", "mel", "features")
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
    names = [b.split(" (")[0] for b in help_text("backend").split(" | ")]
    assert names == list(BACKENDS)
    assert help_text("export").split(", ") == list(EXPORT_FLAGS)
    assert "torchscript (deprecated upstream: use pt2 or executorch)" in help_text("backend")


def test_executorch_row_has_its_exporter_and_backend():
    """The new row is wired like every other: an export_<flag>() and an engine that make_backend builds."""
    import inspect

    from audioconcept.export.formats import EXPORTERS, export_executorch
    from audioconcept.runtime import backends

    f = get_format("executorch")
    assert (f.export, f.file, f.input, f.extra, f.devices) == ("executorch", "model.pte", "mel", "executorch", ("cpu",))
    assert f.gate.max_abs_logit == 1e-4 and f.gate.min_top1_agreement == 1.0
    assert EXPORTERS["executorch"] is export_executorch
    assert 'fmt.engine == "executorch"' in inspect.getsource(backends.make_backend)
    assert 'fmt.engine == "executorch"' in inspect.getsource(backends.unavailable_reason)


def test_torchscript_is_deprecated_and_not_written_by_default():
    from audioconcept.runtime.formats import default_export_flags_for

    ts = get_format("torchscript")
    assert "pt2" in ts.deprecated and "executorch" in ts.deprecated and "deprecated" in ts.summary
    assert "torchscript" not in default_export_flags_for("torch")
    assert set(default_export_flags_for("torch")) == set(export_flags_for("torch")) - {"torchscript"}
    assert "executorch" in default_export_flags_for("torch")


def test_unsupported_device_is_one_line(cnn_bundle):
    from audioconcept.runtime.backends import make_backend
    from audioconcept.runtime.bundle import open_bundle

    b = open_bundle(cnn_bundle)
    with pytest.raises(BackendUnavailable, match="runs on cpu"):
        make_backend(b, "onnx-int8", "cuda")
    with pytest.raises(BackendUnavailable, match="unknown device"):
        make_backend(b, "onnx", "tpu")
