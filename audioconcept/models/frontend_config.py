"""Front-end parameters, shared by the torch modules and the torch-free runtime.

One config describes both front ends in use:
- the default: torchaudio's MelSpectrogram (HTK scale, no norm) + AmplitudeToDB, as the original
  project used (`compression="db"`);
- musicnn's: librosa's melspectrogram defaults (Slaney scale and norm) at 16 kHz, then
  log10(1 + C*x) with C = 10 000 (`compression="log10(1+C*x)"`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from audioconcept import SAMPLE_RATE
from audioconcept.errors import AudioConceptError

COMPRESSIONS = ("db", "log10(1+C*x)")


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
    mel_scale: str = "htk"  # "htk" | "slaney"
    norm: str | None = None  # None | "slaney"
    db: str = "power_to_db(ref=1.0, top_db=None)"  # describes compression="db"
    compression: str = "db"  # "db": 10 log10(max(x, amin)) | "log10(1+C*x)"
    log_c: float = 10_000.0  # C of "log10(1+C*x)"

    def __post_init__(self) -> None:
        from audioconcept.models.melscale import check_mel_options

        if self.compression not in COMPRESSIONS:
            choices = ", ".join(COMPRESSIONS)
            raise AudioConceptError(f"mel compression must be one of {choices}, not {self.compression!r}")
        try:
            check_mel_options(self.mel_scale, self.norm)
        except ValueError as e:
            raise AudioConceptError(str(e)) from None
        if self.pad_mode != "reflect" or self.window != "hann" or self.power != 2.0:
            raise AudioConceptError("the mel front end supports pad_mode='reflect', window='hann' and power=2 only")

    def n_frames(self, n_samples: int) -> int:
        return 1 + n_samples // self.hop_length if self.center else 1 + (n_samples - self.n_fft) // self.hop_length

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> MelConfig:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def mel_filterbank(cfg: MelConfig):
    """(n_freqs, n_mels) float32 filterbank of `cfg` (HTK without norm = torchaudio's default;
    Slaney with Slaney norm = librosa's default)."""
    from audioconcept.models.melscale import mel_filterbank as fb

    return fb(cfg.sample_rate, cfg.n_fft, cfg.n_mels, float(cfg.f_min), float(cfg.f_max), cfg.mel_scale, cfg.norm)


def song_framing(cfg: MelConfig) -> tuple[MelConfig, int]:
    """-> (front end, context samples) that frame a window exactly like the whole song's center=True
    spectrogram: center=False on the window plus n_fft / 2 samples of the song on both sides."""
    return replace(cfg, center=False), cfg.n_fft // 2
