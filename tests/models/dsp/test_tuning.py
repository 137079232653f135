import numpy as np
import pytest

from audioconcept.models.dsp.stft import stft
from audioconcept.models.dsp.tuning import estimate_tuning

SR = 22050


def _power(y):
    mag = np.abs(stft(y))
    return mag * mag


@pytest.mark.parametrize("cents", [0, 23, -31])
def test_a_detuned_chord_gives_its_offset(cents):
    t = np.arange(3 * SR) / SR
    y = sum(np.sin(2 * np.pi * f * 2 ** (cents / 1200) * t) for f in (220.0, 277.18, 329.63, 440.0))
    est = estimate_tuning(_power((0.2 * y).astype(np.float32)), SR, 2048)
    assert est == pytest.approx(cents / 100, abs=0.03)


def test_silence_has_no_tuning():
    assert estimate_tuning(np.zeros((20, 1025), np.float32), SR, 2048) == 0.0


def test_matches_librosa_on_noise_and_tones():
    librosa = pytest.importorskip("librosa")
    rng = np.random.default_rng(0)
    t = np.arange(4 * SR) / SR
    y = (0.3 * np.sin(2 * np.pi * 311 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    p = _power(y)
    assert estimate_tuning(p, SR, 2048) == librosa.estimate_tuning(S=p.T, sr=SR)
