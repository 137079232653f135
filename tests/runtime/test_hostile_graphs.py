"""Hostile ONNX graphs in a bundle (issue 27): refused at load time with one line (ops outside what our exports
produce, subgraphs, huge tensors and shape targets, external data), capped in memory while they run, and never
reported as a result when they output NaN or Inf."""

import glob
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from audioconcept.errors import BundleError
from audioconcept.runtime.graph_check import ALLOWED_OPS, check_graph, graph_problems
from audioconcept.runtime.model import load
from audioconcept.runtime.registry import packaged_bundles
from tests.runtime.test_adversarial import SVM, _bundle_with

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

PACKAGED = Path(packaged_bundles()["svm-gtzan"]).parent


def _model(nodes, inits=(), out="probabilities", out_shape=("batch", 10), opset=18, **kw) -> bytes:
    """features (batch, 57) float64 -> `out`: the SVM bundle's interface."""
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("features", TensorProto.DOUBLE, ["batch", 57])],
        [helper.make_tensor_value_info(out, TensorProto.DOUBLE, list(out_shape))],
        list(inits),
    )
    kw.setdefault("opset_imports", [helper.make_opsetid("", opset)])
    m = helper.make_model(graph, **kw)
    m.ir_version = 9
    return m.SerializeToString()


def _softmax_of() -> list:
    return [helper.make_node("MatMul", ["features", "w"], ["z"]), helper.make_node("Softmax", ["z"], ["probabilities"])]


def _loop() -> bytes:
    """A Loop of 10^12 iterations around an Identity (hung onnxruntime before)."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond"], ["cond_out"]), helper.make_node("Identity", ["v"], ["v_out"])],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v", TensorProto.DOUBLE, None),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_out", TensorProto.DOUBLE, None),
        ],
    )
    inits = [
        numpy_helper.from_array(np.array(10**12, np.int64), "n"),
        numpy_helper.from_array(np.array(True), "t"),
        numpy_helper.from_array(np.ones((57, 10)), "w"),
    ]
    return _model(
        [
            helper.make_node("Loop", ["n", "t", "features"], ["looped"], body=body),
            helper.make_node("MatMul", ["looped", "w"], ["z"]),
            helper.make_node("Softmax", ["z"], ["probabilities"]),
        ],
        inits,
    )


def _huge_expand() -> bytes:
    shape = numpy_helper.from_array(np.array([1, 10**9], np.int64), "shape")
    w = numpy_helper.from_array(np.ones((57, 10)), "w")
    return _model(
        [
            helper.make_node("ReduceMean", ["features"], ["m"], keepdims=1),
            helper.make_node("Expand", ["m", "shape"], ["big"]),
            *_softmax_of(),
        ],
        [shape, w],
    )


def _constant_of_shape() -> bytes:
    shape = numpy_helper.from_array(np.array([1000, 1000, 1000], np.int64), "shape")
    w = numpy_helper.from_array(np.ones((57, 10)), "w")
    return _model([helper.make_node("ConstantOfShape", ["shape"], ["big"]), *_softmax_of()], [shape, w])


def _huge_initialiser() -> bytes:
    t = numpy_helper.from_array(np.ones((57, 10)), "w")
    del t.dims[:]
    t.dims.extend([57, 10**8])  # declared 5.7e9 elements
    return _model(_softmax_of(), [t])


def _external_data() -> bytes:
    t = numpy_helper.from_array(np.ones((57, 10)), "w")
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    e = t.external_data.add()
    e.key, e.value = "location", "/etc/passwd"
    return _model(_softmax_of(), [t])


def _custom_op() -> bytes:
    w = numpy_helper.from_array(np.ones((57, 10)), "w")
    return _model(
        [
            helper.make_node("Mystery", ["features"], ["f2"], domain="com.example"),
            helper.make_node("MatMul", ["f2", "w"], ["z"]),
            helper.make_node("Softmax", ["z"], ["probabilities"]),
        ],
        [w],
        opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("com.example", 1)],
    )


HOSTILE = {
    "Loop of 10^12": (_loop, "Loop carries a subgraph"),
    "Expand to 10^9": (_huge_expand, "op 'Expand'"),
    "ConstantOfShape 10^9": (_constant_of_shape, "op 'ConstantOfShape'"),
    "initialiser of 5.7e9": (_huge_initialiser, "declares 5,700,000,000 elements"),
    "external data": (_external_data, "external file"),
    "custom op": (_custom_op, "com.example:Mystery"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_graphs_are_refused_at_load_with_one_line(tmp_path, name):
    build, match = HOSTILE[name]
    b = _bundle_with(tmp_path, SVM, "onnx", build())
    with pytest.raises(BundleError, match="refused ONNX model") as e:
        load(b)
    assert match in str(e.value) and "\n" not in str(e.value)


def test_shape_targets_and_constants_are_bounded_even_for_allowed_ops():
    """Reshape is ours; a constant target past the bound is refused (as are Expand and ConstantOfShape were they
    ever allowed: the same check)."""
    shape = numpy_helper.from_array(np.array([10**5, 10**5], np.int64), "shape")
    w = numpy_helper.from_array(np.ones((57, 10)), "w")
    data = _model([helper.make_node("Reshape", ["features", "shape"], ["r"]), *_softmax_of()], [shape, w])
    assert "Reshape asks for 10,000,000,000 elements" in graph_problems(data)
    assert "truncated" in graph_problems(data[:-7]) or "malformed" in graph_problems(data[:-7])


def test_every_graph_we_ship_passes_and_uses_only_listed_ops():
    files = glob.glob(str(PACKAGED / "*" / "*.onnx"))
    assert len(files) >= 4
    for f in files:
        check_graph(f)
        m = onnx.load(f)
        assert {(n.domain, n.op_type) for n in m.graph.node} <= ALLOWED_OPS, f


@pytest.mark.slow
def test_every_export_format_uses_only_listed_ops(cnn_checkpoint, tmp_path, monkeypatch):
    """The allowlist is derived from what our exports write: the full graph, the body, int8 and the CoreML-EP graph
    (VGGish and musicnn are listed the same way: tools/survey_onnx_ops.py). The int8 graphs are kept whatever their
    parity gate says (an untrained CNN may miss it): their ops are what is checked here."""
    from audioconcept.export import formats
    from audioconcept.export.exporter import ExportConfig, export_checkpoint

    monkeypatch.setattr(formats, "int8_decision", lambda *a, **k: (True, None))
    # few calibration and agreement clips: the ops written are what is checked, not the int8 parity
    cfg = ExportConfig(
        cnn_checkpoint, tmp_path / "cnn", ("onnx", "int8"), n_calibration=4, n_int8_eval=8, n_int8_select=8
    )
    b = export_checkpoint(cfg)
    files = sorted(b.glob("*.onnx"))
    assert {f.name for f in files} >= {"model.onnx", "model.body.onnx", "model.coreml.onnx", "model.int8.onnx"}
    for f in files:
        check_graph(f)
        assert {(n.domain, n.op_type) for n in onnx.load(f).graph.node} <= ALLOWED_OPS, f


def test_a_nan_or_inf_output_is_an_error_never_a_result(tmp_path, wav_file):
    song = wav_file(seconds=3.0)
    for bad in (np.nan, np.inf):
        w = np.ones((57, 10))
        w[0, 0] = bad
        b = _bundle_with(tmp_path, SVM, "onnx", _model(_softmax_of(), [numpy_helper.from_array(w, "w")]), str(bad))
        m = load(b)
        with pytest.raises(BundleError, match="not finite"):
            m.predict(song)


def test_memory_is_capped_while_a_graph_runs(tmp_path, wav_file):
    """A Resize whose scales are computed while the graph runs (no load-time check can bound them) asks for
    2 GB; the session's arena cap turns that into one line instead of the host's memory."""
    c = numpy_helper.from_array(np.array([1.0, 3000.0], np.float32), "c")
    w = numpy_helper.from_array(np.ones((10, 10)), "w")
    starts = numpy_helper.from_array(np.array([0], np.int64), "st")
    ends = numpy_helper.from_array(np.array([10], np.int64), "en")
    axes = numpy_helper.from_array(np.array([1], np.int64), "ax")
    data = _model(
        [
            helper.make_node("Cast", ["features"], ["f"], to=TensorProto.FLOAT),
            helper.make_node("Mul", ["c", "c"], ["scales"]),
            helper.make_node("Resize", ["f", "", "scales"], ["big"], mode="nearest"),
            helper.make_node("Slice", ["big", "st", "en", "ax"], ["cut"]),
            helper.make_node("Cast", ["cut"], ["cut64"], to=TensorProto.DOUBLE),
            helper.make_node("MatMul", ["cut64", "w"], ["z"]),
            helper.make_node("Softmax", ["z"], ["probabilities"]),
        ],
        [c, w, starts, ends, axes],
    )
    assert graph_problems(data) is None  # only allowed ops: the cap is what stops it
    b = _bundle_with(tmp_path, SVM, "onnx", data)
    song = wav_file(seconds=3.0)
    code = textwrap.dedent(
        f"""
        import resource
        from audioconcept.runtime.model import load
        try:
            load({str(b)!r}).predict({str(song)!r})
        except Exception as e:
            print("ERR", type(e).__name__, e)
        from pathlib import Path
        # VmHWM: this process's own peak (on Linux ru_maxrss survives exec: it held pytest's peak in a full run)
        st = Path("/proc/self/status")
        kb = int(st.read_text().split("VmHWM:")[1].split()[0]) if st.exists() else resource.getrusage(
            resource.RUSAGE_SELF).ru_maxrss
        print("RSS_MB", kb // 1024)
        """
    )
    env = {"AUDIOCONCEPT_ORT_MAX_MEMORY_MB": "256", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert "ERR BundleError" in p.stdout and "more than 256 MB" in p.stdout, p.stdout + p.stderr[-2000:]
    assert int(p.stdout.split("RSS_MB")[1]) < 1600, p.stdout  # the graph asked for 2 GB for one tensor alone
