"""Effects (pedalboard), levels and the mix of a render."""

from __future__ import annotations

import numpy as np

from audioconcept.errors import MissingExtra

Effect = tuple[str, dict]


def _plugins(name: str, p: dict) -> list:
    try:
        import pedalboard as pb
    except ImportError as e:
        raise MissingExtra("pedalboard", "render", "effects on concept audio") from e
    if name == "distortion":  # an amp: drive, then a tone control that takes the fizz off
        return [pb.HighpassFilter(90.0), pb.Distortion(drive_db=p["drive_db"]), pb.LowpassFilter(p["tone_hz"])]
    if name == "peak_eq":
        return [pb.PeakFilter(cutoff_frequency_hz=p["hz"], gain_db=p["gain_db"], q=p["q"])]
    if name == "low_shelf":
        return [pb.LowShelfFilter(cutoff_frequency_hz=p["hz"], gain_db=p["gain_db"])]
    if name == "high_shelf":
        return [pb.HighShelfFilter(cutoff_frequency_hz=p["hz"], gain_db=p["gain_db"])]
    if name == "compressor":
        return [pb.Compressor(threshold_db=p["threshold_db"], ratio=p["ratio"], attack_ms=5.0, release_ms=100.0)]
    if name == "reverb":
        return [pb.Reverb(room_size=p["room"], damping=p["damping"], wet_level=p["wet"], dry_level=1.0 - p["wet"] / 2)]
    raise ValueError(f"unknown effect {name!r}")


def apply(x: np.ndarray, sr: int, effects: tuple[Effect, ...] | list[Effect]) -> np.ndarray:
    if not effects or not np.any(x):
        return x.astype(np.float32)
    import pedalboard as pb

    board = pb.Pedalboard([plug for name, p in effects for plug in _plugins(name, p)])
    return board(np.asarray(x, dtype=np.float32), float(sr), reset=True).astype(np.float32)


def db(x: float) -> float:
    return float(20 * np.log10(x)) if x > 0 else float("-inf")


def integrated_lufs(x: np.ndarray, sr: int) -> float:
    """ITU-R BS.1770 integrated loudness (pyloudnorm); -inf for silence or audio under its 0.4 s block."""
    try:
        import pyloudnorm
    except ImportError as e:
        raise MissingExtra("pyloudnorm", "render", "loudness of concept audio") from e
    x = np.asarray(x, dtype=np.float64)
    if x.size < int(0.4 * sr) or not np.any(x):
        return float("-inf")
    return float(pyloudnorm.Meter(sr).integrated_loudness(x))


def to_loudness(x: np.ndarray, sr: int, target_lufs: float, ceiling_db: float = -1.0) -> tuple[np.ndarray, float]:
    """`x` scaled to `target_lufs`; peaks over `ceiling_db` go through a limiter (as a mastering engineer's would),
    so loud targets stay loud instead of being scaled back down. Returns the audio and the gain in dB."""
    lufs = integrated_lufs(x, sr)
    if not np.isfinite(lufs):
        return x.astype(np.float32), 0.0
    gain = 10 ** ((target_lufs - lufs) / 20)
    y = (x * gain).astype(np.float32)
    if float(np.abs(y).max()) > 10 ** (ceiling_db / 20):
        import pedalboard as pb

        y = pb.Limiter(threshold_db=ceiling_db - 0.5, release_ms=80.0)(y, float(sr), reset=True)
        peak, ceiling = float(np.abs(y).max()), 10 ** (ceiling_db / 20)
        if peak > ceiling:  # the limiter has no look-ahead: scale what still overshoots, never clip
            y = y * (ceiling / peak)
        y = y.astype(np.float32)
    return y, db(gain)
