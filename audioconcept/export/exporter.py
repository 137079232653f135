"""One entry point, one exporter per format, one self-describing bundle per model.

`export_checkpoint` writes into a temporary folder and renames it into place only after
every artifact has passed the parity gate, so an interrupted or failed export leaves nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audioconcept import SAMPLE_RATE
from audioconcept.errors import ExportError
from audioconcept.export.manifest import artifact_entry, core_manifest, model_card
from audioconcept.export.parity import COREML_GATE, FP32_GATE, INT8_GATE, compare
from audioconcept.runtime.bundle import MANIFEST
from audioconcept.utils import atomic_dir, atomic_write_json, atomic_write_text, check_replaceable, dir_lock

log = logging.getLogger(__name__)

NEURAL_FORMATS = ("onnx", "int8", "torchscript", "pt2", "coreml")
SVM_FORMATS = ("onnx", "coreml")


@dataclass(frozen=True)
class ExportConfig:
    checkpoint: Path
    out: Path
    formats: tuple[str, ...] | None = None  # None: every format this host can produce
    data: str | None = None  # audio for the parity gate and calibration (default: what it was trained on)
    concepts: Path | None = None
    name: str | None = None
    n_parity: int = 16
    n_calibration: int = 32
    n_int8_eval: int = 400
    n_int8_select: int = 400  # clips (valid, then train) that choose which layers stay fp32
    int8_policy: str = "auto"  # auto: CNN only if faster here; always; never
    force: bool = False  # replace an --out folder that is neither empty nor a bundle
    extra_checks: dict = field(default_factory=dict)


@contextlib.contextmanager
def _quiet():
    """Silence converter chatter (torch.onnx registration notes, coremltools progress bars)."""
    names = [
        "torch.onnx._internal.exporter._registration",
        "torch.onnx",
        "torch.export",
        "coremltools",
        "onnxscript",
        "onnx_ir",
        "torch._dynamo",
        "root",
    ]
    old = {n: logging.getLogger(n).level for n in names}
    prev = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"
    for n in names[:-1]:
        logging.getLogger(n).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for n, lvl in old.items():
            logging.getLogger(n).setLevel(lvl)
        if prev is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = prev


def parse_formats(formats: str | None, arch: str) -> tuple[str, ...] | None:
    if not formats or formats == "all":
        return None
    allowed = SVM_FORMATS if arch == "svm" else NEURAL_FORMATS
    out = tuple(f.strip() for f in formats.split(",") if f.strip())
    bad = [f for f in out if f not in allowed]
    if bad:
        raise ExportError(f"unknown format(s) {', '.join(bad)} for {arch}; choose from {', '.join(allowed)}")
    return out


def export_checkpoint(cfg: ExportConfig) -> Path:
    from audioconcept.models.checkpoint import read_config

    ck = read_config(cfg.checkpoint)
    # one export per --out at a time, and never over a folder that is not a bundle (unless --force):
    # checked now, before minutes of work, and again before the swap (atomic_dir)
    with dir_lock(cfg.out), _quiet():
        check_replaceable(cfg.out, MANIFEST, cfg.force)
        if ck.arch == "svm":
            from audioconcept.export.svm_export import export_svm

            return export_svm(cfg, ck)
        return _export_neural(cfg, ck)


def _run_torch(module, x: np.ndarray, batch: int = 8) -> list[np.ndarray]:
    import torch

    outs: list[list[np.ndarray]] = []
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            o = module(torch.from_numpy(x[i : i + batch]))
            o = o if isinstance(o, tuple | list) else (o,)
            outs.append([t.float().numpy() for t in o])
    return [np.concatenate(parts) for parts in zip(*outs, strict=True)]


def _run_onnx(path: Path, feed_name: str, x: np.ndarray, batch: int = 8) -> list[np.ndarray]:
    import onnxruntime as ort

    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outs = [s.run(None, {feed_name: x[i : i + batch]}) for i in range(0, len(x), batch)]
    return [np.concatenate(parts) for parts in zip(*outs, strict=True)]


def _export_neural(cfg: ExportConfig, ck) -> Path:
    import torch

    from audioconcept.export.coreml_ep import coreml_ep_partitions
    from audioconcept.export.coreml_export import can_predict, coreml_available, export_coreml, inspect_spec
    from audioconcept.export.data_windows import resolve_data, split_windows
    from audioconcept.export.onnx_export import export_onnx, merge_frontend
    from audioconcept.export.portable_body import portable_body
    from audioconcept.export.quantize import quantize_with_fallback, time_session
    from audioconcept.export.torch_formats import export_pt2, export_torchscript
    from audioconcept.export.wrapper import BodyOutputs, WaveformOutputs, output_names
    from audioconcept.models.checkpoint import checkpoint_sha256, load_torch_checkpoint
    from audioconcept.models.frontend import MelFrontEnd
    from audioconcept.runtime.frontend import NumpyMelFrontEnd

    formats = cfg.formats or NEURAL_FORMATS
    model, _ = load_torch_checkpoint(cfg.checkpoint, frontend_mode="stft")
    head = None
    concepts_meta = None
    concepts_dir = cfg.concepts or _concepts_beside(cfg.checkpoint)
    if concepts_dir is not None:
        from audioconcept.concepts.head import load_concept_head

        head, concepts_meta = load_concept_head(concepts_dir)
    with_concepts = head is not None
    outs = output_names(with_concepts)
    body_out = BodyOutputs(model.body, head).eval()
    wave_stft = WaveformOutputs(model.frontend, body_out).eval()
    wave_conv = WaveformOutputs(MelFrontEnd(model.frontend.cfg, "conv"), body_out).eval()
    mel_cfg = model.frontend.cfg
    window = int(round(ck.window_s * SAMPLE_RATE))
    n_frames = mel_cfg.n_frames(window)
    # The ONNX graphs use forms every execution provider has (no Log, BatchNormalization, Resize
    # or Einsum), so the ANE path keeps the graph in one piece; the parity gate checks them.
    onnx_front = MelFrontEnd(mel_cfg, "conv", log_impl="no-log-op").eval()
    onnx_body = BodyOutputs(portable_body(model.body, mel_cfg.n_mels, n_frames), head).eval()

    data = resolve_data(cfg.data, ck.trained_on)
    parity_x = split_windows(data, "test", ck.window_s, ck.eval_chunks, max(cfg.n_parity, 16))
    reference = _run_torch(wave_stft, parity_x)
    ref_logits = reference[0]
    example = torch.from_numpy(parity_x[:2].copy())
    example_mel = model.frontend(example)

    # The hop that lets every second of a song reach the logits: bodies whose pooling drops the
    # end of the window (the short-chunk CNN uses 22.6 of its 29.1 s) get overlapping windows.
    from audioconcept.models.receptive_field import influential_frames

    used = influential_frames(model.body, mel_cfg.n_mels, n_frames)
    used_s = (
        round(min(ck.window_s, (used - 1) * mel_cfg.hop_length / SAMPLE_RATE), 2) if used < n_frames else ck.window_s
    )
    hop_s = ck.window_s if used >= n_frames else max(1.0, int(used_s * 10) / 10)
    name = cfg.name or cfg.out.name
    n_classes = len(ck.labels)
    emb_dim = int(reference[2].shape[1])
    out_specs = [
        {"name": "logits", "shape": ["batch", n_classes], "dtype": "float32"},
        {"name": "probabilities", "shape": ["batch", n_classes], "dtype": "float32"},
        {"name": "embedding", "shape": ["batch", emb_dim], "dtype": "float32"},
    ]
    if with_concepts:
        nc = len(head.names)
        out_specs += [
            {"name": "concepts", "shape": ["batch", nc], "dtype": "float32"},
            {"name": "concept_frames", "shape": ["batch", nc, int(reference[4].shape[-1])], "dtype": "float32"},
        ]
    inputs = {
        "waveform": {"name": "waveform", "shape": ["batch", window], "dtype": "float32"},
        "mel": {"name": "mel", "shape": ["batch", mel_cfg.n_mels, n_frames], "dtype": "float32"},
    }
    core = core_manifest(
        name=name,
        arch=ck.arch,
        labels=ck.labels,
        window_s=ck.window_s,
        hop_s=hop_s,
        sample_rate=SAMPLE_RATE,
        frontend={
            **mel_cfg.to_dict(),
            "stft_in_graphs": "conv1d with fixed kernels; reflect padding as Slice+Concat",
            "db_in_onnx": "no Log op: ln x from 8 square roots, a series and one Halley step on exp",
        },
        inputs=inputs,
        outputs=out_specs,
        source_sha256=checkpoint_sha256(cfg.checkpoint),
        source_path=str(cfg.checkpoint),
        trained_on=ck.trained_on,
        metrics=ck.metrics,
        extra={
            "embedding_layer": model.body.embedding_layer,
            "arch_config": ck.arch_config,
            "eval_chunks": ck.eval_chunks,
            "dynamic_axes": "batch only (time is fixed at the window)",
            "receptive_field": {
                "used_s": used_s,
                "used_frames": used,
                "window_frames": n_frames,
                "note": "the logits depend only on the first used_s seconds of each window; the default hop "
                "(hop_s) is at most that, so windows overlap and every part of a song is heard",
            },
            "concepts": concepts_meta,
        },
    )
    artifacts: dict[str, dict] = {}
    parity: dict[str, dict] = {}
    runtime_frontend = "onnx"
    skipped: dict[str, str] = {}

    with atomic_dir(cfg.out, MANIFEST, cfg.force) as tmp:
        front_tmp = tmp / ".frontend.onnx"
        if "onnx" in formats or "int8" in formats:
            log.info("exporting ONNX (opset 18, dynamo)")
            export_onnx(onnx_front, example, front_tmp, "waveform", ["mel"])
            export_onnx(onnx_body, example_mel, tmp / "model.body.onnx", "mel", outs, core)
            merge_frontend(front_tmp, tmp / "model.body.onnx", tmp / "model.onnx", core)
            got = _run_onnx(tmp / "model.onnx", "waveform", parity_x)
            parity["onnx"] = compare(ref_logits, got[0], FP32_GATE, "model.onnx")
            parity["coreml_ep"] = coreml_ep_partitions(tmp / "model.onnx")
            if not parity["coreml_ep"]["one_piece"]:
                log.warning(
                    "model.onnx splits into %d partitions under the CoreML execution provider (unsupported: %s)",
                    parity["coreml_ep"]["partitions"],
                    ", ".join(parity["coreml_ep"]["unsupported_ops"]) or "none",
                )
            np_fe = NumpyMelFrontEnd(mel_cfg.to_dict())
            got_body = _run_onnx(tmp / "model.body.onnx", "mel", np_fe(parity_x))
            # The numpy front end is faster on CPUs; the runtime uses it only where it keeps fp32 parity.
            body_parity = compare(ref_logits, got_body[0], FP32_GATE, "numpy front end + model.body.onnx", strict=False)
            if not body_parity["passed"]:
                body_parity["note"] = f"not used by the runtime: {body_parity.pop('failure')}"
            parity["onnx_body"] = body_parity
            runtime_frontend = "numpy" if body_parity["passed"] else "onnx"
            if with_concepts:
                parity["onnx_concepts"] = {
                    "max_abs_diff": float(np.abs(got[3] - reference[3]).max()),
                    "frames_max_abs_diff": float(np.abs(got[4] - reference[4]).max()),
                }
                # window-level concepts: <= 1e-4; frame-level scores see single frames near the dB
                # floor (no averaging over time), so they get a looser 1e-3
                pc = parity["onnx_concepts"]
                if pc["max_abs_diff"] > 1e-4 or pc["frames_max_abs_diff"] > 1e-3:
                    raise ExportError(f"parity gate failed for the concept outputs: {pc}")
            artifacts["onnx"] = artifact_entry(tmp, "model.onnx", "waveform", "fp32")
            artifacts["onnx_body"] = artifact_entry(tmp, "model.body.onnx", "mel", "fp32")
        if "int8" in formats:
            log.info("quantising the body to int8 (static QDQ, front end kept fp32)")
            calib = split_windows(data, "train", ck.window_s, ck.eval_chunks, cfg.n_calibration, seed=1)
            np_fe = NumpyMelFrontEnd(mel_cfg.to_dict())
            # layers fall back to fp32 (input side first) until decisions agree on clips outside the
            # test split, with headroom (a quarter of the allowed disagreement); the gate below then judges
            # the chosen graph on the test split
            select_x = split_windows(
                data, "valid", ck.window_s, 2 * ck.eval_chunks, cfg.n_int8_select, seed=3, make_up_from=("train",)
            )
            select_mel = np_fe(select_x)
            select_ref = _run_onnx(tmp / "model.body.onnx", "mel", select_mel)[0].argmax(-1)

            def agreement(path: Path) -> float:
                return float(np.mean(_run_onnx(path, "mel", select_mel)[0].argmax(-1) == select_ref))

            target = 1.0 - (1.0 - INT8_GATE.min_top1_agreement) / 4
            search = quantize_with_fallback(
                tmp / "model.body.onnx", tmp / ".body.int8.onnx", np_fe(calib), agreement, target
            )
            qbody = search.path
            merge_frontend(front_tmp, qbody, tmp / "model.int8.onnx", {**core, "precision": "int8 body (QDQ)"})
            # twice the evaluation chunks per track: more test clips, so that the 99% gate is not
            # decided by one or two near-ties in a small split
            evalx = split_windows(data, "test", ck.window_s, 2 * ck.eval_chunks, cfg.n_int8_eval, seed=2)
            eval_ref = _run_torch(wave_stft, evalx)[0]
            got = _run_onnx(tmp / "model.int8.onnx", "waveform", evalx)
            t_fp32 = time_session(tmp / "model.body.onnx", {"mel": np_fe(parity_x[:1])})
            t_int8 = time_session(qbody, {"mel": np_fe(parity_x[:1])})
            speed = {
                "body_ms_fp32": round(t_fp32 * 1e3, 3),
                "body_ms_int8": round(t_int8 * 1e3, 3),
                "fp32_layers": f"first {search.fp32_first} of {search.n_layers} body layers (plus the classifier)",
                "fallback": search.attempts,
            }
            try:
                parity["int8"] = {**compare(eval_ref, got[0], INT8_GATE, "model.int8.onnx"), **speed}
            except ExportError as e:
                tried = ", ".join(
                    f"{a['fp32_first_layers']} fp32: {a['selection_agreement']:.3f}" for a in search.attempts
                )
                e = ExportError(f"{e}; fp32 fallback tried on valid/train clips ({tried})")
                if cfg.int8_policy == "always" or ck.arch == "vggish":
                    raise e from None
                skipped["int8"] = str(e)
            keep = cfg.int8_policy == "always" or ck.arch == "vggish" or (cfg.int8_policy == "auto" and t_int8 < t_fp32)
            if "int8" in skipped or not keep:
                skipped.setdefault(
                    "int8",
                    f"int8 body is not faster on this host ({speed['body_ms_int8']} ms vs "
                    f"{speed['body_ms_fp32']} ms fp32)",
                )
                parity.pop("int8", None)
                (tmp / "model.int8.onnx").unlink(missing_ok=True)
            else:
                artifacts["onnx_int8"] = artifact_entry(tmp, "model.int8.onnx", "waveform", "int8 body, fp32 front end")
            qbody.unlink(missing_ok=True)
        front_tmp.unlink(missing_ok=True)
        if "onnx" not in formats:
            for k in ("onnx", "onnx_body"):
                artifacts.pop(k, None)
            for f in ("model.onnx", "model.body.onnx"):
                (tmp / f).unlink(missing_ok=True)
        if "torchscript" in formats:
            log.info("exporting TorchScript (traced)")
            export_torchscript(wave_stft, example, tmp / "model.ts", core)
            got = _run_torch(torch.jit.load(str(tmp / "model.ts"), map_location="cpu"), parity_x)
            parity["torchscript"] = compare(ref_logits, got[0], FP32_GATE, "model.ts")
            artifacts["torchscript"] = artifact_entry(tmp, "model.ts", "waveform", "fp32")
        if "pt2" in formats:
            log.info("exporting torch.export program (.pt2)")
            export_pt2(wave_conv, example, tmp / "model.pt2", core)
            got = _run_torch(torch.export.load(str(tmp / "model.pt2")).module(), parity_x)
            parity["pt2"] = compare(ref_logits, got[0], FP32_GATE, "model.pt2")
            artifacts["pt2"] = artifact_entry(tmp, "model.pt2", "waveform", "fp32")
        if "coreml" in formats:
            ok, why = coreml_available()
            if not ok:
                if cfg.formats:
                    raise ExportError(why)
                skipped["coreml"] = why
            else:
                log.info("exporting CoreML (mlprogram, iOS16, fp16 body, fp32 front end)")
                export_coreml(wave_conv, example, tmp / "model.mlpackage", core, outs)
                spec = inspect_spec(tmp / "model.mlpackage")
                if not spec["frontend_fp32"]:
                    raise ExportError("CoreML spec check failed: the front end is not fp32")
                if [i["name"] for i in spec["inputs"]] != ["waveform"] or spec["outputs"] != outs:
                    raise ExportError(f"CoreML spec check failed: inputs/outputs {spec['inputs']} {spec['outputs']}")
                pred_ok, pred_why = can_predict()
                entry: dict = {"spec": {k: v for k, v in spec.items() if k != "metadata"}}
                if pred_ok:
                    from audioconcept.runtime.backends import coreml_predict

                    for units in ("CPU_ONLY", "ALL"):
                        got = coreml_predict(tmp / "model.mlpackage", parity_x, units)
                        entry[units] = compare(ref_logits, got, COREML_GATE, f"model.mlpackage [{units}]")
                    parity["coreml"] = {**entry["ALL"], "numerically_verified": True, "CPU_ONLY": entry["CPU_ONLY"]}
                else:
                    parity["coreml"] = {"numerically_verified": False, "reason": pred_why, "spec": entry["spec"]}
                artifacts["coreml"] = artifact_entry(
                    tmp, "model.mlpackage", "waveform", "fp16 body, fp32 front end", numerically_verified=pred_ok
                )
        if not artifacts:
            raise ExportError("no artifact was exported")
        manifest = {
            **core,
            "artifacts": artifacts,
            "parity": parity,
            "skipped": skipped,
            "runtime_frontend": runtime_frontend if "onnx_body" in artifacts else "onnx",
        }
        atomic_write_json(tmp / MANIFEST, manifest)
        atomic_write_text(tmp / "README.md", model_card(manifest))
        if concepts_dir is not None:
            shutil.copytree(concepts_dir, tmp / "concepts", dirs_exist_ok=True)
    log.info("bundle written to %s", cfg.out)
    return cfg.out


def _concepts_beside(checkpoint: Path) -> Path | None:
    from audioconcept.models.checkpoint import checkpoint_dir

    d = checkpoint_dir(checkpoint) / "concepts"
    return d if (d / "concepts.json").exists() else None
