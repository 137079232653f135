"""torch Datasets over track lists: random crops for training, evenly spaced chunks for evaluation."""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch.utils.data import Dataset

from audioconcept import SAMPLE_RATE
from audioconcept.data.audio import fit_window, load_audio
from audioconcept.data.tracks import Track

log = logging.getLogger(__name__)


class AudioCache:
    """Decoded tracks held in memory once (GTZAN is 1000 x 30 s = 2.6 GB of float32)."""

    def __init__(self, tracks: list[Track], max_seconds: float | None = None) -> None:
        self.audio: dict[str, np.ndarray] = {}
        for t in tracks:
            self.audio[str(t.path)] = load_audio(t.path, duration=max_seconds)

    def __getitem__(self, path: str) -> np.ndarray:
        return self.audio[path]


class CropDataset(Dataset):
    def __init__(
        self,
        tracks: list[Track],
        labels: tuple[str, ...],
        window_s: float,
        cache: AudioCache,
        augment=None,
        seed: int = 0,
    ) -> None:
        self.tracks = tracks
        self.labels = labels
        self.window = int(round(window_s * SAMPLE_RATE))
        self.cache = cache
        self.augment = augment
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.tracks)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        t = self.tracks[i]
        x = self.cache[str(t.path)]
        start = int(self.rng.integers(0, max(1, x.size - self.window + 1)))
        seg = fit_window(x[start : start + self.window], self.window)
        if self.augment is not None:
            seg = self.augment(seg)
        return torch.from_numpy(np.ascontiguousarray(seg)), self.labels.index(t.label)


class MelCropDataset(Dataset):
    """Without waveform augmentation the front end runs once per track; training crops the cached mel.

    A crop of whole frames equals the mel of the same waveform crop except at the two edge frames."""

    def __init__(
        self, tracks: list[Track], labels: tuple[str, ...], window_s: float, cache: AudioCache, frontend, seed: int = 0
    ) -> None:
        self.labels = labels
        self.tracks = tracks
        self.n_frames = frontend.cfg.n_frames(int(round(window_s * SAMPLE_RATE)))
        window = int(round(window_s * SAMPLE_RATE))
        with torch.inference_mode():
            self.mels = [
                frontend(
                    torch.from_numpy(
                        fit_window(cache[str(t.path)], window)
                        if cache[str(t.path)].size < window
                        else cache[str(t.path)]
                    )[None]
                )[0]
                for t in tracks
            ]
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.tracks)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        m = self.mels[i]
        start = int(self.rng.integers(0, max(1, m.shape[-1] - self.n_frames + 1)))
        return m[:, start : start + self.n_frames].clone(), self.labels.index(self.tracks[i].label)
