"""Static int8 (QDQ) quantisation of the body graph with onnxruntime.quantization.

The front end is never quantised: the body (mel in) is quantised, then joined to the fp32
front-end graph, so `model.int8.onnx` still takes a waveform.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


class MelCalibration:
    """onnxruntime CalibrationDataReader over mel batches computed from real training audio."""

    def __init__(self, mels: np.ndarray, input_name: str = "mel", batch: int = 1) -> None:
        self.items = [{input_name: mels[i : i + batch].astype(np.float32)} for i in range(0, len(mels), batch)]
        self.i = 0

    def get_next(self):
        if self.i >= len(self.items):
            return None
        self.i += 1
        return self.items[self.i - 1]

    def rewind(self) -> None:
        self.i = 0


def quantize_body(body_fp32: Path, out: Path, calib_mels: np.ndarray) -> Path:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = out.with_name(out.stem + ".pre.onnx")
    try:
        quant_pre_process(str(body_fp32), str(pre), skip_symbolic_shape=True)
        src = pre
    except Exception as e:  # pre-processing is an optimisation; quantise the raw graph if it fails
        log.debug("quant_pre_process failed (%s); quantising the raw graph", e)
        src = body_fp32
    quantize_static(
        str(src),
        str(out),
        MelCalibration(calib_mels),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
        calibrate_method=CalibrationMethod.MinMax,
        op_types_to_quantize=["Conv", "MatMul", "Gemm"],
        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
    )
    pre.unlink(missing_ok=True)
    return out


def time_session(path: Path, feeds: dict[str, np.ndarray], repeats: int = 10, threads: int = 0) -> float:
    """Median seconds per run of an ONNX file on the CPU."""
    import time

    import onnxruntime as ort

    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = threads
    s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    s.run(None, feeds)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        s.run(None, feeds)
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))
