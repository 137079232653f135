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
SKLEARN = "model.sklearn.pkl"  # read only through the allowlist unpickler (models/safe_pickle.py)
LEGACY_SKLEARN = "model.joblib"  # before: joblib, which runs whatever the file asks; never loaded
FORMAT_VERSION = 1
MAX_CONFIG_BYTES = 1 << 20


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
    p = d / CONFIG
    if p.stat().st_size > MAX_CONFIG_BYTES:
        raise CheckpointError(f"{p}: {p.stat().st_size} bytes is too large for a checkpoint config")
    try:
        raw = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise CheckpointError(f"{p}: unreadable checkpoint config ({type(e).__name__})") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{p}: the checkpoint config is not a JSON object")
    try:
        cfg = CheckpointConfig.from_dict(raw)
    except TypeError as e:
        raise CheckpointError(f"{p}: unreadable checkpoint config ({e})") from None
    labels_ok = isinstance(cfg.labels, list) and len(cfg.labels) >= 2 and all(isinstance(x, str) for x in cfg.labels)
    window_ok = isinstance(cfg.window_s, int | float) and not isinstance(cfg.window_s, bool) and 0 < cfg.window_s <= 600
    if not isinstance(cfg.arch, str) or not labels_ok or not window_ok:
        raise CheckpointError(f"{p}: arch, labels (>= 2 strings) or window_s (0-600 s) missing or invalid")
    return cfg


def weights_file(path: str | Path) -> Path:
    d = checkpoint_dir(path)
    cfg = read_config(d)
    if cfg.arch == "svm":
        _refuse_legacy_svm(d)
        return d / SKLEARN
    return d / WEIGHTS


def _refuse_legacy_svm(d: Path) -> None:
    """A checkpoint from before the safe format: say how to replace it, load nothing."""
    if not (d / SKLEARN).exists() and (d / LEGACY_SKLEARN).exists():
        raise CheckpointError(
            f"{d}: an old joblib SVM checkpoint, which is not loaded because joblib runs code from the file; "
            f"retrain it (audioconcept train svm --data ... --out DIR) or, if you trust the file, convert it safely "
            f"(audioconcept import-checkpoint {d / LEGACY_SKLEARN} --arch svm NEW_DIR)"
        )


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
    """A pickle that `load_svm_checkpoint` reads through the allowlist (checked before writing)."""
    from audioconcept.models import safe_pickle

    out = Path(out)
    atomic_write_bytes(out / SKLEARN, safe_pickle.dumps(pipeline))
    (out / LEGACY_SKLEARN).unlink(missing_ok=True)
    atomic_write_json(out / CONFIG, cfg.to_dict())
    return out


def load_svm_checkpoint(path: str | Path):
    """-> (pipeline, CheckpointConfig). The file goes through the allowlist unpickler
    (`safe_pickle.TRUSTED_TYPES`): a file that names anything else is refused, nothing runs."""
    from audioconcept.models import safe_pickle

    cfg = read_config(path)
    if cfg.arch != "svm":
        raise CheckpointError(f"{path}: not an SVM checkpoint")
    d = checkpoint_dir(path)
    _refuse_legacy_svm(d)
    f = d / SKLEARN
    if not f.is_file():
        raise CheckpointError(f"{d}: no {SKLEARN} beside {CONFIG}; retrain the SVM or re-import it")
    pipe = safe_pickle.load(f)
    if not (hasattr(pipe, "predict_proba") and hasattr(pipe, "classes_")):
        raise CheckpointError(f"{f}: holds a {type(pipe).__name__}, not a fitted classifier with probabilities")
    return pipe, cfg


def load_any(path: str | Path, frontend_mode: str = "stft"):
    cfg = read_config(path)
    return load_svm_checkpoint(path) if cfg.arch == "svm" else load_torch_checkpoint(path, frontend_mode)
