"""SVM bundles: skl2onnx probabilities against scikit-learn, and CoreML's skip recorded with its reason."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audioconcept.errors import ExportError


def test_svm_bundle_manifest_and_parity(svm_bundle, svm_features_csv):
    m = json.loads((svm_bundle / "manifest.json").read_text())
    assert set(m["artifacts"]) == {"onnx", "shapley_background"}
    assert m["parity"]["onnx"]["passed"] and m["parity"]["onnx"]["max_abs_logit_diff"] <= 1e-5
    assert m["inputs"]["features"]["shape"] == ["batch", 57]
    assert "coreml" in m["skipped"]  # the reason is recorded, not silently dropped
    bg = np.load(svm_bundle / "shapley_background.npy")
    assert bg.shape[1] == 57 and np.isfinite(bg).all()


def test_svm_export_refuses_neural_formats(tmp_path, svm_bundle):
    from audioconcept.export.exporter import parse_formats

    with pytest.raises(ExportError, match="unknown format"):
        parse_formats("onnx,int8", "svm")
    assert parse_formats("onnx", "svm") == ("onnx",)
