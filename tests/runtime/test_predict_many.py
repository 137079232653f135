"""Windows of consecutive songs share batches; every song gets the same answer as alone."""

from __future__ import annotations

import numpy as np
import pytest

from audioconcept.runtime import SongFailed, load, predict_many


@pytest.fixture(scope="module")
def model(cnn_bundle):
    return load(cnn_bundle, backend="onnx", device="cpu", batch_size=4)


def test_same_answers_as_one_song_at_a_time(tmp_path, model, wav_file):
    songs = [wav_file(s, name=f"s{i}.wav", freq=220.0 * (i + 1)) for i, s in enumerate((3.0, 31.0, 70.0))]
    (tmp_path / "bad.wav").write_bytes(b"RIFF not a wav at all")
    paths = [songs[0], tmp_path / "bad.wav", songs[1], tmp_path / "missing.wav", songs[2]]
    calls = []
    real = model.backend.run
    model.backend.run = lambda x: calls.append(len(x)) or real(x)
    try:
        out = list(predict_many(model, paths))
    finally:
        model.backend.run = real
    assert [type(r).__name__ for r in out] == ["SongResult", "SongFailed", "SongResult", "SongFailed", "SongResult"]
    assert isinstance(out[1], SongFailed) and "bad.wav" in str(out[1].error)
    alone = [model.predict(p) for p in songs]
    for r, a in zip([out[0], out[2], out[4]], alone, strict=True):
        assert r.path == a.path and len(r.windows) == len(a.windows)
        np.testing.assert_allclose([p for _, p in r.genres], [p for _, p in a.genres], atol=1e-6)
    n_windows = sum(len(a.windows) for a in alone)
    assert sum(calls) == n_windows and max(calls) == 4
    assert len(calls) == -(-n_windows // 4), "batches mix windows of consecutive songs"
