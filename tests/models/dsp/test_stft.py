import numpy as np
import pytest

from audioconcept.models.dsp.stft import hann, istft, n_frames, stft


def test_hann_is_scipys_periodic_window():
    signal = pytest.importorskip("scipy.signal")
    for n in (344, 2048):
        np.testing.assert_allclose(hann(n), signal.get_window("hann", n, fftbins=True), rtol=0, atol=1e-15)


def test_stft_round_trip_and_frame_count():
    rng = np.random.default_rng(0)
    for n in (2048, 5000, 22050):
        y = (0.3 * rng.standard_normal(n)).astype(np.float32)
        spec = stft(y)
        assert spec.shape == (n_frames(n), 1025) and spec.dtype == np.complex64
        np.testing.assert_allclose(istft(spec, n), y, atol=2e-6)


def test_stft_and_istft_match_librosa():
    librosa = pytest.importorskip("librosa")
    y = (0.3 * np.random.default_rng(1).standard_normal(30000)).astype(np.float32)
    spec = stft(y)
    np.testing.assert_array_equal(spec, librosa.stft(y).T)
    masked = spec * np.linspace(0, 1, spec.shape[1], dtype=np.float32)
    np.testing.assert_allclose(istft(masked, y.size), librosa.istft(masked.T, length=y.size), atol=1e-6)
