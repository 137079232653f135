import numpy as np
import pytest

from audioconcept.models.dsp.filterbanks import mel_filterbank, power_to_db
from audioconcept.models.dsp.stft import stft
from audioconcept.models.dsp.tempo import _next_fast_len, onset_strength, tempo, tempogram_mean

SR = 22050


def _clicks(bpm: float, seconds: float = 12.0) -> np.ndarray:
    y = np.zeros(int(seconds * SR), np.float32)
    period = int(SR * 60 / bpm)
    for s in range(0, y.size - 300, period):
        y[s : s + 300] = np.random.default_rng(s).standard_normal(300) * np.exp(-np.arange(300) / 40)
    return y


def _env(y):
    mag = np.abs(stft(y))
    return onset_strength(power_to_db((mag * mag) @ mel_filterbank(SR, 2048).T))


@pytest.mark.parametrize("bpm", [90, 120, 150])
def test_click_trains(bpm):
    assert tempo(_env(_clicks(bpm)), SR) == pytest.approx(bpm, rel=0.04)


def test_next_fast_len_is_5_smooth():
    fft = pytest.importorskip("scipy.fft")
    for n in (1, 7, 687, 1000, 1025, 4097):
        assert _next_fast_len(n) == fft.next_fast_len(n, real=True)


def test_onset_envelope_and_tempogram_match_librosa():
    librosa = pytest.importorskip("librosa")
    y = _clicks(110) + 0.01 * np.random.default_rng(0).standard_normal(12 * SR).astype(np.float32)
    env = _env(y)
    ref_env = librosa.onset.onset_strength(y=y, sr=SR)
    np.testing.assert_allclose(env, ref_env, rtol=1e-4, atol=1e-4)
    ref_tg = librosa.feature.tempogram(onset_envelope=env, sr=SR, win_length=344).mean(axis=1)
    np.testing.assert_allclose(tempogram_mean(env, 344), ref_tg, atol=1e-12)
    assert tempo(env, SR) == float(librosa.feature.tempo(onset_envelope=env, sr=SR)[0])
