"""Non-music sounds whose truth is exact: rain, surf, wind, running water, fire, traffic rumble, applause, room
tone and near silence, synthesized from noise and random events (no instrument, no voice, no tempo, no key).

They are training negatives for every instrument concept. No score render holds a sound that is not music, and
the probes otherwise take dense random transients for drums and broadband noise for a distorted guitar (rain.wav
and ocean.wav of ../shared/instruments, which stay a validation set and are never trained on). Every clip comes
from its seed alone, so a build is reproducible and resumable."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import signal

SECONDS = (18.0, 27.0)
PER_KIND = 6  # clips of each kind


@dataclass(frozen=True)
class TextureJob:
    clip_id: str
    kind: str
    seed: int
    seconds: float


def _noise(rng: np.random.Generator, n: int, colour: float, sr: int = 22050) -> np.ndarray:
    """Noise with a 1/f**colour power spectrum (0 white, 1 pink, 2 brown) above 25 Hz (nothing below: a brown
    noise's power would sit under the audible range), unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sr)
    spec[f < 25.0] = 0.0
    f[f < 25.0] = 25.0
    x = np.fft.irfft(spec / f ** (colour / 2), n)
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def _band(x: np.ndarray, sr: int, lo: float | None, hi: float | None, order: int = 4) -> np.ndarray:
    nyq = sr / 2
    if lo and hi:
        sos = signal.butter(order, [lo / nyq, min(hi / nyq, 0.99)], "bandpass", output="sos")
    elif lo:
        sos = signal.butter(order, lo / nyq, "highpass", output="sos")
    else:
        sos = signal.butter(order, min(hi / nyq, 0.99), "lowpass", output="sos")
    return signal.sosfilt(sos, x)


def _wander(rng: np.random.Generator, n: int, sr: int, rate_hz: float, lo: float, hi: float) -> np.ndarray:
    """A slow random curve between lo and hi (smoothed noise), one value per sample."""
    k = max(4, int(n / sr * rate_hz) + 2)
    pts = rng.uniform(lo, hi, k)
    return np.interp(np.linspace(0, k - 1, n), np.arange(k), pts)


def _events(rng: np.random.Generator, n: int, sr: int, rate: float, burst_s: tuple[float, float]) -> np.ndarray:
    """Poisson events at `rate` per second, each a short decaying noise burst with a log-normal level."""
    out = np.zeros(n)
    count = rng.poisson(rate * n / sr)
    starts = rng.integers(0, n, count)
    for s in starts:
        length = int(sr * rng.uniform(*burst_s))
        m = min(length, n - s)
        if m <= 1:
            continue
        env = np.exp(-np.arange(m) / (0.25 * length))
        out[s : s + m] += rng.lognormal(0, 0.7) * env * rng.standard_normal(m)
    return out


def rain(rng, n, sr):
    drops = _band(_events(rng, n, sr, rng.uniform(300, 3000), (0.002, 0.012)), sr, rng.uniform(800, 2500), None)
    bed = _band(_noise(rng, n, 1.0, sr), sr, rng.uniform(60, 800), rng.uniform(6000, 10000))
    return drops / (np.std(drops) + 1e-12) + rng.uniform(0.2, 1.2) * bed


def surf(rng, n, sr):
    t = np.arange(n) / sr
    period = rng.uniform(5, 12)
    phase = (t / period + rng.uniform()) % 1.0
    swell = np.where(phase < 0.3, phase / 0.3, np.exp(-(phase - 0.3) / rng.uniform(0.15, 0.4)))
    body = _band(_noise(rng, n, rng.uniform(1.0, 2.0), sr), sr, None, rng.uniform(1500, 5000))
    hiss = _band(_noise(rng, n, 0.0, sr), sr, 2000, None)
    return (0.15 + swell) * body + rng.uniform(0.1, 0.5) * swell**2 * hiss


def wind(rng, n, sr):
    x = _noise(rng, n, 1.0, sr)
    centre = _wander(rng, n, sr, rng.uniform(0.2, 1.0), 200, 1500)
    out = np.zeros(n)
    hop = sr // 10
    for a in range(0, n, hop):  # a band-pass that follows the wandering centre, block by block
        c = centre[a]
        seg = _band(x[max(0, a - hop) : a + hop], sr, c / rng.uniform(1.2, 2.0), c * rng.uniform(1.2, 2.0), 2)
        out[a : a + hop] = seg[-min(hop, n - a) :]
    return out * _wander(rng, n, sr, rng.uniform(0.1, 0.5), 0.2, 1.0)


def water(rng, n, sr):
    """A stream: many small bubbles (short rising tones) over a noise bed."""
    out = np.zeros(n)
    for s in rng.integers(0, n, rng.poisson(rng.uniform(40, 200) * n / sr)):
        m = min(int(sr * rng.uniform(0.004, 0.02)), n - s)
        if m <= 1:
            continue
        f0 = rng.uniform(500, 3500)
        tt = np.arange(m) / sr
        out[s : s + m] += (
            rng.lognormal(0, 0.5)
            * np.exp(-tt / (m / sr / 3))
            * np.sin(2 * np.pi * f0 * tt * (1 + tt * rng.uniform(5, 40)))
        )
    bed = _band(_noise(rng, n, 1.0, sr), sr, 200, 6000)
    return out / (np.std(out) + 1e-12) + rng.uniform(0.3, 1.0) * bed


def fire(rng, n, sr):
    crackle = _band(_events(rng, n, sr, rng.uniform(5, 60), (0.001, 0.006)), sr, 1500, None)
    roar = _band(_noise(rng, n, 2.0, sr), sr, None, rng.uniform(200, 800))
    return crackle / (np.std(crackle) + 1e-12) + rng.uniform(0.3, 1.5) * roar


def traffic(rng, n, sr):
    rumble = _band(_noise(rng, n, 2.0, sr), sr, None, rng.uniform(150, 500))
    rumble *= _wander(rng, n, sr, rng.uniform(0.1, 0.4), 0.3, 1.0)
    t = np.arange(n) / sr
    whoosh = np.zeros(n)
    for c in rng.uniform(0, n / sr, rng.integers(1, 5)):  # passing cars: a broadband swell
        whoosh += np.exp(-(((t - c) / rng.uniform(0.8, 2.5)) ** 2))
    return rumble + rng.uniform(0.3, 1.0) * whoosh * _band(_noise(rng, n, 1.0, sr), sr, 100, 4000)


def applause(rng, n, sr):
    claps = _band(_events(rng, n, sr, rng.uniform(30, 250), (0.004, 0.015)), sr, rng.uniform(600, 1200), 5000)
    return claps * _wander(rng, n, sr, 0.3, 0.4, 1.0)


def room(rng, n, sr):
    """Room tone: faint noise, sometimes with mains hum (50 or 60 Hz and a few harmonics)."""
    x = _band(_noise(rng, n, rng.uniform(0.5, 1.5), sr), sr, 40, rng.uniform(3000, 9000))
    if rng.random() < 0.5:
        t = np.arange(n) / sr
        f = 50.0 if rng.random() < 0.5 else 60.0
        x += rng.uniform(0.05, 0.4) * sum(np.sin(2 * np.pi * f * k * t) / k for k in (1, 2, 3))
    return x


def silence(rng, n, sr):
    """The floor of a recording between songs: a faint hiss, sometimes with mains hum. Its level is set under the
    audibility floor by the caller (FLOOR_LEVELS_DBFS; the quietest store as digital silence or dither)."""
    x = _noise(rng, n, rng.uniform(0.0, 1.5), sr)
    if rng.random() < 0.3:
        t = np.arange(n) / sr
        x += rng.uniform(0.5, 3.0) * np.sin(2 * np.pi * (50.0 if rng.random() < 0.5 else 60.0) * t)
    return x


KINDS: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "rain": rain,
    "surf": surf,
    "wind": wind,
    "water": water,
    "fire": fire,
    "traffic": traffic,
    "applause": applause,
    "room": room,
    "silence": silence,
}
# kinds played under the audibility floor (models.measured_concepts.AUDIBLE_FLOOR_LUFS): RMS range in dBFS
FLOOR_LEVELS_DBFS: dict[str, tuple[float, float]] = {"silence": (-100.0, -55.0)}


def at_level(y: np.ndarray, dbfs: float) -> np.ndarray:
    """`y` scaled to an RMS of `dbfs` (float32)."""
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))
    return (y * (10 ** (dbfs / 20) / rms) if rms > 0 else y).astype(np.float32)


def jobs(seed: int = 0, per_kind: int = PER_KIND) -> list[TextureJob]:
    out = []
    for kind in KINDS:
        for i in range(per_kind):
            s = zlib.crc32(f"{seed}:{kind}:{i}".encode())
            rng = np.random.default_rng(s)
            out.append(TextureJob(f"t-{kind}-{i:02d}", kind, s, round(float(rng.uniform(*SECONDS)), 2)))
    return out


def synthesize(job: TextureJob, sr: int) -> np.ndarray:
    """The clip at `sr`, float32 with a peak of 0.5 (the caller sets its loudness)."""
    rng = np.random.default_rng(job.seed + 1)
    n = int(round(job.seconds * sr))
    y = KINDS[job.kind](rng, n, sr)
    fade = min(n // 4, int(0.05 * sr))
    ramp = np.linspace(0, 1, fade)
    y[:fade] *= ramp
    y[n - fade :] *= ramp[::-1]
    peak = float(np.max(np.abs(y)))
    return (0.5 * y / peak).astype(np.float32) if peak > 0 else y.astype(np.float32)
