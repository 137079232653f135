"""numpy mel front end (torch-free, librosa-free): the same numbers as the torch front end, faster on the CPU.

It reads a front-end dict (MelConfig.to_dict()): by default torchaudio's MelSpectrogram(power=2, htk,
norm=None) + AmplitudeToDB(top_db=None); with mel_scale="slaney", norm="slaney" and
compression="log10(1+C*x)", librosa's melspectrogram (center=True, pad_mode="reflect") followed by
musicnn's log10(1 + 10000 x). Computed with a real FFT in float32.
"""

from __future__ import annotations

import numpy as np

from audioconcept.models.melscale import mel_filterbank

__all__ = ["NumpyMelFrontEnd", "mel_filterbank"]


class NumpyMelFrontEnd:
    def __init__(self, cfg: dict) -> None:
        self.n_fft = int(cfg["n_fft"])
        self.hop = int(cfg["hop_length"])
        self.amin = float(cfg.get("amin", 1e-10))
        self.center = bool(cfg.get("center", True))
        self.compression = str(cfg.get("compression", "db"))
        self.log_c = np.float32(cfg.get("log_c", 10_000.0))
        if self.compression not in ("db", "log10(1+C*x)"):
            raise ValueError(f"unknown mel compression {self.compression!r}")
        fb = mel_filterbank(
            int(cfg["sample_rate"]),
            self.n_fft,
            int(cfg["n_mels"]),
            float(cfg["f_min"]),
            float(cfg["f_max"]),
            str(cfg.get("mel_scale", "htk")),
            cfg.get("norm"),
        )
        self.fb_t = np.ascontiguousarray(fb.T)  # (n_mels, n_freqs)
        n = np.arange(self.n_fft)
        self.window = (0.5 - 0.5 * np.cos(2 * np.pi * n / self.n_fft)).astype(np.float32)  # periodic Hann

    def frames(self, x: np.ndarray) -> np.ndarray:
        p = self.n_fft // 2
        if self.center:
            x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(p, p)], mode="reflect")
        return np.lib.stride_tricks.sliding_window_view(x, self.n_fft, axis=-1)[..., :: self.hop, :]

    def mel_power(self, wav: np.ndarray) -> np.ndarray:
        """(B, T) float32 -> (B, n_mels, frames) mel power (before compression)."""
        wav = np.asarray(wav, dtype=np.float32)
        spec = np.fft.rfft(self.frames(wav) * self.window, axis=-1)  # (B, frames, n_freqs)
        power = (spec.real**2 + spec.imag**2).astype(np.float32)
        return np.matmul(self.fb_t, np.swapaxes(power, -1, -2))  # (B, n_mels, frames)

    def __call__(self, wav: np.ndarray) -> np.ndarray:
        """(B, T) float32 -> (B, n_mels, frames) float32: dB, or log10(1 + C*mel)."""
        mel = self.mel_power(wav)
        if self.compression == "log10(1+C*x)":
            return np.log10(self.log_c * mel + np.float32(1.0)).astype(np.float32)
        return (10.0 * np.log10(np.maximum(mel, self.amin))).astype(np.float32)
