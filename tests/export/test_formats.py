"""Export rows: the int8 decision is made from recorded end-to-end timings, and each row writes its artifact."""

from __future__ import annotations

import json

import pytest

from audioconcept.errors import ExportError
from audioconcept.export.formats import INT8_MARGIN, Int8Timing, int8_decision


@pytest.mark.parametrize(
    ("int8_ms", "fp32_ms", "keep"),
    [(5.0, 10.0, True), (8.9, 10.0, True), (9.5, 10.0, False), (24.6, 9.55, False)],
)
def test_auto_ships_int8_only_when_faster_end_to_end(int8_ms, fp32_ms, keep):
    ok, why = int8_decision("auto", None, Int8Timing(int8_ms, fp32_ms))
    assert ok is keep
    assert (why is None) is keep
    if not keep:
        assert f"{int8_ms:.2f} ms against {fp32_ms:.2f} ms" in why


def test_margin_keeps_a_tie_from_flipping():
    assert not int8_decision("auto", None, Int8Timing(10.0 * INT8_MARGIN + 0.01, 10.0))[0]


def test_gate_failure_beats_speed_and_always_raises():
    fail = "parity gate failed for model.int8.onnx: top-1 agreement 0.950"
    assert int8_decision("auto", fail, Int8Timing(1.0, 10.0)) == (False, fail)
    with pytest.raises(ExportError, match="0.950"):
        int8_decision("always", fail, Int8Timing(1.0, 10.0))
    assert int8_decision("always", None, Int8Timing(20.0, 10.0)) == (True, None)
    assert int8_decision("never", None, Int8Timing(1.0, 10.0))[0] is False


def test_int8_only_export_keeps_no_fp32_files(tmp_path, cnn_checkpoint, monkeypatch):
    """Rows share intermediate files (the ONNX parts); what no requested row keeps is removed."""
    import audioconcept.export.formats as fm
    from audioconcept.export.exporter import ExportConfig, export_checkpoint
    from audioconcept.runtime.formats import Gate

    real = fm._gate
    # the untrained CNN has near-ties everywhere; this test is about files, not int8 accuracy
    monkeypatch.setattr(fm, "_gate", lambda flag: Gate(None, 0.5) if flag == "int8" else real(flag))

    out = export_checkpoint(
        ExportConfig(
            cnn_checkpoint,
            tmp_path / "q",
            ("int8",),
            n_calibration=4,
            n_int8_eval=16,
            n_int8_select=16,
            int8_policy="always",
        )
    )
    m = json.loads((out / "manifest.json").read_text())
    assert set(m["artifacts"]) == {"onnx_int8", "onnx_int8_body"}
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "manifest.json",
        "model.int8.body.onnx",
        "model.int8.onnx",
    ]
    t = m["parity"]["int8"]
    assert t["end_to_end_ms_int8"] > 0 and t["end_to_end_ms_fp32"] > 0
