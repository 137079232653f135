"""Accuracy-aware int8: which layers are quantised, and the fp32 fallback when decisions change."""

import json

import numpy as np
import onnx
import pytest

from audioconcept.errors import ExportError
from audioconcept.export.exporter import ExportConfig, export_checkpoint
from audioconcept.export.quantize import body_layers, quantize_with_fallback
from audioconcept.runtime.frontend import NumpyMelFrontEnd


def _quantised(path) -> set[str]:
    """Nodes whose weight comes through a DequantizeLinear (i.e. run in int8)."""
    m = onnx.load(str(path))
    dq_out = {o for n in m.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    return {
        n.name for n in m.graph.node if n.op_type in ("Conv", "MatMul", "Gemm") and any(i in dq_out for i in n.input)
    }


@pytest.fixture(scope="module")
def calib(cnn_bundle):
    m = json.loads((cnn_bundle / "manifest.json").read_text())
    x = (np.random.default_rng(0).standard_normal((4, m["window_samples"])) * 0.1).astype(np.float32)
    return NumpyMelFrontEnd(m["frontend"])(x)


def test_body_layers_start_at_the_first_conv_and_leave_out_the_classifier(cnn_bundle):
    m = onnx.load(str(cnn_bundle / "model.body.onnx"))
    layers = body_layers(m)
    nodes = {n.name: n for n in m.graph.node}
    assert nodes[layers[0]].op_type == "Conv"
    weighted = [n.name for n in m.graph.node if n.op_type in ("Conv", "MatMul", "Gemm")]
    classifier = [n for n in weighted if n not in layers]
    assert classifier == [weighted[-1]], "only the classifier is left out of a CNN body"
    assert len(layers) >= 5


def test_fallback_keeps_the_first_layers_fp32_until_decisions_agree(tmp_path, cnn_bundle, calib):
    scripted = iter([0.95, 0.98, 0.999])
    r = quantize_with_fallback(
        cnn_bundle / "model.body.onnx", tmp_path / "q.onnx", calib, lambda p: next(scripted), 0.995
    )
    assert r.passed and r.fp32_first == 2
    assert [a["fp32_first_layers"] for a in r.attempts] == [0, 1, 2]
    layers = body_layers(onnx.load(str(cnn_bundle / "model.body.onnx")))
    q = _quantised(r.path)
    assert q and not q & set(layers[:2]), "the first two layers stay fp32"
    assert set(layers[2:]) <= q | {layers[2]} and layers[-1] in q


def test_fallback_returns_the_best_try_when_none_agree(tmp_path, cnn_bundle, calib):
    scores = {0: 0.90, 1: 0.97, 2: 0.93, 4: 0.92}
    r = quantize_with_fallback(
        cnn_bundle / "model.body.onnx",
        tmp_path / "q.onnx",
        calib,
        lambda p: scores[_n_fp32(p)],
        0.99,
        steps=(0, 1, 2, 4),
    )
    assert not r.passed and r.fp32_first == 1
    assert _n_fp32(r.path) == 1, "the file on disk is the best try, not the last"


def _n_fp32(path) -> int:
    """How many of the leading body layers are not quantised."""
    m = onnx.load(str(path))
    q = _quantised(path)
    convs = [n.name for n in m.graph.node if n.op_type in ("Conv", "MatMul", "Gemm")]
    return next(i for i, n in enumerate(convs) if n in q)


def test_fallback_refuses_to_quantise_nothing(tmp_path, cnn_bundle, calib):
    with pytest.raises(ValueError, match="no fallback step leaves any"):
        quantize_with_fallback(cnn_bundle / "model.body.onnx", tmp_path / "q.onnx", calib, lambda p: 1.0, 0.99, (999,))


def test_export_reports_the_fallback_when_int8_cannot_agree(tmp_path, cnn_checkpoint, monkeypatch):
    import audioconcept.export.formats as fm
    from audioconcept.runtime.formats import Gate

    real = fm._gate
    # unreachable for int8: every step fails
    monkeypatch.setattr(fm, "_gate", lambda flag: Gate(None, 1.01) if flag == "int8" else real(flag))
    out = tmp_path / "q"
    cfg = ExportConfig(
        cnn_checkpoint, out, ("onnx", "int8"), n_calibration=4, n_int8_eval=16, n_int8_select=16, int8_policy="always"
    )
    with pytest.raises(ExportError, match=r"fp32 fallback tried .*0 fp32: .*1 fp32: .*2 fp32: .*4 fp32"):
        export_checkpoint(cfg)
    assert not out.exists()


def test_relu_and_maxpool_stay_int8_between_quantised_layers(tmp_path, cnn_bundle, calib):
    """Inside the quantised part every Relu and MaxPool sits between a DequantizeLinear and QuantizeLinear
    (onnxruntime fuses that into an int8 op, or folds Relu into the clamp): no fp32 op chain in the middle
    (DQ -> Relu -> MaxPool -> Q cost 7 of 50 ms on full-width VGGish); fp32 fallback layers stay fp32."""
    r = quantize_with_fallback(cnn_bundle / "model.body.onnx", tmp_path / "q.onnx", calib, lambda p: 1.0, 0.99)
    g = onnx.load(str(r.path)).graph
    prod = {o: n for n in g.node for o in n.output}
    cons: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            cons.setdefault(i, []).append(n)
    names = [n.name for n in g.node]
    convs = [i for i, n in enumerate(g.node) if n.op_type == "Conv"]
    inner = [n for n in g.node[convs[0] : convs[-1]] if n.op_type in ("Relu", "MaxPool")]
    assert inner, names
    for n in inner:
        assert prod[n.input[0]].op_type == "DequantizeLinear", n.name
        assert all(c.op_type == "QuantizeLinear" for c in cons[n.output[0]]), n.name
    scores = iter([0.0, 1.0])
    r2 = quantize_with_fallback(
        cnn_bundle / "model.body.onnx", tmp_path / "q2.onnx", calib, lambda p: next(scores), 0.99
    )
    assert r2.fp32_first == 1
    g2 = onnx.load(str(r2.path)).graph
    prod2 = {o: n for n in g2.node for o in n.output}
    first_conv = next(n for n in g2.node if n.op_type == "Conv")
    assert first_conv.input[1] not in prod2, "the fp32 layer takes its weights as they are, not dequantised"
    after = next(n for n in g2.node if n.op_type == "MaxPool")
    assert prod2[after.input[0]].op_type != "DequantizeLinear", "the fp32 layer's MaxPool runs in fp32"
