"""Checkpoint format: `model.pt` (a CPU state_dict) + `config.json`, loadable on any device."""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audioconcept.errors import CheckpointError
from audioconcept.models.frontend_config import MelConfig
from audioconcept.utils import atomic_write_bytes, atomic_write_json, sha256_file

log = logging.getLogger(__name__)

CONFIG = "config.json"
WEIGHTS = "model.pt"
SKLEARN = "model.joblib"
FORMAT_VERSION = 1


@dataclass
class CheckpointConfig:
    arch: str
    labels: list[str]
    window_s: float
    eval_chunks: int = 1
    arch_config: dict[str, Any] = field(default_factory=dict)
    mel: dict[str, Any] = field(default_factory=lambda: MelConfig().to_dict())
    trained_on: str = ""
    data_seed: int = 0  # seed of the stratified split, so evaluation sees the same test tracks
    metrics: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    source: dict[str, Any] = field(default_factory=dict)  # provenance of imported weights (licence, hashes)
    label_info: list[dict[str, Any]] = field(default_factory=list)  # per label, e.g. a tag's concept and category
    concepts: dict[str, Any] = field(default_factory=dict)  # a tag probe's concept vocabulary and thresholds
    genre_heads: dict[str, Any] = field(default_factory=dict)  # a tag probe's linear genre heads on named tags

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CheckpointConfig:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def checkpoint_dir(path: str | Path) -> Path:
    p = Path(path)
    if p.is_file():
        p = p.parent
    if not (p / CONFIG).exists():
        raise CheckpointError(f"{path}: not a checkpoint (no {CONFIG}); train one or import it with import-checkpoint")
    return p


def read_config(path: str | Path) -> CheckpointConfig:
    d = checkpoint_dir(path)
    try:
        return CheckpointConfig.from_dict(json.loads((d / CONFIG).read_text()))
    except (json.JSONDecodeError, TypeError) as e:
        raise CheckpointError(f"{d / CONFIG}: unreadable checkpoint config ({e})") from None


def weights_file(path: str | Path) -> Path:
    d = checkpoint_dir(path)
    cfg = read_config(d)
    return d / (SKLEARN if cfg.arch == "svm" else WEIGHTS)


def checkpoint_sha256(path: str | Path) -> str:
    return sha256_file(weights_file(path))


def save_torch_checkpoint(out: str | Path, model, cfg: CheckpointConfig) -> Path:
    """Save `model` (an AudioClassifier) with every tensor moved to CPU first."""
    import torch

    out = Path(out)
    state = {k: v.detach().to("cpu").clone() for k, v in model.body.state_dict().items()}
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(out / WEIGHTS, buf.getvalue())
    atomic_write_json(out / CONFIG, cfg.to_dict())
    return out


def load_torch_checkpoint(path: str | Path, frontend_mode: str = "stft"):
    """-> (AudioClassifier in eval mode on CPU, CheckpointConfig). Works whatever device trained it."""
    import torch

    from audioconcept.models.classifier import AudioClassifier
    from audioconcept.models.registry import build_body

    cfg = read_config(path)
    if cfg.arch == "svm":
        raise CheckpointError(f"{path}: an SVM checkpoint; load it with load_svm_checkpoint")
    wfile = checkpoint_dir(path) / WEIGHTS
    try:
        state = torch.load(wfile, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types on corrupt or unsafe files
        raise CheckpointError(f"{wfile}: cannot load weights ({str(e).splitlines()[0]})") from None
    body = build_body(cfg.arch, len(cfg.labels), **cfg.arch_config)
    try:
        body.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(f"{wfile}: weights do not fit {cfg.arch} ({str(e).splitlines()[0]})") from None
    model = AudioClassifier(body, MelConfig.from_dict(cfg.mel), frontend_mode).eval()
    return model, cfg


def save_svm_checkpoint(out: str | Path, pipeline, cfg: CheckpointConfig) -> Path:
    import joblib

    out = Path(out)
    buf = io.BytesIO()
    joblib.dump(pipeline, buf)
    atomic_write_bytes(out / SKLEARN, buf.getvalue())
    atomic_write_json(out / CONFIG, cfg.to_dict())
    return out


def load_svm_checkpoint(path: str | Path):
    """Our own SVM checkpoints are joblib files written by `train`; foreign pickles go through
    `import-checkpoint`, which uses a restricted unpickler."""
    import joblib

    cfg = read_config(path)
    if cfg.arch != "svm":
        raise CheckpointError(f"{path}: not an SVM checkpoint")
    return joblib.load(checkpoint_dir(path) / SKLEARN), cfg


def load_any(path: str | Path, frontend_mode: str = "stft"):
    cfg = read_config(path)
    return load_svm_checkpoint(path) if cfg.arch == "svm" else load_torch_checkpoint(path, frontend_mode)
