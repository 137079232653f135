"""Mel front end in torch: `torch.stft` for training, a fixed-kernel Conv1d STFT for export.

Both compute the power mel spectrogram of a MelConfig (by default torchaudio's MelSpectrogram(power=2,
htk, norm=None)) and compress it, by default with AmplitudeToDB(power, top_db=None), or with
log10(1 + C*x) (musicnn); they hold no learned weights, so a checkpoint never depends on which one
is used.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from audioconcept.models.frontend_config import MelConfig, mel_filterbank


def ln_without_log(x: torch.Tensor, sqrt_steps: int = 8) -> torch.Tensor:
    """Natural log of x > 0 from Sqrt, Exp and arithmetic only (onnxruntime's CoreML execution
    provider has no Log op, so a Log node would split the graph).

    x^(1/256) lies within e^(+-0.1) of 1 for x in [1e-10, 1e10], where a 4-term series for
    ln(1 + u) is good to ~4e-3; one Halley step y += 2 (x - e^y) / (x + e^y) then brings it to
    float32 precision (max error 1e-6 over [1e-10, 1e9], the same as torch.log).
    """
    r = x
    for _ in range(sqrt_steps):
        r = torch.sqrt(r)
    u = r - 1.0
    u2 = u * u
    y = (u - 0.5 * u2 + u2 * u / 3.0 - 0.25 * u2 * u2) * float(2**sqrt_steps)
    e = torch.exp(y)
    return y + 2.0 * (x - e) / (x + e)


class MelFrontEnd(nn.Module):
    """`log_impl="native"` uses torch.log10; `"no-log-op"` spells it with ln_without_log, for the
    ONNX graphs that must stay in one piece under onnxruntime's CoreML execution provider."""

    def __init__(self, cfg: MelConfig = MelConfig(), mode: str = "stft", log_impl: str = "native") -> None:
        super().__init__()
        if mode not in ("stft", "conv"):
            raise ValueError("mode must be 'stft' or 'conv'")
        if log_impl not in ("native", "no-log-op"):
            raise ValueError("log_impl must be 'native' or 'no-log-op'")
        self.cfg = cfg
        self.mode = mode
        self.log_impl = log_impl
        n = cfg.n_fft
        window = torch.hann_window(n, periodic=True, dtype=torch.float32)
        self.register_buffer("window", window, persistent=False)
        self.register_buffer("mel_fb_t", torch.from_numpy(mel_filterbank(cfg).T.copy()), persistent=False)
        k = np.arange(n // 2 + 1)[:, None]
        t = np.arange(n)[None, :]
        ang = 2 * math.pi * k * t / n
        w = window.double().numpy()[None, :]
        kern = np.concatenate([np.cos(ang) * w, -np.sin(ang) * w]).astype(np.float32)
        self.register_buffer("stft_kernels", torch.from_numpy(kern)[:, None, :], persistent=False)

    def _reflect_pad(self, x: torch.Tensor) -> torch.Tensor:
        # Reflect padding spelled as Slice + Concat, so ONNX graphs need no Pad(reflect) op
        # (which falls back to CPU under onnxruntime's CoreML execution provider).
        p = self.cfg.n_fft // 2
        left = torch.flip(x[..., 1 : p + 1], dims=[-1])
        right = torch.flip(x[..., -p - 1 : -1], dims=[-1])
        return torch.cat([left, x, right], dim=-1)

    def power_spectrogram(self, wav: torch.Tensor) -> torch.Tensor:
        """(B, T) -> (B, n_freqs, frames)."""
        cfg = self.cfg
        if self.mode == "stft":
            spec = torch.stft(
                wav,
                cfg.n_fft,
                cfg.hop_length,
                window=self.window,
                center=cfg.center,
                pad_mode=cfg.pad_mode,
                return_complex=True,
            )
            return spec.real.pow(2) + spec.imag.pow(2)
        x = self._reflect_pad(wav) if cfg.center else wav
        y = nn.functional.conv1d(x.unsqueeze(1), self.stft_kernels, stride=cfg.hop_length)
        f = cfg.n_fft // 2 + 1
        return y[:, :f].pow(2) + y[:, f:].pow(2)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """(B, T) waveform -> (B, n_mels, frames) dB, or log10(1 + C*mel)."""
        mel = torch.matmul(self.mel_fb_t, self.power_spectrogram(wav))
        if self.cfg.compression == "log10(1+C*x)":
            x = self.cfg.log_c * mel + 1.0
            if self.log_impl == "native":
                return torch.log10(x)
            return (1.0 / math.log(10.0)) * ln_without_log(x)
        mel = torch.clamp(mel, min=self.cfg.amin)
        if self.log_impl == "native":
            return 10.0 * torch.log10(mel)
        return (10.0 / math.log(10.0)) * ln_without_log(mel)
