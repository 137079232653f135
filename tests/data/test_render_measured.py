"""Measured concepts compute what they claim on signals whose answer is known."""

import numpy as np
import pytest

from audioconcept.models.measured_concepts import (
    AUDIBLE_FLOOR_LUFS,
    MEASURED_CONCEPTS,
    THRESHOLDS,
    chroma_mode,
    estimated_tempo,
    loudness_lufs,
    measure,
    percussive_share,
    spectral_centroid,
    states,
)

SR = 16000

pytest.importorskip("pyloudnorm", reason="pyloudnorm (extra render) is not installed")


def click_track(bpm: float, seconds: float, sr: int = SR) -> np.ndarray:
    y = np.zeros(int(seconds * sr), np.float32)
    n = int(0.01 * sr)
    burst = np.random.default_rng(0).standard_normal(n).astype(np.float32) * np.hanning(n).astype(np.float32)
    for t in np.arange(0, seconds, 60.0 / bpm):
        i = int(t * sr)
        y[i : i + n] += burst[: len(y) - i]
    return 0.5 * y


def sine(freq: float, seconds: float, amp: float = 0.5, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def triad(midi: list[int], seconds: float = 3.0) -> np.ndarray:
    """Harmonic tones (three partials each) of a chord."""
    y = sum(sine(440 * 2 ** ((m - 69) / 12) * k, seconds, amp=0.2 / k) for m in midi for k in (1, 2, 3))
    return np.asarray(y, np.float32)


@pytest.mark.parametrize("bpm", [120.0, 90.0])
def test_tempo_of_a_click_track(bpm):
    # the project's estimator works on frames of 512 samples: its BPM grid near 120 is a few BPM apart
    assert estimated_tempo(click_track(bpm, 12.0), SR) == pytest.approx(bpm, rel=0.04)


def test_tempo_on_one_model_window():
    assert estimated_tempo(click_track(120.0, 2.976), SR) == pytest.approx(120.0, rel=0.04)


def test_loudness_of_a_minus_14_lufs_tone():
    """BS.1770: a full-scale 997 Hz sine in one channel reads -3.01 LUFS, so amplitude A reads -3.01 + 20 log10 A."""
    amp = 10 ** ((-14.0 + 3.01) / 20)
    assert loudness_lufs(sine(997.0, 3.0, amp), SR) == pytest.approx(-14.0, abs=0.1)
    assert loudness_lufs(sine(997.0, 3.0, amp / 10), SR) == pytest.approx(-34.0, abs=0.1)
    assert loudness_lufs(np.zeros(3 * SR, np.float32), SR) == -70.0


@pytest.mark.parametrize("freq", [500.0, 1000.0, 4000.0])
def test_centroid_of_a_sine_is_its_frequency(freq):
    assert spectral_centroid(sine(freq, 3.0), SR) == pytest.approx(freq, rel=0.03)


def test_percussive_share_separates_clicks_from_a_held_tone():
    assert percussive_share(click_track(120.0, 3.0)) > 0.6
    assert percussive_share(sine(440.0, 3.0)) < 0.05


@pytest.mark.parametrize("notes,mode", [([60, 64, 67], "major"), ([57, 60, 64], "minor"), ([62, 65, 69], "minor")])
def test_major_and_minor_triads_from_chroma(notes, mode):
    assert chroma_mode(triad(notes), SR)[0] == mode


def test_states_follow_the_thresholds():
    got = states({"tempo_bpm": 150.0, "loudness_lufs": -30.0, "centroid_hz": 1200.0, "percussive_share": 0.3})
    assert got == {
        "fast": 1,
        "slow": 0,
        "loud": 0,
        "quiet": 1,
        "bright": 0,
        "dark": -1,
        "percussive": 1,
        "harmonic": 0,
    }
    assert set(got) == set(THRESHOLDS)


def test_under_the_audibility_floor_only_the_level_is_measured():
    """The formulas call digital silence and a faint hiss bright and percussive (the centroid and the percussive
    share of a noise floor): a window under the floor has no timbre, tempo or mode, only a level."""
    rng = np.random.default_rng(0)
    hiss = (10 ** (-80 / 20) * rng.standard_normal(3 * SR)).astype(np.float32)
    for y in (np.zeros(3 * SR, np.float32), hiss):
        values = measure(y, SR)
        assert values["loudness_lufs"] < AUDIBLE_FLOOR_LUFS
        got = states({**values, "tempo_bpm": 150.0})
        assert got["quiet"] == 1 and got["loud"] == 0
        assert all(got[c] == 0 for c in MEASURED_CONCEPTS if c not in ("quiet", "loud")), got
    assert spectral_centroid(hiss, SR) > 2000.0  # what the gate is for: the formula alone says "bright"
    # quiet music above the floor keeps its timbre: a -40 LUFS tone at 4 kHz is bright and harmonic
    tone = sine(4000.0, 3.0, amp=10 ** ((-40.0 + 3.01) / 20))
    got = states(measure(tone, SR))
    assert got["quiet"] == 1 and got["bright"] == 1 and got["harmonic"] == 1


def test_loudness_target_is_met_without_clipping():
    from audioconcept.data.render.effects import to_loudness

    rng = np.random.default_rng(0)
    x = (0.05 * rng.standard_normal(3 * SR) * np.repeat(rng.random(30) ** 4, SR // 10)).astype(np.float32)
    quiet, _ = to_loudness(x, SR, -30.0)
    assert loudness_lufs(quiet, SR) == pytest.approx(-30.0, abs=0.1)
    loud, _ = to_loudness(x, SR, -9.0)
    assert float(np.abs(loud).max()) <= 10 ** (-1.0 / 20) + 1e-6
    assert loudness_lufs(loud, SR) > -14.0
