"""CoreML: torch.export -> run_decompositions({}) -> ct.convert(mlprogram, iOS16), fp16 body, fp32 front end.

Conversion, saving and spec inspection run on any OS; prediction needs macOS.
"""

from __future__ import annotations

import json
import logging
import platform
import warnings
from pathlib import Path

import torch

log = logging.getLogger(__name__)


def coreml_available() -> tuple[bool, str]:
    try:
        import coremltools  # noqa: F401
    except Exception as e:
        return False, f"coremltools is not installed ({type(e).__name__}); pip install 'audioconcept[coreml]'"
    return True, ""


def can_predict() -> tuple[bool, str]:
    if platform.system() != "Darwin":
        return False, f"CoreML prediction needs macOS (this host runs {platform.system()})"
    return coreml_available()


def _body_in_fp16():
    """op_selector for FP16ComputePrecision: ops are visited in program order; everything up to
    the dB conversion (log and its scaling muls) is the front end and stays fp32, the rest is fp16."""
    state = {"seen_log": False, "body": False}

    def select(op) -> bool:
        if state["body"]:
            return True
        if op.op_type == "log":
            state["seen_log"] = True
            return False
        if state["seen_log"] and op.op_type not in ("mul", "add", "const", "real_div", "cast"):
            state["body"] = True
            return True
        return False

    return select


def write_coreml(
    module: torch.nn.Module,
    example: torch.Tensor,
    path: Path,
    metadata: dict,
    output_names: list[str],
    max_batch: int = 16,
) -> Path:
    import coremltools as ct

    batch = torch.export.Dim("batch", min=1, max=max_batch)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prog = torch.export.export(module.eval(), (example,), dynamic_shapes=({0: batch},), strict=False)
        prog = prog.run_decompositions({})
    in_fp16 = _body_in_fp16()

    n = example.shape[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlmodel = ct.convert(
            prog,
            inputs=[ct.TensorType(name="waveform", shape=(ct.RangeDim(1, max_batch, default=1), n))],
            outputs=[ct.TensorType(name=o) for o in output_names],
            convert_to="mlprogram",
            minimum_deployment_target=ct.target.iOS16,
            compute_precision=ct.transform.FP16ComputePrecision(op_selector=in_fp16),
            skip_model_load=platform.system() != "Darwin",
        )
    mlmodel.user_defined_metadata.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()})
    mlmodel.short_description = f"AudioConcept {metadata.get('arch', '')} genre classifier"
    mlmodel.save(str(path))
    return path


def inspect_spec(path: Path) -> dict:
    """Inputs, outputs, shapes and the precision of the front-end ops, read from the saved package."""
    import coremltools as ct

    model = ct.models.MLModel(str(path), skip_model_load=True)
    spec = model.get_spec()
    inputs = []
    for i in spec.description.input:
        shape = list(i.type.multiArrayType.shape)
        rng = i.type.multiArrayType.shapeRange.sizeRanges
        inputs.append({"name": i.name, "shape": shape, "ranges": [[r.lowerBound, r.upperBound] for r in rng]})
    outputs = [o.name for o in spec.description.output]
    ops = []
    for fn in spec.mlProgram.functions.values():
        for block in fn.block_specializations.values():
            for op in block.operations:
                dtypes = [t.type.tensorType.dataType for t in op.outputs if t.type.HasField("tensorType")]
                ops.append((op.type, dtypes))
    from coremltools.proto import MIL_pb2

    fp32 = MIL_pb2.DataType.Value("FLOAT32")
    fp16 = MIL_pb2.DataType.Value("FLOAT16")
    log_ops = [d for t, d in ops if t == "log"]
    stft = [d for t, d in ops if t == "conv"]
    return {
        "inputs": inputs,
        "outputs": outputs,
        "spec_version": spec.specificationVersion,
        "n_ops": len(ops),
        "frontend_fp32": bool(log_ops) and all(fp32 in d for d in log_ops) and bool(stft) and fp32 in stft[0],
        "has_fp16_ops": any(fp16 in d for _, d in ops),
        "metadata": dict(spec.description.metadata.userDefined),
    }
