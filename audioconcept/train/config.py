"""Training settings (frozen, passed in)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class AugmentConfig:
    enabled: bool = True
    polarity_p: float = 0.8
    noise_p: float = 0.3
    noise_snr_db: tuple[float, float] = (15.0, 35.0)
    gain_p: float = 0.3
    gain_db: float = 4.0
    filter_p: float = 0.5
    delay_p: float = 0.3
    stretch_p: float = 0.0  # time stretch is slow on CPU; raise it for long GPU runs


@dataclass(frozen=True)
class TrainConfig:
    model: str
    data: str
    out: Path
    epochs: int = 30
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.15
    patience: int = 8  # epochs without a better validation accuracy before stopping; 0: never stop early
    lr_factor: float = 0.75
    lr_patience: int = 2
    seed: int = 0
    device: str = "auto"
    width: float = 1.0  # vggish only
    time_budget_s: float | None = None
    num_workers: int = 0
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["out"] = str(self.out)
        return d
