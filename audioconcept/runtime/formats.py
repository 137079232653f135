"""The one table of formats and backends. Export, the runtime, the benchmark, the app and the CLI help read it.

A row is one way to run a model: the `--backend` name, the `--formats` flag that writes its artifact, the
manifest key and file of that artifact, what the artifact takes as input, its precision, the parity gate that
admits it into a bundle (and that the benchmark judges it by), the extra it needs at run time, and the model
kinds and devices it supports. Adding a format is one row here plus one `export_<flag>()` in
`audioconcept/export/formats.py`. Torch-free: this module is data.
"""

from __future__ import annotations

from dataclasses import dataclass

from audioconcept.errors import BackendUnavailable

DEVICES = ("auto", "cpu", "cuda", "ane")


@dataclass(frozen=True)
class Gate:
    """Parity against the eager model on real clips: max |Δlogit| (None: recorded, not enforced) and the
    least top-1 agreement."""

    max_abs_logit: float | None = 1e-4
    min_top1_agreement: float = 1.0


FP32 = Gate(1e-4, 1.0)
LOSSY = Gate(None, 0.99)  # int8 and fp16: decisions must agree, logits may move


@dataclass(frozen=True)
class Format:
    backend: str  # --backend name
    export: str | None  # --formats flag that writes the artifact; None: it runs another row's artifact
    artifact: str  # manifest key of the artifact it runs
    file: str  # file name inside the bundle
    engine: str  # which runtime class runs it: onnxruntime | coreml | torch | executorch
    input: str  # what the artifact takes: waveform | mel (fed by the numpy front end) | features (SVM)
    precision: str
    gate: Gate
    extra: str | None  # pip extra it needs at run time (None: the base install)
    kinds: tuple[str, ...]  # model kinds: "torch" (neural nets) and/or "sklearn" (SVM)
    devices: tuple[str, ...]  # devices it runs on ("auto" is always allowed)
    aux: tuple[tuple[str, str], ...] = ()  # further artifacts written with it: (key, file)
    mel_artifact: str | None = None  # the same body taking the mel, fed by the numpy front end on the CPU
    ane_artifact: str | None = None  # the graph for onnxruntime's CoreML execution provider
    summary: str = ""
    deprecated: str = ""  # what replaces a row deprecated upstream; such a row is written only when asked for
    apple_only: bool = False  # runs only on macOS/iOS (exported and spec-checked anywhere)


FORMATS: tuple[Format, ...] = (
    Format(
        backend="onnx",
        export="onnx",
        artifact="onnx",
        file="model.onnx",
        engine="onnxruntime",
        input="waveform",
        precision="fp32",
        gate=FP32,
        extra=None,
        kinds=("torch", "sklearn"),
        devices=("cpu", "cuda", "ane"),
        aux=(("onnx_body", "model.body.onnx"), ("onnx_coreml", "model.coreml.onnx")),
        mel_artifact="onnx_body",
        ane_artifact="onnx_coreml",
        summary="onnxruntime; on the CPU the numpy front end feeds model.body.onnx where that keeps parity; "
        "--device ane runs model.coreml.onnx, whose forms the CoreML execution provider takes in one piece",
    ),
    Format(
        backend="onnx-int8",
        export="int8",
        artifact="onnx_int8",
        file="model.int8.onnx",
        engine="onnxruntime",
        input="waveform",
        precision="int8 body, fp32 front end",
        gate=LOSSY,
        extra=None,
        kinds=("torch",),
        devices=("cpu",),
        aux=(("onnx_int8_body", "model.int8.body.onnx"),),
        mel_artifact="onnx_int8_body",
        summary="static QDQ int8 body; shipped only where it is faster end to end and agrees",
    ),
    Format(
        backend="torchscript",
        export="torchscript",
        artifact="torchscript",
        file="model.ts",
        engine="torch",
        input="waveform",
        precision="fp32",
        gate=FP32,
        extra="train",
        kinds=("torch",),
        devices=("cpu", "cuda"),
        summary="traced TorchScript; deprecated upstream (torch.jit: 'use torch.export instead'): use pt2 on "
        "servers and executorch on devices; written only when asked for (--formats ...,torchscript or --torchscript)",
        deprecated="deprecated upstream: use pt2 or executorch",
    ),
    Format(
        backend="pt2",
        export="pt2",
        artifact="pt2",
        file="model.pt2",
        engine="torch",
        input="waveform",
        precision="fp32",
        gate=FP32,
        extra="train",
        kinds=("torch",),
        devices=("cpu", "cuda"),
        summary="torch.export program",
    ),
    Format(
        backend="torch",
        export=None,
        artifact="pt2",
        file="model.pt2",
        engine="torch",
        input="waveform",
        precision="fp32",
        gate=FP32,
        extra="train",
        kinds=("torch",),
        devices=("cpu", "cuda"),
        summary="eager torch, rebuilt from the weights in model.pt2",
    ),
    Format(
        backend="coreml",
        export="coreml",
        artifact="coreml",
        file="model.mlpackage",
        engine="coreml",
        input="waveform",
        precision="fp16 body, fp32 front end",
        gate=LOSSY,
        extra="coreml",
        kinds=("torch", "sklearn"),  # the SVM exporter records why it cannot convert (see svm_export)
        devices=("cpu", "ane"),
        summary="CoreML mlprogram (iOS16); prediction needs macOS",
    ),
    Format(
        backend="executorch",
        export="executorch",
        artifact="executorch",
        file="model.pte",
        engine="executorch",
        input="mel",
        precision="fp32",
        gate=FP32,
        extra="executorch",
        kinds=("torch",),
        devices=("cpu",),
        summary="ExecuTorch program (PyTorch's on-device format): the mel body lowered to XNNPACK, bounded dynamic "
        "batch, fed by the numpy front end; the same .pte runs in ExecuTorch's C++ runtime on Android, iOS and boards",
    ),
    Format(
        backend="executorch-coreml",
        export="executorch-coreml",
        artifact="executorch_coreml",
        file="model.coreml.pte",
        engine="executorch",
        input="mel",
        precision="fp16",
        gate=LOSSY,
        extra="executorch",
        kinds=("torch",),
        devices=("cpu", "ane"),
        apple_only=True,
        summary="ExecuTorch program with the Core ML delegate (iOS 16 / macOS 13, fp16, batch 1): lowered and "
        "spec-checked on any OS; it runs, and its gate runs, only on Apple hardware",
    ),
)

BACKENDS: tuple[str, ...] = tuple(f.backend for f in FORMATS)
EXPORT_FLAGS: tuple[str, ...] = tuple(f.export for f in FORMATS if f.export)


def get_format(backend: str) -> Format:
    for f in FORMATS:
        if f.backend == backend:
            return f
    raise BackendUnavailable(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")


def format_for_flag(flag: str) -> Format:
    for f in FORMATS:
        if f.export == flag:
            return f
    raise KeyError(flag)


def kind_of(manifest: dict) -> str:
    """'sklearn' for a bundle whose model takes features (the SVM), else 'torch': read from the manifest, so
    the runtime needs no model registry."""
    return "sklearn" if "features" in (manifest.get("inputs") or {}) else "torch"


def formats_for(kind: str) -> tuple[Format, ...]:
    return tuple(f for f in FORMATS if kind in f.kinds)


def export_flags_for(kind: str) -> tuple[str, ...]:
    return tuple(f.export for f in formats_for(kind) if f.export)


def default_export_flags_for(kind: str) -> tuple[str, ...]:
    """What `export` writes when --formats is not given: every row but the deprecated ones."""
    return tuple(f.export for f in formats_for(kind) if f.export and not f.deprecated)


def artifacts_for(backend: str, kind: str) -> tuple[str, ...]:
    """The manifest keys a backend reads (only these are hash-checked before loading)."""
    f = get_format(backend)
    if kind == "sklearn":
        return (f.artifact,)
    return (f.artifact, *(k for k, _ in f.aux))


def help_text(kind: str = "backend") -> str:
    """'onnx | onnx-int8 | …' for the CLI's --backend (deprecated rows say so), or the --formats flags (whose
    help says which are left out by default)."""
    if kind == "backend":
        return " | ".join(f.backend + (f" ({f.deprecated})" if f.deprecated else "") for f in FORMATS)
    return ", ".join(EXPORT_FLAGS)  # with spaces: the help box wraps between flags instead of cutting the list
