"""What every neural `export_<format>()` shares: the modules to convert, the parity clips and the eager
reference, the manifest's core, and the temporary bundle folder they write into."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


@dataclass
class FormatResult:
    """What one `export_<format>()` adds to the bundle."""

    artifacts: dict[str, dict] = field(default_factory=dict)
    parity: dict[str, dict] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    manifest: dict = field(default_factory=dict)  # further top-level manifest fields


@dataclass
class NeuralExport:
    cfg: object  # exporter.ExportConfig
    ck: object  # models.checkpoint.CheckpointConfig
    tmp: Path  # the temporary bundle folder
    core: dict  # manifest fields embedded in every artifact
    outs: list[str]  # output names
    wave_stft: object  # eager waveform model (torch.stft front end): the reference
    wave_conv: object  # the same with the Conv1d STFT: what torch.export and CoreML convert
    onnx_front: object  # front end for ONNX (Conv1d STFT)
    onnx_body: object  # body for ONNX as trained (BatchNorm, Resize, Log: what CPU and CUDA run fastest)
    coreml_front: object  # the same front end without a Log op
    coreml_body: object  # the body in forms onnxruntime's CoreML execution provider takes whole
    mel_cfg: object  # models.frontend_config.MelConfig
    data: str  # data spec of the parity and calibration audio
    parity_x: np.ndarray  # (n, window) real test windows
    reference: list[np.ndarray]  # eager outputs on parity_x
    example: object  # torch tensor (2, window)
    example_mel: object  # torch tensor (2, n_mels, frames)
    with_concepts: bool
    runtime_frontend: str = "numpy"  # set by export_onnx: whether the numpy front end keeps parity
    context: int = 0  # samples of the song on each side of a window (song framing; 0: the window alone)
    _onnx_parts: tuple[Path, Path] | None = None
    _coreml_parts: tuple[Path, Path] | None = None

    @property
    def ref_logits(self) -> np.ndarray:
        return self.reference[0]

    @property
    def sample_rate(self) -> int:
        return int(self.mel_cfg.sample_rate)

    def windows(self, split: str, n_chunks: int, n: int, seed: int, make_up_from=("test", "valid", "train")):
        from audioconcept.export.data_windows import split_windows

        return split_windows(
            self.data, split, self.ck.window_s, n_chunks, n, seed, make_up_from, self.sample_rate, self.context
        )

    def onnx_parts(self) -> tuple[Path, Path]:
        """(front end .onnx, body .onnx) as trained, in the temporary folder, converted once for every ONNX row."""
        if self._onnx_parts is None:
            self._onnx_parts = self._write_parts(self.onnx_front, self.onnx_body, "")
        return self._onnx_parts

    def coreml_ep_parts(self) -> tuple[Path, Path]:
        """(front end, body) .onnx in the forms the CoreML execution provider takes in one piece."""
        if self._coreml_parts is None:
            self._coreml_parts = self._write_parts(self.coreml_front, self.coreml_body, ".coreml")
        return self._coreml_parts

    def _write_parts(self, front_module, body_module, tag: str) -> tuple[Path, Path]:
        from audioconcept.export.onnx_export import write_onnx

        log.info("exporting ONNX%s (opset 18, dynamo)", f" ({tag.strip('.')} form)" if tag else "")
        front = self.tmp / f".{tag.strip('.') or 'plain'}.frontend.onnx"
        body = self.tmp / (f".{tag.strip('.')}.body.onnx" if tag else "model.body.onnx")
        write_onnx(front_module, self.example, front, "waveform", ["mel"])
        write_onnx(body_module, self.example_mel, body, "mel", self.outs, self.core)
        return front, body


def run_torch(module, x: np.ndarray, batch: int = 8) -> list[np.ndarray]:
    import torch

    outs: list[list[np.ndarray]] = []
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            o = module(torch.from_numpy(x[i : i + batch]))
            o = o if isinstance(o, tuple | list) else (o,)
            outs.append([t.float().numpy() for t in o])
    return [np.concatenate(parts) for parts in zip(*outs, strict=True)]


def run_onnx(path: Path, feed_name: str, x: np.ndarray, batch: int = 8) -> list[np.ndarray]:
    import onnxruntime as ort

    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outs = [s.run(None, {feed_name: x[i : i + batch]}) for i in range(0, len(x), batch)]
    return [np.concatenate(parts) for parts in zip(*outs, strict=True)]
