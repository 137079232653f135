"""One entry point, one `export_<format>()` per row of the formats table, one self-describing bundle per model.

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

from audioconcept.errors import ExportError
from audioconcept.export.manifest import core_manifest, model_card
from audioconcept.models.registry import get_spec
from audioconcept.runtime.bundle import MANIFEST, is_our_bundle
from audioconcept.runtime.formats import default_export_flags_for, export_flags_for
from audioconcept.runtime.torch_trust import TORCH_KEYS, record_trusted
from audioconcept.utils import (
    atomic_dir,
    atomic_write_json,
    atomic_write_text,
    check_out_name,
    check_replaceable,
    dir_lock,
)

log = logging.getLogger(__name__)
N_TAG_CALIBRATION = 200  # windows of real audio that calibrate a bare tagger's concept thresholds
# musicnn's 38- and 67-band convolutions make large activations: one window at a time, no NCHWc layout and no
# memory pattern cut onnxruntime's peak memory several times over at the same CPU time per window
MUSICNN_RUNTIME_HINTS = {
    "batch_size": 1,
    "graph_optimization": "extended",
    "mem_pattern": False,
    "why": "peak memory: one window at a time, no NCHWc layout, no memory pattern; the same CPU time per window",
}


@dataclass(frozen=True)
class ExportConfig:
    """What `export_checkpoint` exports, where, and how strictly.

    `formats` None exports every format this host can produce (the flags are the formats table's `--formats`
    column); `data` is the audio for the parity gate and the int8 calibration (default: what the checkpoint was
    trained on); `concepts` a `concepts learn` folder whose head is baked into the graph; `int8_policy` auto
    keeps int8 only where it is faster end to end here and agrees; `force` replaces an `out` folder that is
    neither empty nor a bundle.

    Example:
        ```python
        ExportConfig(Path("models/checkpoints/cnn"), Path("models/cnn"), formats=("onnx", "int8"),
                     data="synth:data/synth", int8_policy="never")
        ```
    """

    checkpoint: Path
    out: Path
    formats: tuple[str, ...] | None = None  # None: every default format this host can produce
    data: str | None = None  # audio for the parity gate and calibration (default: what it was trained on)
    concepts: Path | None = None
    name: str | None = None
    n_parity: int = 16
    n_calibration: int = 32
    n_int8_eval: int = 400
    n_int8_select: int = 400  # clips (valid, then train) that choose which layers stay fp32
    n_tag_calibration: int = N_TAG_CALIBRATION  # windows that calibrate a bare tagger's concept thresholds
    int8_policy: str = "auto"  # auto: only where faster end to end here and agreeing; always; never
    force: bool = False  # replace an --out folder that is neither empty nor a bundle
    extra_checks: dict = field(default_factory=dict)
    also: tuple[str, ...] = ()  # written besides `formats` (or the defaults): e.g. the deprecated torchscript


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
    """'onnx,int8' -> the table's export flags for `arch` (None, or 'all': the default formats this host can
    produce, which leave out rows written only by name, like the deprecated torchscript).

    Example:
        ```python
        parse_formats("onnx,int8", "cnn")  # ('onnx', 'int8')
        parse_formats("all", "svm")        # None
        ```
    """
    if not formats or formats == "all":
        return None
    allowed = export_flags_for(get_spec(arch).kind)
    out = tuple(f.strip() for f in formats.split(",") if f.strip())
    bad = [f for f in out if f not in allowed]
    if bad:
        raise ExportError(f"unknown format(s) {', '.join(bad)} for {arch}; choose from {', '.join(allowed)}")
    return out


def export_checkpoint(cfg: ExportConfig) -> Path:
    """Export a checkpoint into one bundle folder; every artifact must pass its parity gate first.

    The bundle is written to a temporary folder and renamed into place, so a failed gate or an interrupted
    export leaves nothing; one export per `out` folder at a time.

    Args:
        cfg: what to export and where.

    Returns:
        The bundle folder (`cfg.out`).

    Raises:
        ExportError: a gate failed, a format is unknown for this model, or `out` is not replaceable.

    Example:
        ```python
        from pathlib import Path

        from audioconcept.export.exporter import ExportConfig, export_checkpoint

        bundle = export_checkpoint(ExportConfig(Path("models/checkpoints/svm"), Path("models/svm")))
        ```
    """
    from audioconcept.models.checkpoint import read_config

    ck = read_config(cfg.checkpoint)
    # one export per --out at a time, and never over a folder that is not a bundle (unless --force):
    # checked now, before minutes of work, and again before the swap (atomic_dir)
    check_out_name(cfg.out)
    with dir_lock(cfg.out), _quiet():
        check_replaceable(cfg.out, MANIFEST, cfg.force, ours=is_our_bundle)
        if get_spec(ck.arch).kind == "sklearn":
            from audioconcept.export.svm_export import export_svm

            return export_svm(cfg, ck)
        return _export_neural(cfg, ck)


def _export_neural(cfg: ExportConfig, ck) -> Path:
    from audioconcept.export.formats import EXPORTERS

    flags = (*(cfg.formats or default_export_flags_for(get_spec(ck.arch).kind)), *cfg.also)
    artifacts: dict[str, dict] = {}
    parity: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    extra: dict = {}
    with atomic_dir(cfg.out, MANIFEST, cfg.force, ours=is_our_bundle) as tmp:
        ctx = prepare_neural(cfg, ck, tmp)
        for flag in export_flags_for(get_spec(ck.arch).kind):  # table order: a row may use what an earlier row wrote
            if flag not in flags:
                continue
            res = EXPORTERS[flag](ctx)
            artifacts.update(res.artifacts)
            parity.update(res.parity)
            skipped.update(res.skipped)
            extra.update(res.manifest)
            ctx.runtime_frontend = extra.get("runtime_frontend", ctx.runtime_frontend)
        if not artifacts:
            why = "; ".join(f"{k}: {v}" for k, v in skipped.items())
            raise ExportError("no artifact was exported" + (f" ({why})" if why else ""))
        # intermediate files that no requested row kept (e.g. the ONNX parts of an int8-only export)
        kept = {a["file"] for a in artifacts.values()}
        for p in tmp.iterdir():
            if p.name not in kept and p.is_file():
                p.unlink()
        manifest = {
            **ctx.core,
            "artifacts": artifacts,
            "parity": parity,
            "skipped": skipped,
            **extra,
            "runtime_frontend": extra.get("runtime_frontend", "onnx") if "onnx_body" in artifacts else "onnx",
        }
        atomic_write_json(tmp / MANIFEST, manifest)
        atomic_write_text(tmp / "README.md", model_card(manifest))
        concepts_dir = cfg.concepts or _concepts_beside(cfg.checkpoint)
        if concepts_dir is not None:
            shutil.copytree(concepts_dir, tmp / "concepts", dirs_exist_ok=True)
    # model.ts and model.pt2 can run code when loaded: the runtime's torch backends load those this machine wrote
    record_trusted(cfg.out / a["file"] for k, a in artifacts.items() if k in TORCH_KEYS)
    log.info("bundle written to %s", cfg.out)
    return cfg.out


def prepare_neural(cfg: ExportConfig, ck, tmp: Path):
    """Load the checkpoint, build the modules every format converts, run the eager reference on real test
    clips, and write the manifest's core; -> NeuralExport."""
    from functools import partial

    import torch

    from audioconcept.export.context import NeuralExport, run_torch
    from audioconcept.export.data_windows import resolve_data, split_windows
    from audioconcept.export.portable_body import dead_filter_report, lean_body, portable_body
    from audioconcept.models.checkpoint import load_torch_checkpoint
    from audioconcept.models.frontend import MelFrontEnd
    from audioconcept.models.outputs import BodyOutputs, WaveformOutputs, output_names
    from audioconcept.models.registry import window_framing

    model, _ = load_torch_checkpoint(cfg.checkpoint, frontend_mode="stft")
    head = concepts_meta = None
    concepts_dir = cfg.concepts or _concepts_beside(cfg.checkpoint)
    if concepts_dir is not None:
        from audioconcept.models.concept_head import load_concept_head

        head, concepts_meta = load_concept_head(concepts_dir)
    body_out = BodyOutputs(model.body, head).eval()
    # the ONNX body: musicnn's frequency max before its affine, dead filters skipped (the same numbers: see
    # portable_body); other bodies are as trained. The CoreML-EP body starts from it (the blocks are proved once)
    lean = lean_body(model.body)
    dead = dead_filter_report(lean)
    # the front end of one window: the checkpoint's own, or (song framing) center=False on the window plus
    # `context` samples of the song on each side, so a window is a slice of the whole song's spectrogram
    mel_cfg, context = window_framing(ck.arch, ck.mel)
    frontend = MelFrontEnd(mel_cfg, "stft") if context else model.frontend
    sr = int(mel_cfg.sample_rate)
    window = int(round(ck.window_s * sr)) + 2 * context
    n_frames = mel_cfg.n_frames(window)
    data = resolve_data(cfg.data, ck.trained_on)
    windows = partial(split_windows, data, window_s=ck.window_s, sr=sr, context=context)
    parity_x = windows("test", n_chunks=ck.eval_chunks, max_windows=max(cfg.n_parity, 16))
    wave_stft = WaveformOutputs(frontend, body_out).eval()
    reference = run_torch(wave_stft, parity_x)
    if body_out.native_concepts:
        concepts_meta = _tag_concepts(ck, wave_stft, windows, cfg.n_tag_calibration)
    example = torch.from_numpy(parity_x[:2].copy())
    core = _core_manifest(cfg, ck, model, mel_cfg, head, concepts_meta, reference, n_frames, context)
    if dead:
        core["graph_rewrites"] = {
            "frequency_max_first": "conv -> ReLU -> BatchNorm -> max over frequency computed as max, then affine",
            "dead_filters": dead,
            "dead_filters_rule": "filters that can never be positive for any input the block can see (interval "
            "arithmetic over their taps) give a constant channel; their convolutions are not computed",
        }
    return NeuralExport(
        cfg=cfg,
        ck=ck,
        tmp=tmp,
        core=core,
        outs=output_names(body_out.with_concepts),
        wave_stft=wave_stft,
        wave_conv=WaveformOutputs(MelFrontEnd(mel_cfg, "conv"), body_out).eval(),
        onnx_front=MelFrontEnd(mel_cfg, "conv").eval(),
        onnx_body=BodyOutputs(lean, head).eval() if dead else body_out,
        # model.coreml.onnx uses forms every execution provider has (no Log, BatchNormalization, Resize or Einsum),
        # so the ANE path keeps the graph in one piece; they cost CUDA 10-35 % (measured), so it is a second graph
        coreml_front=MelFrontEnd(mel_cfg, "conv", log_impl="no-log-op").eval(),
        coreml_body=BodyOutputs(portable_body(lean, mel_cfg.n_mels, n_frames), head).eval(),
        mel_cfg=mel_cfg,
        data=data,
        parity_x=parity_x,
        reference=reference,
        example=example,
        example_mel=frontend(example),
        with_concepts=body_out.with_concepts,
        context=context,
    )


def _tag_concepts(ck, wave_stft, windows, n_windows: int = N_TAG_CALIBRATION) -> dict:
    """The manifest's `concepts` of a tagger: the probe's calibrated vocabulary, or, for a bare tagger,
    thresholds calibrated (without labels) on windows of the export's real audio."""
    from audioconcept.export.context import run_torch
    from audioconcept.models.tag_concepts import (
        calibrate_thresholds,
        calibration_text,
        concepts_section,
        merge_tags,
        tag_labels,
        vocabulary,
    )

    if ck.concepts:
        return ck.concepts
    labels = tag_labels(ck.label_info, ck.labels)
    x = windows("all", n_chunks=ck.eval_chunks, max_windows=n_windows)
    vocab = vocabulary(labels)
    strengths = merge_tags(run_torch(wave_stft, x)[3], vocab["members"])
    thresholds, evidence = calibrate_thresholds(strengths, vocab["names"])
    text = calibration_text() + f"; calibrated on {len(x)} windows of the export's audio, without labels"
    return concepts_section(labels, thresholds, text, threshold_evidence=evidence)


def _core_manifest(
    cfg: ExportConfig, ck, model, mel_cfg, head, concepts_meta, reference, n_frames: int, context: int = 0
) -> dict:
    from audioconcept.models.checkpoint import checkpoint_sha256
    from audioconcept.models.receptive_field import influential_frames

    sr = int(mel_cfg.sample_rate)
    window = int(round(ck.window_s * sr)) + 2 * context
    # The hop that lets every second of a song reach the logits: bodies whose pooling drops the end of the
    # window (the short-chunk CNN uses 22.6 of its 29.1 s) get overlapping windows.
    used = influential_frames(model.body, mel_cfg.n_mels, n_frames)
    used_s = round(min(ck.window_s, (used - 1) * mel_cfg.hop_length / sr), 2) if used < n_frames else ck.window_s
    hop_s = ck.window_s if used >= n_frames else max(1.0, int(used_s * 10) / 10)
    if context and used >= n_frames:  # song framing: windows tile the song's spectrogram frame by frame
        hop_s = n_frames * mel_cfg.hop_length / sr
    n_classes = len(ck.labels)
    out_specs = [
        {"name": "logits", "shape": ["batch", n_classes], "dtype": "float32"},
        {"name": "probabilities", "shape": ["batch", n_classes], "dtype": "float32"},
        {"name": "embedding", "shape": ["batch", int(reference[2].shape[1])], "dtype": "float32"},
    ]
    if len(reference) > 3:
        nc = int(reference[3].shape[1])
        out_specs += [
            {"name": "concepts", "shape": ["batch", nc], "dtype": "float32"},
            {"name": "concept_frames", "shape": ["batch", nc, int(reference[4].shape[-1])], "dtype": "float32"},
        ]
    return core_manifest(
        name=cfg.name or cfg.out.name,
        arch=ck.arch,
        labels=ck.labels,
        window_s=ck.window_s,
        hop_s=hop_s,
        sample_rate=sr,
        frontend={
            **mel_cfg.to_dict(),
            "context_samples": context,
            "stft_in_graphs": "conv1d with fixed kernels; reflect padding as Slice+Concat"
            if mel_cfg.center
            else "conv1d with fixed kernels; center=False: each window carries context_samples of the song "
            "on both sides (reflect padding only at the song's own edges)",
            "db_in_coreml_onnx": "model.coreml.onnx has no Log op: ln x from 8 square roots, a series and one Halley "
            "step on exp",
        },
        inputs={
            "waveform": {"name": "waveform", "shape": ["batch", window], "dtype": "float32"},
            "mel": {"name": "mel", "shape": ["batch", mel_cfg.n_mels, n_frames], "dtype": "float32"},
        },
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
            **({"genre_heads": ck.genre_heads} if ck.genre_heads else {}),
            **({"provenance": ck.source} if ck.source else {}),
            **({"multi_label": True} if getattr(model.body, "multi_label", False) else {}),
            **({"runtime_hints": MUSICNN_RUNTIME_HINTS} if context else {}),
        },
    )


def _concepts_beside(checkpoint: Path) -> Path | None:
    from audioconcept.models.checkpoint import checkpoint_dir

    d = checkpoint_dir(checkpoint) / "concepts"
    return d if (d / "concepts.json").exists() else None
