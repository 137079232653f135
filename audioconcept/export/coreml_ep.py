"""How an ONNX graph partitions under onnxruntime's CoreML execution provider (the ANE path).

Uses onnxruntime's own mobile usability checker (`python -m
onnxruntime.tools.check_onnx_model_mobile_usability`) the way it runs: the batch axis fixed
(the runtime fixes it with a free-dimension override on that path), the graph optimised at the
basic level, then partitioned against the MLProgram op list. Runs on any OS.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

OPS_TABLE = "coreml_supported_mlprogram_ops.md"


def coreml_ep_partitions(path: Path, batch: int = 1, batch_param: str = "batch") -> dict:
    import onnx
    from onnxruntime.tools.mobile_helpers import usability_checker as uc
    from onnxruntime.tools.onnx_model_utils import fix_output_shapes, make_dim_param_fixed, optimize_model

    model = onnx.load(str(path))
    make_dim_param_fixed(model.graph, batch_param, batch)
    fix_output_shapes(model)
    with tempfile.TemporaryDirectory() as d:
        fixed, opt = Path(d) / "fixed.onnx", Path(d) / "opt.onnx"
        onnx.save(model, str(fixed))
        optimize_model(fixed, opt, use_external_initializers=False)
        shaped = uc.ModelProtoWithShapeInfo(opt).model_with_shape_info
        checker_log = logging.getLogger("usability_checker")
        level = checker_log.level
        checker_log.setLevel(logging.WARNING)
        try:
            info = uc.check_coreml_partitions(shaped, True, OPS_TABLE)
        finally:
            checker_log.setLevel(level)
    supported = {n.name for group in info.supported_groups for n in group}
    unsupported_nodes = sorted({f"{n.op_type}" for n in shaped.graph.node if n.name not in supported})
    return {
        "execution_provider": "CoreMLExecutionProvider (MLProgram)",
        "checked_with": "onnxruntime.tools.mobile_helpers.usability_checker",
        "fixed_batch": batch,
        "nodes": info.num_nodes,
        "supported_nodes": info.num_supported_nodes,
        "partitions": info.num_partitions,
        "unsupported_ops": unsupported_nodes,
        "one_piece": info.num_partitions == 1 and info.num_supported_nodes == info.num_nodes,
    }
