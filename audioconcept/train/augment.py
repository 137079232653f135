"""Waveform augmentations of the original recipe, built from audiomentations where it has them."""

from __future__ import annotations

import numpy as np

from audioconcept import SAMPLE_RATE
from audioconcept.train.config import AugmentConfig


class Delay:
    """A single echo (40-200 ms, -6 to -12 dB), as in torchaudio-augmentations' Delay."""

    def __init__(self, p: float) -> None:
        self.p = p

    def __call__(self, samples: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        if rng.random() >= self.p:
            return samples
        d = int(rng.uniform(0.04, 0.2) * sample_rate)
        gain = 10 ** (rng.uniform(-12, -6) / 20)
        out = samples.copy()
        out[d:] += gain * samples[:-d]
        return out


class Augmenter:
    def __init__(self, cfg: AugmentConfig, seed: int = 0) -> None:
        import audiomentations as A

        self.cfg = cfg
        self.rng = np.random.default_rng(seed)
        self.chain = A.Compose(
            [
                A.PolarityInversion(p=cfg.polarity_p),
                A.AddGaussianSNR(min_snr_db=cfg.noise_snr_db[0], max_snr_db=cfg.noise_snr_db[1], p=cfg.noise_p),
                A.Gain(min_gain_db=-cfg.gain_db, max_gain_db=cfg.gain_db, p=cfg.gain_p),
                A.OneOf(
                    [
                        A.HighPassFilter(min_cutoff_freq=200, max_cutoff_freq=1200, p=1.0),
                        A.LowPassFilter(min_cutoff_freq=2200, max_cutoff_freq=4000, p=1.0),
                    ],
                    p=cfg.filter_p,
                ),
                *(
                    [A.TimeStretch(min_rate=0.9, max_rate=1.1, leave_length_unchanged=True, p=cfg.stretch_p)]
                    if cfg.stretch_p > 0
                    else []
                ),
            ]
        )
        self.delay = Delay(cfg.delay_p)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if not self.cfg.enabled:
            return x
        y = self.chain(samples=x.astype(np.float32), sample_rate=SAMPLE_RATE)
        y = self.delay(y, SAMPLE_RATE, self.rng)
        peak = float(np.abs(y).max())
        return (y / peak if peak > 1.0 else y).astype(np.float32)
