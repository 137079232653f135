"""FLOPs per clip counted from an ONNX graph (Conv, ConvTranspose, MatMul, Gemm; 2 per MAC)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def onnx_flops(path: str | Path, batch: int = 1) -> int:
    import onnx
    from onnx import shape_inference

    model = onnx.load(str(path))
    for inp in model.graph.input:
        dims = inp.type.tensor_type.shape.dim
        if dims and not dims[0].dim_value:
            dims[0].dim_value = batch
    model = shape_inference.infer_shapes(model)
    shapes: dict[str, list[int]] = {}
    for vi in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    for init in model.graph.initializer:
        shapes[init.name] = list(init.dims)
    total = 0
    for node in model.graph.node:
        if node.op_type in ("Conv", "ConvTranspose"):
            w = shapes.get(node.input[1])
            out = shapes.get(node.output[0])
            if w and out and all(out):
                total += 2 * int(np.prod(out)) * int(np.prod(w[1:]))  # w: (C_out, C_in/group, kH, kW)
        elif node.op_type in ("MatMul", "Gemm"):
            a, b = shapes.get(node.input[0]), shapes.get(node.input[1])
            out = shapes.get(node.output[0])
            if a and b and out and all(out):
                k = (
                    a[-1]
                    if node.op_type == "MatMul" or not any(x.name == "transA" and x.i for x in node.attribute)
                    else a[-2]
                )
                total += 2 * int(np.prod(out)) * int(k)
    return int(total / batch)
