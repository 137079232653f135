import numpy as np
import pytest

from audioconcept.models.dsp.hpss import harmonic_mask, hpss_audio, hpss_mask
from audioconcept.models.dsp.stft import stft

SR = 22050


def _mix(seconds=4.0):
    t = np.arange(int(seconds * SR)) / SR
    y = 0.3 * np.sin(2 * np.pi * 440 * t)
    for s in range(0, t.size - 200, SR // 2):
        y[s : s + 200] += np.random.default_rng(s).standard_normal(200) * np.exp(-np.arange(200) / 20)
    return y.astype(np.float32)


def test_masks_split_silence_evenly_and_sum_to_one():
    h = np.array([[0.0, 1.0, 2.0]], np.float32)
    p = np.array([[0.0, 1.0, 0.0]], np.float32)
    np.testing.assert_allclose(harmonic_mask(h, p), [[0.5, 0.5, 1.0]])


def test_tone_is_harmonic_clicks_are_percussive():
    y = _mix()
    spec = stft(y)
    harmonic, percussive = hpss_audio(y, spec, np.abs(spec))
    np.testing.assert_allclose(harmonic + percussive, y, atol=1e-6)
    clicks = np.zeros_like(y, bool)
    for s in range(0, y.size - 200, SR // 2):
        clicks[s : s + 200] = True
    assert np.var(percussive[clicks]) > 5 * np.var(percussive[~clicks])
    assert np.var(harmonic) > 5 * np.var(percussive[~clicks])


def test_match_librosa():
    librosa = pytest.importorskip("librosa")
    y = _mix()
    spec = stft(y)
    mask_h, _ = librosa.decompose.hpss(np.abs(spec).T, mask=True)
    np.testing.assert_allclose(hpss_mask(np.abs(spec)), mask_h.T, atol=1e-6)
    harmonic, percussive = hpss_audio(y, spec, np.abs(spec))
    ref_h, ref_p = librosa.effects.hpss(y)
    np.testing.assert_allclose(harmonic, ref_h, atol=2e-6)
    np.testing.assert_allclose(percussive, ref_p, atol=2e-6)
