"""Static int8 (QDQ) quantisation of the body graph with onnxruntime.quantization.

The front end is never quantised: the body (mel in) is quantised, then joined to the fp32
front-end graph, so `model.int8.onnx` still takes a waveform. Inside the body, three kinds of
node also stay fp32: anything before the first Conv (VGGish's mel resize belongs to the
preprocessing), the classifier that produces the logits, and nodes that do not feed the logits
(the concept projections).

Quantisation is accuracy-aware, as Intel Neural Compressor and AIMET do it: when the int8 graph
changes too many decisions on held-out clips, the layers nearest the input (which see the
dB-scaled mel at 8-bit resolution, the most sensitive place in a spectrogram CNN) fall back to
fp32 one step at a time until the decisions agree.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

QUANTIZED_OPS = ("Conv", "MatMul", "Gemm")
# ops that run on int8 as they are: between quantised layers they keep the tensor int8 instead of a
# DequantizeLinear -> op -> QuantizeLinear round trip (Relu folds into the clamp of the quantised range, MaxPool
# runs on int8); on full-width VGGish these round trips were 7 of 50 ms
PASS_THROUGH_OPS = ("Relu", "MaxPool")
# how many of the first body layers stay fp32 at each step of the fallback
FALLBACK_STEPS = (0, 1, 2, 4, 6, 8)


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


def body_layers(model, output: str = "logits") -> list[str]:
    """Names of the quantisable layers, input first: Conv/MatMul/Gemm nodes that feed `output`,
    from the first Conv on, without the last one (the classifier)."""
    producer = {o: n for n in model.graph.node for o in n.output}
    needed: set[str] = set()
    stack = [output]
    while stack:
        node = producer.get(stack.pop())
        if node is None or node.name in needed:
            continue
        needed.add(node.name)
        stack.extend(node.input)
    ordered = [n for n in model.graph.node if n.name in needed and n.op_type in QUANTIZED_OPS]
    first_conv = next((i for i, n in enumerate(ordered) if n.op_type == "Conv"), 0)
    return [n.name for n in ordered[first_conv:-1]]


def pass_through_nodes(nodes: list[tuple[str, str]], layers: list[str]) -> list[str]:
    """Relu and MaxPool nodes after the first of `layers` and before the last; `nodes`: (name, op type) of
    every graph node in graph (topological) order."""
    if not layers:
        return []
    names = [name for name, _ in nodes]
    first, last = names.index(layers[0]), names.index(layers[-1])
    return [name for name, op in nodes[first:last] if op in PASS_THROUGH_OPS]


def _preprocess(body_fp32: Path, out: Path) -> Path:
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = out.with_name(out.stem + ".pre.onnx")
    try:
        quant_pre_process(str(body_fp32), str(pre), skip_symbolic_shape=True)
        return pre
    except Exception as e:  # pre-processing is an optimisation; quantise the raw graph if it fails
        log.debug("quant_pre_process failed (%s); quantising the raw graph", e)
        return body_fp32


def _quantize(src: Path, out: Path, calib_mels: np.ndarray, nodes: list[str]) -> Path:
    """Static QDQ int8 of the named `nodes` (layers and the Relu/MaxPool between them)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    quantize_static(
        str(src),
        str(out),
        MelCalibration(calib_mels),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
        calibrate_method=CalibrationMethod.MinMax,
        op_types_to_quantize=list(QUANTIZED_OPS + PASS_THROUGH_OPS),
        nodes_to_quantize=nodes,
        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
    )
    return out


@dataclass
class Int8Search:
    """The outcome of `quantize_with_fallback`: the file, how many layers stayed fp32, and each try."""

    path: Path
    fp32_first: int
    n_layers: int
    passed: bool
    attempts: list[dict] = field(default_factory=list)


def quantize_with_fallback(
    body_fp32: Path,
    out: Path,
    calib_mels: np.ndarray,
    agreement: Callable[[Path], float],
    min_agreement: float,
    steps: tuple[int, ...] = FALLBACK_STEPS,
) -> Int8Search:
    """Quantise; while `agreement(path)` (top-1 agreement on held-out clips) is below
    `min_agreement`, keep more of the first layers in fp32. Returns the first step that passes,
    or the best one tried."""
    import onnx

    src = _preprocess(body_fp32, out)
    try:
        model = onnx.load(str(src), load_external_data=False)  # once: the body holds its weights
        layers = body_layers(model)
        graph_nodes = [(n.name, n.op_type) for n in model.graph.node]
        del model

        def nodes(k: int) -> list[str]:  # what is int8 with the first k layers in fp32
            return layers[k:] + pass_through_nodes(graph_nodes, layers[k:])

        steps = tuple(k for k in steps if k < len(layers))
        if not steps:
            raise ValueError(f"no fallback step leaves any of the {len(layers)} layers to quantise")
        attempts: list[dict] = []
        best = (-1.0, steps[0])  # (agreement, fp32 layers) of the best try
        for k in steps:
            _quantize(src, out, calib_mels, nodes(k))
            a = agreement(out)
            attempts.append({"fp32_first_layers": k, "selection_agreement": round(a, 4)})
            log.info("int8 with the first %d of %d layers in fp32: top-1 agreement %.3f", k, len(layers), a)
            if a >= min_agreement:
                return Int8Search(out, k, len(layers), True, attempts)
            if a > best[0]:
                best = (a, k)
        if best[1] != attempts[-1]["fp32_first_layers"]:
            _quantize(src, out, calib_mels, nodes(best[1]))
        return Int8Search(out, best[1], len(layers), False, attempts)
    finally:
        if src != body_fp32:
            src.unlink(missing_ok=True)
