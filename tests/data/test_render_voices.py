"""Festival voice clips in the concept audio: the score's notes move as asked, every clip is listed, and a clip
through the real text2wave is a voice with every instrument concept absent, resumable and in training only."""

import json

import numpy as np
import pytest

from audioconcept.data.render import voices
from audioconcept.data.render.gm import INSTRUMENT_CONCEPTS
from audioconcept.data.render.truth import ABSENT, UNCERTAIN
from audioconcept.errors import AudioConceptError

HAVE = voices.festival_voices()
needs_festival = pytest.mark.skipif(
    not HAVE, reason="Debian's festival and its voices (festvox-kallpc16k, festvox-italp16k) are not installed"
)


@pytest.mark.parametrize(
    ("note", "k", "want"),
    [("Bb3", 2, "C4"), ("C4", -1, "B3"), ("F#4", 12, "F#5"), ("eb5", 0, "D#5"), ("A4", 7, "E5")],
)
def test_transpose_pitch(note, k, want):
    assert voices.transpose_pitch(note, k) == want


def test_transpose_song_moves_every_note_and_nothing_else():
    xml = '<SINGING BPM="80">\n<DURATION BEATS="1.0,1.0"><PITCH NOTE="F4,D4">Daisy</PITCH></DURATION>\n</SINGING>'
    out = voices.transpose_song(xml, 12)
    assert 'NOTE="F5,D5"' in out and 'BEATS="1.0,1.0"' in out and ">Daisy<" in out
    assert voices.transpose_song(xml, 0) == xml
    assert voices.song_bpm(xml) == 80.0 and voices.song_bpm("<SINGING>") is None
    with pytest.raises(AudioConceptError, match="not a note name"):
        voices.transpose_pitch("H2", 1)


def test_jobs_cover_every_voice_song_transposition_and_text(monkeypatch, tmp_path):
    for name in ("a.xml", "b.xml"):
        (tmp_path / name).write_text('<SINGING><DURATION BEATS="1"><PITCH NOTE="A3">la</PITCH></DURATION></SINGING>')
    monkeypatch.setattr(voices, "SONGS_DIR", tmp_path)
    js = voices.jobs(voices.VOICES)
    ids = [j.clip_id for j in js]
    assert len(ids) == len(set(ids))
    want = sum(2 * len(voices.REGISTERS[v.name]) + len(voices.TEXTS[v.language]) for v in voices.VOICES)
    assert len(js) == want
    lp = {j.semitones for j in js if j.voice.name == "lp_diphone" and j.mode == "singing"}
    assert lp == {t + voices.SUNG_BELOW_NOTATION - 57 for t in voices.REGISTERS["lp_diphone"]}  # A3 = 57


def test_every_take_lands_in_its_register():
    xml = '<SINGING><DURATION BEATS="1"><PITCH NOTE="F5,G5">a</PITCH></DURATION>'
    xml += '<DURATION BEATS="1"><PITCH NOTE="F5">b</PITCH></DURATION></SINGING>'
    med = voices.song_median_pitch(xml)
    assert med == 77.0  # F5
    for target in (48, 57, 69):
        k = voices.transposition_for(med, target)
        sung = voices.song_median_pitch(voices.transpose_song(xml, k)) - voices.SUNG_BELOW_NOTATION
        assert sung == target
    assert voices.song_median_pitch("<SINGING/>") is None
    assert voices.jobs(()) == []


@needs_festival
def test_a_festival_clip_is_a_voice_with_no_instrument(tmp_path):
    from audioconcept.data.audio import load_audio
    from audioconcept.train.concept_renders import VOICE_SOUNDFONT, render_voice

    job = next(j for j in voices.jobs(HAVE) if j.mode == "speech")
    rec = render_voice(job, str(tmp_path))
    assert not rec["resumed"] and rec["split"] == "train" and rec["soundfont_id"] == VOICE_SOUNDFONT
    assert rec["stems"] == [] and rec["voice"]["name"] == job.voice.name
    y = load_audio(tmp_path / rec["audio"], sr=16000)
    assert y.size / 16000 == pytest.approx(rec["seconds"], abs=0.05) and rec["seconds"] > 3.0
    assert np.sqrt(np.mean(y**2)) > 0.01  # audible speech, not silence
    assert len(rec["windows"]) >= 1
    for row in rec["windows"]:
        assert all(row[c] == ABSENT for c in INSTRUMENT_CONCEPTS)
        assert row["minor"] == row["major"] == UNCERTAIN and row["fast"] == row["slow"] == UNCERTAIN  # speech
        assert np.isfinite(row["loudness_lufs"]) and np.isfinite(row["centroid_hz"])
    assert any(row["voice_active"] for row in rec["windows"])
    again = render_voice(job, str(tmp_path))  # read back, not synthesized again
    stored = json.loads((tmp_path / "notes" / f"{job.clip_id}.json").read_text())
    assert again["resumed"] and again["windows"] == stored["windows"]


@needs_festival
def test_a_sung_clip_keeps_the_song_tempo_and_is_transposed_an_octave_up():
    librosa = pytest.importorskip("librosa")
    song = next(s for s in voices.songs() if voices.song_bpm(s.read_text()) is not None)
    v = HAVE[0]

    def f0(k):
        y, sr, bpm = voices.synthesize(voices.VoiceJob(f"t{k}", v, "singing", song.name, k))
        f = librosa.yin(y, fmin=60, fmax=1200, sr=sr)
        rms = librosa.feature.rms(y=y)[0][: len(f)]
        return float(np.median(f[rms > 0.1 * rms.max()])), bpm

    (low, bpm0), (high, bpm12) = f0(0), f0(12)
    assert bpm0 == bpm12 == voices.song_bpm(song.read_text())
    assert high / low == pytest.approx(2.0, rel=0.1)  # the same song an octave up
