import numpy as np
import pytest

from audioconcept.data.features_csv import FEATURE_NAMES
from audioconcept.models.features import FeatureCache, batch_features, extract_features, file_features

SR = 22050


def _f(feats, name):
    return feats[FEATURE_NAMES.index(name)]


def test_known_sine_matches_independent_values():
    t = np.arange(5 * SR) / SR
    y = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    f = extract_features(y)
    assert f.shape == (57,) and np.isfinite(f).all()
    # independent expectations for a pure tone
    assert _f(f, "zero_crossing_rate_mean") == pytest.approx(2 * 440 / SR, rel=0.03)
    assert _f(f, "spectral_centroid_mean") == pytest.approx(440, rel=0.05)
    assert _f(f, "rms_mean") == pytest.approx(0.5 / np.sqrt(2), rel=0.05)
    assert _f(f, "harmony_var") + _f(f, "perceptr_var") == pytest.approx(np.var(y), rel=0.1)
    assert _f(f, "harmony_var") > 20 * _f(f, "perceptr_var")  # a steady tone is harmonic
    assert abs(_f(f, "harmony_mean")) < 1e-3
    assert _f(f, "rolloff_mean") < 1000


def test_clicks_are_percussive_and_have_a_tempo():
    y = np.zeros(8 * SR, np.float32)
    period = int(SR * 60 / 120)
    for s in range(0, y.size - 200, period):
        y[s : s + 200] = np.random.default_rng(s).standard_normal(200) * np.exp(-np.arange(200) / 30)
    f = extract_features(y)
    assert _f(f, "perceptr_var") > _f(f, "harmony_var")
    assert _f(f, "tempo") == pytest.approx(120, rel=0.05) or _f(f, "tempo") == pytest.approx(60, rel=0.05)


def test_cache_makes_second_run_free(tmp_path, wav_file, monkeypatch):
    p = wav_file(2.0)
    cache = FeatureCache(tmp_path / "cache")
    a = file_features(p, cache)
    calls = []
    import audioconcept.models.features as F

    monkeypatch.setattr(F, "extract_features", lambda *a, **k: calls.append(1) or np.zeros(57))
    b = batch_features([p], cache, n_jobs=1)
    np.testing.assert_array_equal(a, b[0])
    assert calls == []
