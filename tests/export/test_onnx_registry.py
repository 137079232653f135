"""The torchlib registry that our ONNX exports build once is the one torch builds each time: same graphs, and
torch's own method is back after every export."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


def test_reused_registry_writes_the_same_graph_and_is_undone(tmp_path):
    import onnx
    from torch.onnx._internal.exporter import _registration

    from audioconcept.export import onnx_export

    module = torch.nn.Sequential(torch.nn.Conv1d(1, 4, 5), torch.nn.ReLU(), torch.nn.AdaptiveMaxPool1d(1)).eval()
    x = torch.randn(2, 1, 64)
    original = _registration.ONNXRegistry.__dict__["from_torchlib"]
    with onnx_export._torchlib_registry_reused():
        built = _registration.ONNXRegistry.from_torchlib()
        assert _registration.ONNXRegistry.from_torchlib() is built, "built once, then reused"
    assert _registration.ONNXRegistry.__dict__["from_torchlib"] is original, "torch's own method is back"
    reused = onnx_export.write_onnx(module, x, tmp_path / "a.onnx", "x", ["y"])
    assert _registration.ONNXRegistry.__dict__["from_torchlib"] is original
    # the same export with torch building its registry itself
    onnx_export_plain = tmp_path / "c.onnx"
    prog = torch.onnx.export(
        module,
        (x,),
        None,
        dynamo=True,
        opset_version=onnx_export.OPSET,
        external_data=False,
        input_names=["x"],
        output_names=["y"],
        dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=1024)},),
        optimize=True,
        verbose=False,
    )
    prog.model_proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    onnx_export_plain.write_bytes(prog.model_proto.SerializeToString())

    def ops(p):
        return [(n.op_type, list(n.input), list(n.output)) for n in onnx.load(str(p)).graph.node]

    assert ops(reused) == ops(onnx_export_plain)
