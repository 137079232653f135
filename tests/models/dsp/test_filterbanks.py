import numpy as np
import pytest

from audioconcept.models.dsp.filterbanks import chroma_filterbank, dct_matrix, mel_filterbank, power_to_db


def test_filterbanks_match_librosa():
    librosa = pytest.importorskip("librosa")
    np.testing.assert_allclose(mel_filterbank(22050, 2048), librosa.filters.mel(sr=22050, n_fft=2048), rtol=1e-6)
    for tuning in (0.0, -0.23, 0.41):
        np.testing.assert_allclose(
            chroma_filterbank(22050, 2048, tuning),
            librosa.filters.chroma(sr=22050, n_fft=2048, tuning=tuning),
            rtol=1e-6,
            atol=1e-9,
        )


def test_dct_is_orthonormal_dct2():
    fft = pytest.importorskip("scipy.fft")
    x = np.random.default_rng(0).standard_normal(128)
    np.testing.assert_allclose(dct_matrix(20, 128) @ x, fft.dct(x, type=2, norm="ortho")[:20], atol=1e-12)
    full = dct_matrix(16, 16)
    np.testing.assert_allclose(full @ full.T, np.eye(16), atol=1e-12)


def test_power_to_db_floors_80_db_below_the_peak():
    db = power_to_db(np.array([1.0, 1e-3, 1e-12], np.float32))
    np.testing.assert_allclose(db, [0.0, -30.0, -80.0], atol=1e-4)


def test_mel_spectrogram_equals_the_filterbank_product():
    from audioconcept.models.dsp.filterbanks import mel_spectrogram

    power = (np.random.default_rng(0).random((50, 1025)) ** 4).astype(np.float32)
    ref = power.astype(np.float64) @ mel_filterbank(22050, 2048).T.astype(np.float64)
    np.testing.assert_allclose(mel_spectrogram(power, 22050, 2048), ref, rtol=2e-5, atol=1e-9)
    np.testing.assert_allclose(
        mel_spectrogram(power[:, :513], 22050, 1024, 64),
        power[:, :513] @ mel_filterbank(22050, 1024, 64).T,
        rtol=2e-5,
        atol=1e-9,
    )
