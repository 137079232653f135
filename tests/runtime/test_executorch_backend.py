"""`--backend executorch`: the numpy front end feeds model.pte through ExecuTorch's runtime, and it agrees
with onnx."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow  # the fixtures lower models to ExecuTorch


def test_backend_agrees_with_onnx_on_windows(cnn_pte_bundle, wav_file):
    from audioconcept.runtime.model import load

    song = wav_file(40.0, freq=220.0, name="song.wav")
    et = load(cnn_pte_bundle, backend="executorch", threads=1)
    assert et.backend.name == "executorch" and et.backend.input_kind == "mel"
    low = et.bundle.manifest["artifacts"]["executorch"]["lowering"]
    assert 1 < et.backend.max_batch == low["batch"]["max"] <= 16
    ox = load(cnn_pte_bundle, backend="onnx", threads=1)
    r_et, r_ox = et.predict(song), ox.predict(song)
    assert r_et.genre == r_ox.genre
    for (g1, p1), (g2, p2) in zip(r_et.genres, r_ox.genres, strict=True):
        assert g1 == g2 and p1 == pytest.approx(p2, abs=1e-5)


def test_backend_agrees_with_onnx_on_a_real_clip(real_probe_bundle, real_probe_pte_bundle, shared_clips_dir):
    """The done criterion: the same top genre and the same present concepts on a real song."""
    from audioconcept.runtime.model import load

    clip = shared_clips_dir / "jazz" / "jazz.00005.flac"
    r_ox = load(real_probe_bundle, backend="onnx").predict(clip)
    r_et = load(real_probe_pte_bundle, backend="executorch").predict(clip)
    assert r_et.genre == r_ox.genre
    assert r_et.concepts_present == r_ox.concepts_present and r_et.concepts_present
    for k, v in r_ox.concepts.items():
        assert r_et.concepts[k] == pytest.approx(v, abs=1e-4)


def test_a_bundle_without_pte_says_so(cnn_bundle, executorch_installed):
    from audioconcept.errors import AudioConceptError
    from audioconcept.runtime.backends import make_backend, unavailable_reason
    from audioconcept.runtime.bundle import open_bundle
    from audioconcept.runtime.formats import get_format

    b = open_bundle(cnn_bundle)
    assert "model.pte" in unavailable_reason(get_format("executorch"), "cpu", b)
    with pytest.raises(AudioConceptError, match="executorch"):
        make_backend(b, "executorch", "cpu")


def test_backend_runs_on_the_cpu_only(cnn_pte_bundle):
    from audioconcept.errors import BackendUnavailable
    from audioconcept.runtime.backends import make_backend
    from audioconcept.runtime.bundle import open_bundle

    with pytest.raises(BackendUnavailable, match="runs on cpu"):
        make_backend(open_bundle(cnn_pte_bundle), "executorch", "cuda")


def test_threads_reach_xnnpack(cnn_pte_bundle):
    from audioconcept.runtime.executorch_backend import pybindings
    from audioconcept.runtime.model import load

    load(cnn_pte_bundle, backend="executorch", threads=2)
    assert pybindings()._threadpool_get_thread_count() == 2
    load(cnn_pte_bundle, backend="executorch", threads=1)
    assert pybindings()._threadpool_get_thread_count() == 1
