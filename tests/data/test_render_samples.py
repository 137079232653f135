"""The sampled source of the concept audio: recorded notes, shifted to each note's pitch, other programs through a
fallback soundfont; its jobs come from a generator of their own and never reach the held-out test pieces."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioconcept.data.render.samples import (
    PACKAGE,
    PROGRAM_INSTRUMENT,
    SAMPLES_DIR,
    SampleRenderer,
    pitch_of,
    samples_available,
)
from audioconcept.errors import AudioConceptError

SR = 22050


def _fundamental(y: np.ndarray, sr: int = SR) -> float:
    """The strongest spectral peak below 1.5 kHz of a steady stretch (the fake notes are pure tones)."""
    seg = y[:16384] * np.hanning(min(16384, y.size))
    spec = np.abs(np.fft.rfft(seg, 65536))
    f = np.fft.rfftfreq(65536, 1 / sr)
    spec[f > 1500] = 0
    return float(f[np.argmax(spec)])


def _fake_library(root: Path, notes=("A4", "C5", "A3")) -> Path:
    """Every instrument of PROGRAM_INSTRUMENT as a package of pure tones, 2 s each, after 50 ms of silence."""
    t = np.arange(int(2.0 * 44100)) / 44100
    for inst in set(PROGRAM_INSTRUMENT.values()):
        d = root / PACKAGE.format(inst)
        d.mkdir(parents=True)
        for name in notes:
            hz = 440.0 * 2 ** ((pitch_of(f"{name}.mp3") - 69) / 12)
            tone = 0.5 * np.sin(2 * np.pi * hz * t) * np.exp(-t)
            sf.write(d / f"{name}.wav", np.concatenate([np.zeros(2205), tone]), 44100)  # wav: any name but *.mp3
            (d / f"{name}.wav").rename(d / f"{name}.mp3")
    return root


class _Fallback:
    sr = SR

    def __init__(self):
        self.calls = []

    def render_stems(self, stems, n):
        self.calls.append([(int(p), bool(d)) for _, p, d in stems])
        return [np.full(n, 0.25, np.float32) for _ in stems]


def test_note_names():
    assert pitch_of("A4.mp3") == 69 and pitch_of("As4.mp3") == 70 and pitch_of("C4.mp3") == 60
    assert pitch_of("Fs3.mp3") == 54 and pitch_of("index.js") is None and pitch_of("A4.wav") is None


def test_missing_packages_are_named(tmp_path):
    ok, why = samples_available(tmp_path)
    assert not ok and "make concept-samples" in why and "violin" in why
    with pytest.raises(FileNotFoundError, match="make concept-samples"):
        SampleRenderer(_Fallback(), tmp_path)


def test_notes_play_at_their_pitch_and_time_and_other_programs_go_to_the_fallback(tmp_path):
    fb = _Fallback()
    r = SampleRenderer(fb, _fake_library(tmp_path))
    n = 4 * SR
    violin = np.array([[0.5, 1.5, 74.0, 127.0]])  # D5: between the recorded A4 and C5, shifted up 2 semitones
    low = np.array([[2.0, 3.0, 33.0, 127.0]])  # A1: far below every recording, moved up by octaves (to A3)
    drums = np.array([[0.0, 0.1, 36.0, 100.0]])
    out = r.render_stems([(violin, 40, False), (drums, 0, True), (low, 73, False), (violin, 48, False)], n)
    assert [len(a) for a in out] == [n] * 4 and all(a.dtype == np.float32 for a in out)
    assert fb.calls == [[(0, True), (48, False)]]  # drums and a string section (no recording) in one session
    assert np.all(out[1] == 0.25) and np.all(out[3] == 0.25)
    v = out[0]
    assert np.abs(v[: int(0.5 * SR)]).max() == 0  # nothing before the note
    assert _fundamental(v[int(0.55 * SR) :]) == pytest.approx(587.33, rel=0.01)
    assert np.abs(v[int(1.5 * SR + 0.2 * SR) :]).max() == 0  # released: silent 0.2 s after the note-off
    assert _fundamental(out[2][int(2.05 * SR) :]) == pytest.approx(220.0, rel=0.01)


def test_velocity_scales_and_the_distorted_guitar_is_driven(tmp_path):
    r = SampleRenderer(_Fallback(), _fake_library(tmp_path))
    loud, soft = (np.array([[0.0, 1.0, 69.0, v]]) for v in (127.0, 40.0))
    a, b = r.render_stems([(loud, 25, False), (soft, 25, False)], SR)
    assert np.abs(b).max() < 0.2 * np.abs(a).max()
    clean, dist = r.render_stems([(loud, 27, False), (loud, 30, False)], SR)
    spec = [np.abs(np.fft.rfft(x[SR // 4 : 3 * SR // 4] * np.hanning(SR // 2))) ** 2 for x in (clean, dist)]
    f = np.fft.rfftfreq(SR // 2, 1 / SR)
    share = [s[f > 1000].sum() / s.sum() for s in spec]  # a driven pure tone gains harmonics above 1 kHz
    assert share[1] > 5 * share[0]


@pytest.mark.skipif(not samples_available()[0], reason=f"sample packages not installed under {SAMPLES_DIR}")
def test_the_installed_recordings_play_in_tune():
    from audioconcept.data.render.samples import _recordings

    r = SampleRenderer(_Fallback())
    for prog, inst in ((73, "flute"), (0, "piano"), (42, "cello")):
        assert len(_recordings(inst, SR)) >= 8, inst
        y = r.render_stems([(np.array([[0.0, 2.0, 60.0, 100.0]]), prog, False)], 2 * SR)[0]
        spec = np.abs(np.fft.rfft(y[2000 : 2000 + 16384] * np.hanning(16384), 65536))
        f = np.fft.rfftfreq(65536, 1 / SR)
        peaks = f[np.argsort(spec)[-40:]]
        # the strongest partials are harmonics of C4 (261.6 Hz), whichever one a recording makes loudest
        ratio = peaks / 261.63
        assert np.mean(np.abs(ratio - np.round(ratio)) < 0.04) > 0.8, (inst, np.round(peaks))


def test_sampled_jobs_have_their_own_generator_and_skip_the_test_pieces(tmp_path, monkeypatch):
    from audioconcept.train import concept_renders as cr

    cands = {"chorale": [f"c{i}" for i in range(30)], "folk": [f"f{i}" for i in range(30)]}
    monkeypatch.setattr("audioconcept.data.render.samples.samples_available", lambda *a: (True, ""))
    assert cr.RenderConfig(tmp_path).sampled == 0  # off by default (reports/notes/probe-experiments.md)
    cfg = cr.RenderConfig(tmp_path, pieces=20, orchestral=0, band=0, mallets=0, sampled=10)
    jobs = cr.plan(cfg, cands)
    base = cr.plan(cr.RenderConfig(tmp_path, pieces=20, orchestral=0, band=0, mallets=0), cands)
    assert jobs[:20] == base  # the other arrangements stay as they were
    sampled = jobs[20:]
    assert len(sampled) == 10 and all(j["sampled"] and j["prefix"] == "s" for j in sampled)
    assert [j.get("style") for j in sampled[:4]] == ["solo", None, "solo", None]
    monkeypatch.setattr("audioconcept.data.render.samples.samples_available", lambda *a: (False, "3 packages missing"))
    with pytest.raises(AudioConceptError, match="--sampled 10: 3 packages missing"):  # asked for, not there: an error
        cr.plan(cfg, cands)
    assert len(cr.plan(cr.RenderConfig(tmp_path, pieces=20, orchestral=0, band=0, mallets=0), cands)) == 20
    # a sampled job on a test piece renders nothing: the held-out renders keep their one soundfont
    from tests.data.test_render_styles import _piece

    monkeypatch.setattr("audioconcept.data.render.pieces.load", lambda *a: _piece(3))
    monkeypatch.setattr(cr, "split_of", lambda key: "test")
    assert cr.render_job(sampled[0], str(tmp_path), 0.0, 0.0, (12.0, 16.0)) == []
    assert not (tmp_path / "audio").exists()
