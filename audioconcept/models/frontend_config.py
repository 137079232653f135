"""Front-end parameters, shared by the torch modules and the torch-free runtime."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from audioconcept import SAMPLE_RATE


@dataclass(frozen=True)
class MelConfig:
    """torchaudio MelSpectrogram + AmplitudeToDB defaults, as the original project used."""

    sample_rate: int = SAMPLE_RATE
    n_fft: int = 1024
    hop_length: int = 512
    n_mels: int = 128
    f_min: float = 0.0
    f_max: float = SAMPLE_RATE / 2
    power: float = 2.0
    amin: float = 1e-10
    center: bool = True
    pad_mode: str = "reflect"
    window: str = "hann"
    mel_scale: str = "htk"
    norm: str | None = None
    db: str = "power_to_db(ref=1.0, top_db=None)"

    def n_frames(self, n_samples: int) -> int:
        return 1 + n_samples // self.hop_length if self.center else 1 + (n_samples - self.n_fft) // self.hop_length

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> MelConfig:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def mel_filterbank(cfg: MelConfig):
    """(n_freqs, n_mels) float32 HTK filterbank without normalisation (= torchaudio's default)."""
    import librosa
    import numpy as np

    fb = librosa.filters.mel(
        sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.f_min, fmax=cfg.f_max, htk=True, norm=None
    )
    return np.ascontiguousarray(fb.T, dtype=np.float32)
