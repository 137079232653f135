"""Dependency-free numpy synthesis of the score's instruments.

Each voice is rendered once per (instrument, pitch, duration) and cached for the clip, so
a 30 s clip costs a few hundred array additions.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.signal import lfilter

from audioconcept import SAMPLE_RATE
from audioconcept.data.synth.score import Score

SR = SAMPLE_RATE


def midi_hz(p: float) -> float:
    return 440.0 * 2.0 ** ((p - 69) / 12.0)


def _t(seconds: float) -> np.ndarray:
    return np.arange(max(1, int(seconds * SR)), dtype=np.float32) / SR


def _adsr(n: int, attack: float, release: float) -> np.ndarray:
    env = np.ones(n, dtype=np.float32)
    a = min(n, max(1, int(attack * SR)))
    r = min(n - a, max(1, int(release * SR))) if n > a else 0
    env[:a] = np.linspace(0, 1, a, dtype=np.float32)
    if r > 0:
        env[n - r :] *= np.linspace(1, 0, r, dtype=np.float32)
    return env


def _additive(
    f0: float,
    t: np.ndarray,
    amps: np.ndarray,
    decays: np.ndarray | None = None,
    inharm: float = 0.0,
    detune_cents: float = 0.0,
    phase_seed: int = 0,
) -> np.ndarray:
    out = np.zeros_like(t)
    rng = np.random.default_rng(phase_seed)
    for k, a in enumerate(amps, start=1):
        f = f0 * k * np.sqrt(1.0 + inharm * k * k) * 2 ** (detune_cents / 1200)
        if f >= SR / 2 * 0.95:
            break
        partial = a * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
        if decays is not None:
            partial *= np.exp(-decays[k - 1] * t)
        out += partial.astype(np.float32)
    return out


def _noise(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n).astype(np.float32)


def _onepole_lp(x: np.ndarray, cutoff: float) -> np.ndarray:
    a = np.exp(-2 * np.pi * cutoff / SR)
    return lfilter([1 - a], [1, -a], x).astype(np.float32)


@lru_cache(maxsize=4096)
def voice(instrument: str, pitch: int, dur_ms: int) -> np.ndarray:
    """One note, normalised to a peak near 1, shaped for `instrument`."""
    dur = dur_ms / 1000.0
    if instrument == "kick":
        t = _t(0.35)
        f = 45 + 95 * np.exp(-t * 35)
        x = np.sin(2 * np.pi * np.cumsum(f) / SR) * np.exp(-t * 9)
        x[: int(0.002 * SR)] += 0.5 * _noise(int(0.002 * SR), 1)
        return x.astype(np.float32)
    if instrument in ("snare", "rim"):
        t = _t(0.25 if instrument == "snare" else 0.08)
        n = _noise(t.size, 2)
        n = np.diff(n, prepend=0.0).astype(np.float32) * 0.5
        body = np.sin(2 * np.pi * (190 if instrument == "snare" else 420) * t)
        return (0.8 * n * np.exp(-t * 18) + 0.6 * body * np.exp(-t * 30)).astype(np.float32)
    if instrument in ("hat_closed", "hat_open"):
        t = _t(0.06 if instrument == "hat_closed" else 0.3)
        n = _noise(t.size, 3)
        n = np.diff(np.diff(n, prepend=0.0), prepend=0.0).astype(np.float32) * 0.3
        return (n * np.exp(-t * (70 if instrument == "hat_closed" else 9))).astype(np.float32)
    if instrument == "clap":
        t = _t(0.2)
        n = np.diff(_noise(t.size, 5), prepend=0.0).astype(np.float32)
        env = sum(np.exp(-np.clip(t - d, 0, None) * 60) * (t >= d) for d in (0.0, 0.008, 0.016))
        return (0.5 * n * env).astype(np.float32)
    if instrument == "crash":
        t = _t(1.2)
        n = np.diff(_noise(t.size, 6), prepend=0.0).astype(np.float32)
        return (0.35 * n * np.exp(-t * 3)).astype(np.float32)
    if instrument == "ride":
        t = _t(0.8)
        partials = sum(np.sin(2 * np.pi * f * t) for f in (3150.0, 4320.0, 5370.0, 6810.0, 8230.0))
        n = np.diff(_noise(t.size, 4), prepend=0.0) * 0.15
        return (0.25 * (partials + n) * np.exp(-t * 5)).astype(np.float32)
    f0 = midi_hz(pitch)
    t = _t(dur)
    n = t.size
    if instrument == "bass":
        x = _additive(f0, t, np.array([1.0, 0.45, 0.2, 0.08]), np.array([2.5, 3.5, 5.0, 7.0]))
        return x * _adsr(n, 0.006, 0.03)
    if instrument == "piano":
        k = np.arange(1, 13)
        x = _additive(f0, t, 1.0 / k**1.4, 1.2 + 0.9 * k, inharm=3e-4, phase_seed=pitch)
        x[: int(0.004 * SR)] *= np.linspace(0, 1, int(0.004 * SR))
        return x * _adsr(n, 0.002, 0.05)
    if instrument == "strings":
        k = np.arange(1, 24)
        vib = 1 + 0.004 * np.sin(2 * np.pi * 5.2 * t)
        tv = np.cumsum(vib) / SR
        x = 0.5 * _additive(f0, tv.astype(np.float32), 1.0 / k, detune_cents=-6, phase_seed=pitch)
        x += 0.5 * _additive(f0, tv.astype(np.float32), 1.0 / k, detune_cents=6, phase_seed=pitch + 1)
        x = _onepole_lp(x, 2500.0)
        return x * _adsr(n, 0.35, 0.3)
    if instrument == "dist_guitar":
        k = np.arange(1, 30)
        x = _additive(f0, t, 1.0 / k, np.full(k.size, 1.5), phase_seed=pitch)
        x = np.tanh(9.0 * x / (np.abs(x).max() + 1e-9))
        x = _onepole_lp(x.astype(np.float32), 3200.0)
        return x * _adsr(n, 0.003, 0.02)
    if instrument == "skank":
        k = np.arange(1, 16)
        x = _additive(f0, t, 1.0 / k**0.9, 8.0 + 2 * k, phase_seed=pitch)
        return x * _adsr(n, 0.002, 0.02)
    if instrument == "organ":
        x = _additive(f0, t, np.array([1.0, 0.6, 0.0, 0.4, 0.0, 0.25, 0.0, 0.2]), phase_seed=pitch)
        return x * _adsr(n, 0.02, 0.08)
    if instrument == "clean_guitar":
        k = np.arange(1, 18)
        x = _additive(f0, t, 1.0 / k**1.1, 2.0 + 1.6 * k, inharm=1e-4, phase_seed=pitch)
        return x * _adsr(n, 0.002, 0.03)
    if instrument == "pluck":
        k = np.arange(1, 14)
        amps = np.where(k % 2 == 1, 1.0 / k, 0.3 / k)
        x = _additive(f0, t, amps, 6.0 + 1.5 * k, phase_seed=pitch)
        return x * _adsr(n, 0.002, 0.03)
    if instrument == "lead":
        vib = 1 + 0.006 * np.sin(2 * np.pi * 5.5 * t) * np.clip(t / 0.2, 0, 1)
        tv = (np.cumsum(vib) / SR).astype(np.float32)
        k = np.arange(1, 10)
        amps = np.where(k % 2 == 1, 1.0 / k**2, 0.15 / k**2)
        x = _additive(f0, tv, amps, phase_seed=pitch)
        return x * _adsr(n, 0.02, 0.06)
    raise ValueError(f"unknown instrument {instrument!r}")


GAINS = {
    "kick": 0.9,
    "snare": 0.55,
    "rim": 0.35,
    "hat_closed": 0.25,
    "hat_open": 0.2,
    "ride": 0.2,
    "bass": 0.5,
    "piano": 0.22,
    "strings": 0.16,
    "dist_guitar": 0.22,
    "skank": 0.25,
    "organ": 0.1,
    "clean_guitar": 0.12,
    "lead": 0.22,
    "clap": 0.45,
    "crash": 0.25,
    "pluck": 0.15,
}


def render_numpy(score: Score, sr: int = SR) -> np.ndarray:
    """Render a score to mono float32 audio of exactly `spec.seconds`."""
    if sr != SR:
        raise ValueError(f"the numpy renderer runs at {SR} Hz")
    n_total = int(round(score.spec.seconds * sr))
    out = np.zeros(n_total + sr, dtype=np.float32)  # one second of tail room
    rng = np.random.default_rng(score.spec.seed)
    for note in score.notes:
        v = voice(note.instrument, note.pitch, int(round(note.dur * 1000)))
        s = int(round(note.start * sr))
        if s >= n_total:
            continue
        e = min(s + v.size, out.size)
        # per-note jitter that depends only on the note, so adding a layer leaves the others untouched
        jitter = np.sin(12.9898 * note.start * 1000 + 78.233 * note.pitch + score.spec.seed % 1000) * 43758.5453
        vel = note.velocity * GAINS[note.instrument] * (1.0 + 0.16 * ((jitter % 1.0) - 0.5))
        out[s:e] += vel * v[: e - s]
    out = out[:n_total]
    out += 1e-4 * rng.standard_normal(n_total).astype(np.float32)  # room noise floor
    peak = float(np.abs(out).max()) or 1.0
    return (out * (rng.uniform(0.5, 0.95) / peak)).astype(np.float32)
