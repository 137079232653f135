"""Layer activations and gradients of a torch model, pooled over time."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from audioconcept import SAMPLE_RATE
from audioconcept.data.audio import evenly_spaced_starts, fit_window, load_audio
from audioconcept.models.outputs import pool_time


def model_sample_rate(model) -> int:
    """The sample rate a waveform model's front end expects."""
    return int(getattr(getattr(getattr(model, "frontend", None), "cfg", None), "sample_rate", SAMPLE_RATE))


def clip_window(path: Path, window: int, sr: int = SAMPLE_RATE) -> np.ndarray:
    """The central window of a clip (looped when shorter)."""
    x = load_audio(path, sr=sr)
    s = evenly_spaced_starts(x.size, window, 3)[1] if x.size > window else 0
    return fit_window(x[s : s + window], window)


def pooled_activations(
    model, paths: Sequence[Path], layers: Sequence[str], window: int, batch: int = 8
) -> dict[str, np.ndarray]:
    """layer -> (n_clips, dim) time-pooled activations."""
    out: dict[str, list[np.ndarray]] = {lay: [] for lay in layers}
    sr = model_sample_rate(model)
    with torch.inference_mode():
        for i in range(0, len(paths), batch):
            x = torch.from_numpy(np.stack([clip_window(p, window, sr) for p in paths[i : i + batch]]))
            _, acts = model.forward_layers(x)
            for lay in layers:
                out[lay].append(pool_time(acts[lay]).numpy())
    return {lay: np.concatenate(v) for lay, v in out.items()}


def pooled_gradients(
    model, x: np.ndarray, class_index: int, layers: Sequence[str], batch: int = 8
) -> dict[str, np.ndarray]:
    """d logit[class] / d activation, summed over time and flattened like `pool_time`:
    the derivative along a CAV v (added to every time frame) is then `grad . v`."""
    out: dict[str, list[np.ndarray]] = {lay: [] for lay in layers}
    for i in range(0, len(x), batch):
        xb = torch.from_numpy(x[i : i + batch])
        logits, acts = model.forward_layers(xb)
        grads = torch.autograd.grad(logits[:, class_index].sum(), [acts[lay] for lay in layers])
        for lay, g in zip(layers, grads, strict=True):
            out[lay].append((g.sum(dim=-1).flatten(1) if g.ndim == 4 else g).detach().numpy())
    return {lay: np.concatenate(v) for lay, v in out.items()}
