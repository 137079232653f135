import json
from importlib import resources
from pathlib import Path

import jsonschema
import numpy as np
import onnxruntime as ort
import pytest
import torch

from audioconcept import SAMPLE_RATE
from audioconcept.errors import ExportError
from audioconcept.export.exporter import ExportConfig, export_checkpoint, parse_formats
from audioconcept.export.onnx_export import onnx_metadata
from audioconcept.export.torch_formats import pt2_metadata, torchscript_metadata
from audioconcept.utils import sha256_tree

N = int(round(29.1 * SAMPLE_RATE))


def _schema():
    return json.loads(resources.files("audioconcept.runtime").joinpath("manifest.schema.json").read_text())


def test_bundle_manifest_validates_and_checksums_match(cnn_bundle):
    m = json.loads((cnn_bundle / "manifest.json").read_text())
    jsonschema.validate(m, _schema())
    assert set(m["artifacts"]) == {"onnx", "onnx_body", "onnx_coreml", "torchscript", "pt2"}
    for art in m["artifacts"].values():
        assert sha256_tree(cnn_bundle / art["file"]) == art["sha256"]
    for k in ("onnx", "onnx_body", "onnx_coreml", "torchscript", "pt2"):
        p = m["parity"][k]
        assert p["passed"] and p["n_clips"] >= 16 and p["max_abs_logit_diff"] <= 1e-4 and p["top1_agreement"] == 1.0
    assert [o["name"] for o in m["outputs"]] == ["logits", "probabilities", "embedding"]
    assert m["versions"]["torch"].startswith("2.13")
    assert (cnn_bundle / "README.md").read_text().startswith("# cnn (cnn)")
    assert not list(cnn_bundle.parent.glob(".cnn.*"))  # no temporary folder left behind


def test_artifacts_are_self_describing(cnn_bundle):
    meta = onnx_metadata(cnn_bundle / "model.onnx")
    assert json.loads(meta["labels"])[0] == "blues" and meta["arch"] == "cnn"
    assert torchscript_metadata(cnn_bundle / "model.ts")["window_s"] == 29.1
    assert pt2_metadata(cnn_bundle / "model.pt2")["sample_rate"] == SAMPLE_RATE


@pytest.mark.parametrize("batch", [1, 5])
def test_dynamic_batch_all_formats_agree(cnn_bundle, batch):
    x = (np.random.default_rng(batch).standard_normal((batch, N)) * 0.1).astype(np.float32)
    s = ort.InferenceSession(str(cnn_bundle / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [o.name for o in s.get_outputs()]
    assert names == ["logits", "probabilities", "embedding"]
    onnx_out = s.run(None, {"waveform": x})
    ts = torch.jit.load(str(cnn_bundle / "model.ts"))
    pt2 = torch.export.load(str(cnn_bundle / "model.pt2")).module()
    with torch.no_grad():
        ts_out = ts(torch.from_numpy(x))
        pt2_out = pt2(torch.from_numpy(x))
    assert onnx_out[0].shape == (batch, 10) and onnx_out[2].shape == (batch, 64)
    np.testing.assert_allclose(onnx_out[0], ts_out[0].numpy(), atol=1e-4)
    np.testing.assert_allclose(onnx_out[0], pt2_out[0].numpy(), atol=1e-4)
    np.testing.assert_allclose(onnx_out[1].sum(1), 1.0, atol=1e-5)


def test_graph_has_no_reflect_pad(cnn_bundle):
    import onnx

    ops = {n.op_type for n in onnx.load(str(cnn_bundle / "model.onnx")).graph.node}
    assert "Pad" not in ops and "Conv" in ops and "Slice" in ops and "Concat" in ops


def test_onnx_graph_is_one_piece_under_coreml_ep(cnn_bundle):
    """The ANE path: with the batch fixed, onnxruntime's checker puts every node in one partition."""
    import onnx

    ep = json.loads((cnn_bundle / "manifest.json").read_text())["parity"]["coreml_ep"]
    assert ep["one_piece"] and ep["partitions"] == 1 and ep["supported_nodes"] == ep["nodes"], ep
    ops = {n.op_type for n in onnx.load(str(cnn_bundle / "model.coreml.onnx")).graph.node}
    assert not ops & {"Log", "BatchNormalization", "Einsum", "Pad", "Resize"}, ops
    # model.onnx keeps the forms CPU and CUDA run fastest (the CoreML-friendly ones cost CUDA 10-35 %)
    plain = {n.op_type for n in onnx.load(str(cnn_bundle / "model.onnx")).graph.node}
    assert "Log" in plain, plain


def test_coreml_ep_check_sees_a_log_op(tmp_path):
    """The check is real: a graph with a Log node splits."""
    from audioconcept.export.coreml_ep import coreml_ep_partitions
    from audioconcept.export.onnx_export import write_onnx

    class M(torch.nn.Module):
        def forward(self, x):
            return torch.relu(torch.log(x * x + 1.0)) * 2.0 + x

    write_onnx(M(), torch.rand(2, 8), tmp_path / "m.onnx", "x", ["y"])
    ep = coreml_ep_partitions(tmp_path / "m.onnx")
    assert not ep["one_piece"] and "Log" in ep["unsupported_ops"]


def test_parity_gate_rejects_corrupted_onnx(tmp_path, cnn_checkpoint, monkeypatch):
    """Flip weights in the written ONNX file: the export of that artifact must be refused."""
    import onnx
    from onnx import numpy_helper

    import audioconcept.export.onnx_export as oe

    real_merge = oe.merge_frontend

    def corrupting_merge(front, body, out, metadata=None):
        real_merge(front, body, out, metadata)
        m = onnx.load(str(out))
        for init in m.graph.initializer:
            a = numpy_helper.to_array(init)
            if a.ndim == 4:  # a conv weight of the body
                init.CopyFrom(numpy_helper.from_array(-a * 3, init.name))
                break
        out.write_bytes(m.SerializeToString())
        return out

    monkeypatch.setattr(oe, "merge_frontend", corrupting_merge)
    out = tmp_path / "bad"
    with pytest.raises(ExportError, match="parity gate failed for model.onnx"):
        export_checkpoint(ExportConfig(cnn_checkpoint, out, ("onnx",)))
    assert not out.exists() and not list(tmp_path.glob(".bad*"))


def test_reexport_overwrites_atomically(tmp_path, cnn_checkpoint):
    out = tmp_path / "b"
    export_checkpoint(ExportConfig(cnn_checkpoint, out, ("torchscript",)))
    first = json.loads((out / "manifest.json").read_text())["created"]
    (out / "stale.txt").write_text("old")
    export_checkpoint(ExportConfig(cnn_checkpoint, out, ("torchscript",)))
    assert not (out / "stale.txt").exists()
    assert json.loads((out / "manifest.json").read_text())["created"] >= first


def test_format_parsing():
    assert parse_formats(None, "cnn") is None
    assert parse_formats("onnx, pt2", "cnn") == ("onnx", "pt2")
    with pytest.raises(ExportError):
        parse_formats("tflite", "cnn")
    with pytest.raises(ExportError):
        parse_formats("torchscript", "svm")


def test_svm_onnx_equals_sklearn(svm_bundle):
    from audioconcept.models.checkpoint import load_svm_checkpoint

    m = json.loads((svm_bundle / "manifest.json").read_text())
    jsonschema.validate(m, _schema())
    assert m["features"][0] == "chroma_stft_mean" and len(m["features"]) == 57
    assert m["label_rule"] == "argmax(probabilities)"
    assert "coreml" in m["skipped"]
    pipe, _ = load_svm_checkpoint(Path(m["source_checkpoint"]["path"]))
    X = np.random.default_rng(1).normal(0, 1.5, (40, 57))
    s = ort.InferenceSession(str(svm_bundle / "model.onnx"), providers=["CPUExecutionProvider"])
    label, proba = s.run(None, {"features": X})
    np.testing.assert_allclose(proba, pipe.predict_proba(X), atol=1e-5)
    assert (label == pipe.predict(X)).all()


@pytest.mark.slow
def test_int8_and_coreml_on_slim_vggish(tmp_path, tiny_synth):
    from tests.conftest import _checkpoint

    ck = _checkpoint(tmp_path / "ck", tiny_synth, "vggish", width=0.125)
    out = export_checkpoint(
        ExportConfig(
            ck, tmp_path / "vggish", ("onnx", "int8", "coreml"), n_calibration=8, n_int8_eval=32, int8_policy="always"
        )
    )
    m = json.loads((out / "manifest.json").read_text())
    assert "onnx_int8" in m["artifacts"], m.get("skipped")
    assert m["parity"]["int8"]["top1_agreement"] >= 0.99
    import onnx

    ops = [n.op_type for n in onnx.load(str(out / "model.int8.onnx")).graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    front = [n for n in onnx.load(str(out / "model.int8.onnx")).graph.node if n.name.startswith("frontend/")]
    assert front and not any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in front)
    # the mel resize (MatMuls before the first Conv) is preprocessing: it stays fp32 too
    from tests.export.test_quantize import _quantised

    nodes = [n for n in onnx.load(str(out / "model.int8.onnx")).graph.node if not n.name.startswith("frontend/")]
    first_conv = next(i for i, n in enumerate(nodes) if n.op_type == "Conv")
    resize = [n.name for n in nodes[:first_conv] if n.op_type in ("MatMul", "Resize")]
    q = _quantised(out / "model.int8.onnx")
    assert resize and not set(resize) & q and q
    assert m["parity"]["int8"]["fallback"][0]["fp32_first_layers"] == 0
    # the fp32 graph (bilinear resize as MatMuls, BatchNorm as affine) stays in one piece on the ANE path
    assert m["parity"]["coreml_ep"]["one_piece"], m["parity"]["coreml_ep"]
    # CoreML: conversion and spec inspection run everywhere; prediction only on macOS
    c = m["parity"]["coreml"]
    spec = c["spec"]
    assert spec["frontend_fp32"] and spec["has_fp16_ops"]
    assert spec["inputs"][0]["name"] == "waveform" and spec["inputs"][0]["ranges"][0] == [1, 16]
    import platform

    assert c["numerically_verified"] is (platform.system() == "Darwin")


def test_torchscript_is_written_only_when_asked_for(tmp_path, cnn_checkpoint):
    """Deprecated upstream: out of the default formats; `also` (the CLI's --torchscript) still writes it."""
    from audioconcept.export.exporter import parse_formats

    assert parse_formats(None, "cnn") is None and parse_formats("all", "cnn") is None
    out = export_checkpoint(ExportConfig(cnn_checkpoint, tmp_path / "b", ("pt2",), also=("torchscript",)))
    assert set(json.loads((out / "manifest.json").read_text())["artifacts"]) == {"pt2", "torchscript"}
