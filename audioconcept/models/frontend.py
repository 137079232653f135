"""Mel front end in torch: `torch.stft` for training, a fixed-kernel Conv1d STFT for export.

Both compute torchaudio's MelSpectrogram(power=2, htk, norm=None) followed by
AmplitudeToDB(power, top_db=None); they hold no learned weights, so a checkpoint never
depends on which one is used.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from audioconcept.models.frontend_config import MelConfig, mel_filterbank


class MelFrontEnd(nn.Module):
    def __init__(self, cfg: MelConfig = MelConfig(), mode: str = "stft") -> None:
        super().__init__()
        if mode not in ("stft", "conv"):
            raise ValueError("mode must be 'stft' or 'conv'")
        self.cfg = cfg
        self.mode = mode
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
        """(B, T) waveform -> (B, n_mels, frames) dB."""
        power = self.power_spectrogram(wav)
        mel = torch.matmul(self.mel_fb_t, power)
        return 10.0 * torch.log10(torch.clamp(mel, min=self.cfg.amin))
