"""One `export_<flag>()` per row of `runtime.formats.FORMATS`: each converts, runs its parity gate, and says
what it adds to the bundle. `EXPORTERS` maps the table's export flags to them (a test checks they match)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from audioconcept.errors import ExportError
from audioconcept.export.context import FormatResult, NeuralExport, run_onnx, run_torch
from audioconcept.export.manifest import artifact_entry
from audioconcept.export.parity import compare
from audioconcept.runtime.formats import format_for_flag

log = logging.getLogger(__name__)


def _gate(flag: str):
    return format_for_flag(flag).gate


def export_onnx(ctx: NeuralExport) -> FormatResult:
    """model.onnx (as trained: fastest on CPU and CUDA), model.body.onnx (the same body taking the mel, for the
    numpy front end) and model.coreml.onnx (forms the CoreML execution provider takes in one piece)."""
    from audioconcept.export.coreml_ep import coreml_ep_partitions
    from audioconcept.export.onnx_export import merge_frontend
    from audioconcept.runtime.frontend import NumpyMelFrontEnd

    res = FormatResult()
    gate = _gate("onnx")
    front, body = ctx.onnx_parts()
    merge_frontend(front, body, ctx.tmp / "model.onnx", ctx.core)
    got = run_onnx(ctx.tmp / "model.onnx", "waveform", ctx.parity_x)
    res.parity["onnx"] = compare(ctx.ref_logits, got[0], gate, "model.onnx")
    got_body = run_onnx(body, "mel", NumpyMelFrontEnd(ctx.mel_cfg.to_dict())(ctx.parity_x))
    # The numpy front end is faster on CPUs; the runtime uses it only where it keeps fp32 parity.
    body_parity = compare(ctx.ref_logits, got_body[0], gate, "numpy front end + model.body.onnx", strict=False)
    if not body_parity["passed"]:
        body_parity["note"] = f"not used by the runtime: {body_parity.pop('failure')}"
    res.parity["onnx_body"] = body_parity
    res.manifest["runtime_frontend"] = "numpy" if body_parity["passed"] else "onnx"
    c_front, c_body = ctx.coreml_ep_parts()
    merge_frontend(c_front, c_body, ctx.tmp / "model.coreml.onnx", ctx.core)
    got_c = run_onnx(ctx.tmp / "model.coreml.onnx", "waveform", ctx.parity_x)
    res.parity["onnx_coreml"] = compare(ctx.ref_logits, got_c[0], gate, "model.coreml.onnx")
    res.parity["coreml_ep"] = coreml_ep_partitions(ctx.tmp / "model.coreml.onnx")
    if not res.parity["coreml_ep"]["one_piece"]:
        log.warning(
            "model.coreml.onnx splits into %d partitions under the CoreML execution provider (unsupported: %s)",
            res.parity["coreml_ep"]["partitions"],
            ", ".join(res.parity["coreml_ep"]["unsupported_ops"]) or "none",
        )
    if ctx.with_concepts:
        pc = {
            "max_abs_diff": float(max(np.abs(g[3] - ctx.reference[3]).max() for g in (got, got_c))),
            "frames_max_abs_diff": float(max(np.abs(g[4] - ctx.reference[4]).max() for g in (got, got_c))),
        }
        res.parity["onnx_concepts"] = pc
        # window-level concepts: <= 1e-4; frame-level scores see single frames near the dB floor (no
        # averaging over time), so they get a looser 1e-3
        if pc["max_abs_diff"] > 1e-4 or pc["frames_max_abs_diff"] > 1e-3:
            raise ExportError(f"parity gate failed for the concept outputs: {pc}")
    res.artifacts["onnx"] = artifact_entry(ctx.tmp, "model.onnx", "waveform", "fp32")
    res.artifacts["onnx_body"] = artifact_entry(ctx.tmp, "model.body.onnx", "mel", "fp32")
    res.artifacts["onnx_coreml"] = artifact_entry(
        ctx.tmp,
        "model.coreml.onnx",
        "waveform",
        "fp32",
        target="onnxruntime's CoreML execution provider (--device ane)",
    )
    return res


@dataclass(frozen=True)
class Int8Timing:
    """End-to-end milliseconds per window on the exporting host, as the runtime runs each path on the CPU."""

    int8_ms: float
    fp32_ms: float


INT8_MARGIN = 0.9  # int8 must take at most 90 % of the fp32 time: a tie under load must not flip the decision


def int8_decision(policy: str, gate_failure: str | None, timing: Int8Timing) -> tuple[bool, str | None]:
    """-> (ship int8?, why not). `auto` ships int8 only where it passed its gate and is faster end to end
    by a margin; `always` ships it whenever it passed; `never` never does."""
    if policy == "never":
        return False, "not requested (--int8 never)"
    if gate_failure is not None:
        if policy == "always":
            raise ExportError(gate_failure)
        return False, gate_failure
    if policy == "always":
        return True, None
    if timing.int8_ms <= INT8_MARGIN * timing.fp32_ms:
        return True, None
    return False, (
        f"int8 is not faster end to end on this host ({timing.int8_ms:.2f} ms against {timing.fp32_ms:.2f} ms fp32 "
        f"per window, front end included; it must take at most {INT8_MARGIN:.0%} of the fp32 time)"
    )


def time_end_to_end(int8: tuple, fp32: tuple, x: np.ndarray, mel_cfg, rounds: int = 15) -> Int8Timing:
    """Median ms per window of both CPU paths as the runtime runs them, each a (graph, input name) pair: "mel"
    graphs are fed by the numpy front end (inside the timing), "waveform" graphs take the audio. Timed in
    alternation, so that load affects both alike."""
    import time

    import onnxruntime as ort

    from audioconcept.runtime.frontend import NumpyMelFrontEnd

    fe = NumpyMelFrontEnd(mel_cfg.to_dict())
    w = x[:1].astype(np.float32)

    def runner(path, input_name):
        s = ort.InferenceSession(str(path), ort.SessionOptions(), providers=["CPUExecutionProvider"])
        return lambda: s.run(["logits"], {input_name: fe(w) if input_name == "mel" else w})

    run8, run32 = runner(*int8), runner(*fp32)
    t8, t32 = [], []
    for i in range(rounds + 2):
        for fn, acc in ((run8, t8), (run32, t32)) if i % 2 else ((run32, t32), (run8, t8)):
            t = time.perf_counter()
            fn()
            if i >= 2:  # two warm-up rounds
                acc.append(time.perf_counter() - t)
    return Int8Timing(round(float(np.median(t8)) * 1e3, 3), round(float(np.median(t32)) * 1e3, 3))


def export_int8(ctx: NeuralExport) -> FormatResult:
    """model.int8.onnx (waveform in: fp32 front end + int8 body) and model.int8.body.onnx (the int8 body taking
    the mel, which the runtime feeds from the numpy front end on the CPU, as it does for fp32)."""
    from audioconcept.export.onnx_export import merge_frontend
    from audioconcept.export.quantize import quantize_with_fallback
    from audioconcept.runtime.frontend import NumpyMelFrontEnd

    res = FormatResult()
    cfg, ck = ctx.cfg, ctx.ck
    if cfg.int8_policy == "never":
        res.skipped["int8"] = "not requested (--int8 never)"
        return res
    log.info("quantising the body to int8 (static QDQ, front end kept fp32)")
    front, body = ctx.onnx_parts()
    np_fe = NumpyMelFrontEnd(ctx.mel_cfg.to_dict())
    calib = ctx.windows("train", ck.eval_chunks, cfg.n_calibration, seed=1)
    # layers fall back to fp32 (input side first) until decisions agree on clips outside the test split, with
    # headroom (a quarter of the allowed disagreement); the gate below then judges the chosen graph on the test split
    select_mel = np_fe(ctx.windows("valid", 2 * ck.eval_chunks, cfg.n_int8_select, seed=3, make_up_from=("train",)))
    select_ref = run_onnx(body, "mel", select_mel)[0].argmax(-1)

    def agreement(path) -> float:
        return float(np.mean(run_onnx(path, "mel", select_mel)[0].argmax(-1) == select_ref))

    gate = _gate("int8")
    target = 1.0 - (1.0 - gate.min_top1_agreement) / 4
    qbody = ctx.tmp / "model.int8.body.onnx"
    search = quantize_with_fallback(body, qbody, np_fe(calib), agreement, target)
    out = ctx.tmp / "model.int8.onnx"
    merge_frontend(front, qbody, out, {**ctx.core, "precision": "int8 body (QDQ)"})
    # twice the evaluation chunks per track: more test clips, so that the 99 % gate is not decided by one or
    # two near-ties in a small split
    evalx = ctx.windows("test", 2 * ck.eval_chunks, cfg.n_int8_eval, seed=2)
    eval_ref = run_torch(ctx.wave_stft, evalx)[0]
    got = run_onnx(out, "waveform", evalx)
    tried = ", ".join(f"{a['fp32_first_layers']} fp32: {a['selection_agreement']:.3f}" for a in search.attempts)
    parity = compare(eval_ref, got[0], gate, "model.int8.onnx", strict=False)
    failure = parity.pop("failure", None)
    if failure:
        failure = f"{failure}; fp32 fallback tried on valid/train clips ({tried})"
    # both paths as the runtime would take them on the CPU: the numpy front end feeds the bodies where it keeps
    # parity, else the whole waveform graphs run
    numpy_fe = not (ctx.runtime_frontend == "onnx" and (ctx.tmp / "model.onnx").exists())
    fp32_path = (body, "mel") if numpy_fe else (ctx.tmp / "model.onnx", "waveform")
    int8_path = (qbody, "mel") if numpy_fe else (out, "waveform")
    timing = time_end_to_end(int8_path, fp32_path, ctx.parity_x, ctx.mel_cfg)
    speed = {
        "end_to_end_ms_int8": timing.int8_ms,
        "end_to_end_ms_fp32": timing.fp32_ms,
        "fp32_path": "numpy front end + model.body.onnx" if numpy_fe else "model.onnx",
        "int8_path": "numpy front end + model.int8.body.onnx" if numpy_fe else "model.int8.onnx",
        "fp32_layers": f"first {search.fp32_first} of {search.n_layers} body layers (plus the classifier)",
        "fallback": search.attempts,
    }
    keep, why = int8_decision(cfg.int8_policy, failure, timing)
    if keep:
        res.parity["int8"] = {**parity, **speed}
        res.artifacts["onnx_int8"] = artifact_entry(ctx.tmp, "model.int8.onnx", "waveform", "int8 body, fp32 front end")
        res.artifacts["onnx_int8_body"] = artifact_entry(ctx.tmp, "model.int8.body.onnx", "mel", "int8 body")
    else:
        out.unlink(missing_ok=True)
        qbody.unlink(missing_ok=True)
        res.skipped["int8"] = why
        res.manifest["int8_measured"] = {**parity, **speed}
    return res


def export_torchscript(ctx: NeuralExport) -> FormatResult:
    import torch

    from audioconcept.export.torch_formats import write_torchscript

    log.info("exporting TorchScript (traced)")
    res = FormatResult()
    write_torchscript(ctx.wave_stft, ctx.example, ctx.tmp / "model.ts", ctx.core)
    got = run_torch(torch.jit.load(str(ctx.tmp / "model.ts"), map_location="cpu"), ctx.parity_x)
    res.parity["torchscript"] = compare(ctx.ref_logits, got[0], _gate("torchscript"), "model.ts")
    res.artifacts["torchscript"] = artifact_entry(ctx.tmp, "model.ts", "waveform", "fp32")
    return res


def export_pt2(ctx: NeuralExport) -> FormatResult:
    import torch

    from audioconcept.export.torch_formats import write_pt2

    log.info("exporting torch.export program (.pt2)")
    res = FormatResult()
    write_pt2(ctx.wave_conv, ctx.example, ctx.tmp / "model.pt2", ctx.core)
    got = run_torch(torch.export.load(str(ctx.tmp / "model.pt2")).module(), ctx.parity_x)
    res.parity["pt2"] = compare(ctx.ref_logits, got[0], _gate("pt2"), "model.pt2")
    res.artifacts["pt2"] = artifact_entry(ctx.tmp, "model.pt2", "waveform", "fp32")
    return res


def export_executorch(ctx: NeuralExport) -> FormatResult:
    """model.pte: the mel body (the one model.body.onnx holds), lowered to XNNPACK, fp32, bounded dynamic batch, fed by
    the numpy front end. Its gate runs the program through the host's ExecuTorch runtime, as the backend does."""
    from audioconcept.export.executorch_export import executorch_available, run_pte, write_pte
    from audioconcept.runtime.frontend import NumpyMelFrontEnd

    res = FormatResult()
    ok, why = executorch_available()
    if not ok:
        if ctx.cfg.formats:
            raise ExportError(why)
        res.skipped["executorch"] = why
        return res
    log.info("exporting ExecuTorch (.pte, XNNPACK, fp32)")
    path = ctx.tmp / "model.pte"
    report = write_pte(ctx.onnx_body, ctx.example_mel, path)
    got = run_pte(path, NumpyMelFrontEnd(ctx.mel_cfg.to_dict())(ctx.parity_x))
    parity = compare(ctx.ref_logits, got[0], _gate("executorch"), "numpy front end + model.pte", strict=False)
    if ctx.with_concepts:
        pc = {
            "max_abs_diff": float(np.abs(got[3] - ctx.reference[3]).max()),
            "frames_max_abs_diff": float(np.abs(got[4] - ctx.reference[4]).max()),
        }
        parity["concepts"] = pc
        # the same limits as the ONNX row: window-level concepts 1e-4, frame-level scores 1e-3
        if pc["max_abs_diff"] > 1e-4 or pc["frames_max_abs_diff"] > 1e-3:
            parity["passed"] = False
            parity["failure"] = f"parity gate failed for the concept outputs of model.pte: {pc}"
    if not parity["passed"]:
        if ctx.cfg.formats:
            raise ExportError(parity["failure"])
        path.unlink(missing_ok=True)
        res.skipped["executorch"] = parity["failure"]
        return res
    res.parity["executorch"] = parity
    res.artifacts["executorch"] = artifact_entry(
        ctx.tmp, "model.pte", "mel", "fp32", delegate="XnnpackBackend", lowering=report
    )
    return res


def export_executorch_coreml(ctx: NeuralExport) -> FormatResult:
    """model.coreml.pte: the mel body through ExecuTorch's Core ML delegate (fp16, batch 1). Lowering and the
    spec check run on any OS; the numbers only where the runtime has the Core ML delegate (Apple)."""
    from audioconcept.export.coreml_export import coreml_available
    from audioconcept.export.executorch_export import executorch_available, run_pte, write_coreml_pte
    from audioconcept.runtime.executorch_backend import registered_backends
    from audioconcept.runtime.frontend import NumpyMelFrontEnd

    res = FormatResult()
    for ok, why in (executorch_available(), coreml_available()):
        if not ok:
            if ctx.cfg.formats:
                raise ExportError(why)
            res.skipped["executorch-coreml"] = why
            return res
    log.info("exporting ExecuTorch with the Core ML delegate (.pte, fp16, batch 1)")
    path = ctx.tmp / "model.coreml.pte"
    report = write_coreml_pte(ctx.onnx_body, ctx.example_mel, path, len(ctx.outs))
    verified = "CoreMLBackend" in registered_backends()
    if verified:
        got = run_pte(path, NumpyMelFrontEnd(ctx.mel_cfg.to_dict())(ctx.parity_x))
        res.parity["executorch_coreml"] = {
            **compare(ctx.ref_logits, got[0], _gate("executorch-coreml"), "numpy front end + model.coreml.pte"),
            "numerically_verified": True,
        }
    else:
        res.parity["executorch_coreml"] = {
            "numerically_verified": False,
            "reason": "this host's ExecuTorch runtime has no Core ML delegate (Apple only); lowering and spec checked",
            "spec": report["coreml_spec"],
        }
    res.artifacts["executorch_coreml"] = artifact_entry(
        ctx.tmp,
        "model.coreml.pte",
        "mel",
        "fp16",
        delegate="CoreMLBackend",
        lowering=report,
        numerically_verified=verified,
    )
    return res


def export_coreml(ctx: NeuralExport) -> FormatResult:
    from audioconcept.export.coreml_export import can_predict, coreml_available, inspect_spec, write_coreml
    from audioconcept.runtime.coreml_backend import coreml_predict

    res = FormatResult()
    ok, why = coreml_available()
    if not ok:
        if ctx.cfg.formats:
            raise ExportError(why)
        res.skipped["coreml"] = why
        return res
    log.info("exporting CoreML (mlprogram, iOS16, fp16 body, fp32 front end)")
    path = ctx.tmp / "model.mlpackage"
    write_coreml(ctx.wave_conv, ctx.example, path, ctx.core, ctx.outs)
    spec = inspect_spec(path)
    if not spec["frontend_fp32"]:
        raise ExportError("CoreML spec check failed: the front end is not fp32")
    if [i["name"] for i in spec["inputs"]] != ["waveform"] or spec["outputs"] != ctx.outs:
        raise ExportError(f"CoreML spec check failed: inputs/outputs {spec['inputs']} {spec['outputs']}")
    pred_ok, pred_why = can_predict()
    entry: dict = {"spec": {k: v for k, v in spec.items() if k != "metadata"}}
    if pred_ok:
        for units in ("CPU_ONLY", "ALL"):
            got = coreml_predict(path, ctx.parity_x, units)
            entry[units] = compare(ctx.ref_logits, got, _gate("coreml"), f"model.mlpackage [{units}]")
        res.parity["coreml"] = {**entry["ALL"], "numerically_verified": True, "CPU_ONLY": entry["CPU_ONLY"]}
    else:
        res.parity["coreml"] = {"numerically_verified": False, "reason": pred_why, "spec": entry["spec"]}
    res.artifacts["coreml"] = artifact_entry(
        ctx.tmp, "model.mlpackage", "waveform", "fp16 body, fp32 front end", numerically_verified=pred_ok
    )
    return res


EXPORTERS: dict[str, Callable[[NeuralExport], FormatResult]] = {
    "onnx": export_onnx,
    "int8": export_int8,
    "torchscript": export_torchscript,
    "pt2": export_pt2,
    "coreml": export_coreml,
    "executorch": export_executorch,
    "executorch-coreml": export_executorch_coreml,
}
