"""Rendered concept audio: the truth from the notes agrees with the audio's energy; a render is deterministic,
resumable, and an interrupted one leaves no half-written file."""

import json

import numpy as np
import pytest

from audioconcept.data.render.fluid import available_soundfonts, fluidsynth_available

ok, why = fluidsynth_available()
pytestmark = pytest.mark.skipif(not ok, reason=why or "libfluidsynth is absent")
SOUNDFONTS = available_soundfonts() if ok else {}
needs_gm = pytest.mark.skipif("fluidr3_gm" not in SOUNDFONTS, reason="Debian's fluid-soundfont-gm is not installed")


def _arrangement(stems, seconds=12.0, master=()):
    from audioconcept.data.render.arrange import Arrangement

    return Arrangement(
        "t0", "test:piece", "mixed", seconds, 0.0, np.array([[0.0, 120.0]]), tuple(stems), master, -20.0, None
    )


def _stem(name, program, notes, is_drum=False, effects=()):
    from audioconcept.data.render.arrange import Stem
    from audioconcept.data.render.gm import concepts_of

    notes = np.asarray(notes, dtype=np.float64).reshape(-1, 4)
    return Stem(name, program, is_drum, notes, concepts_of(program, is_drum), (), 0.0, tuple(effects))


def _notes(t0, t1, pitch=60, step=0.25):
    return [[t, min(t + step, t1), pitch + (i % 3) * 4, 100] for i, t in enumerate(np.arange(t0, t1, step))]


@pytest.fixture(scope="module")
def renderer():
    from audioconcept.data.render.fluid import StemRenderer

    if "fluidr3_gm" not in SOUNDFONTS:
        pytest.skip("Debian's fluid-soundfont-gm is not installed")
    return StemRenderer(SOUNDFONTS["fluidr3_gm"], 22050)


@needs_gm
def test_truth_matches_the_notes_and_the_audio_energy(renderer):
    """Piano plays in [0.5, 2.5] (window 0 only), flute in [6.2, 8.4] (window 2 only), bass throughout,
    and nothing plays trumpet: the states say exactly that, and each stem's energy agrees."""
    from audioconcept.data.render import mix
    from audioconcept.train.concept_renders import _window_rows

    arr = _arrangement(
        [
            _stem("piano", 0, _notes(0.5, 2.5)),
            _stem("flute", 73, _notes(6.2, 8.4, pitch=72)),
            _stem("bass", 33, _notes(0.0, 12.0, pitch=40, step=0.5)),
        ]
    )
    rendered = mix.render(arr, renderer)
    rows = _window_rows(arr, rendered, {"mode": "major", "mode_state": True})
    assert [r["start_s"] for r in rows] == [0.0, 2.992, 5.984, 8.976, 9.024]  # the last one ends with the song
    assert [r["piano"] for r in rows] == [1, 0, 0, 0, 0]
    assert [r["flute"] for r in rows] == [0, 0, 1, 0, 0]
    assert [r["woodwinds"] for r in rows] == [0, 0, 1, 0, 0]
    assert [r["bass"] for r in rows] == [1, 1, 1, 1, 1]
    assert [r["trumpet"] for r in rows] == [0, 0, 0, 0, 0]
    assert rows[0]["cover_piano"] == pytest.approx(2.0)
    assert rows[2]["cover_flute"] == pytest.approx(2.2)
    sr = rendered.sr

    def energy(stem, row):
        a, b = int(row["start_s"] * sr), int(row["end_s"] * sr)
        return float(np.mean(np.square(rendered.stems[stem][a:b], dtype=np.float64)))

    piano, flute = [energy(0, r) for r in rows], [energy(1, r) for r in rows]
    assert piano[0] > 0 and all(e < 1e-4 * piano[0] for e in piano[2:])  # window 1 may hold the release tail
    assert flute[2] > 0 and flute[0] < 1e-6 * flute[2] and flute[1] < 1e-6 * flute[2]
    assert rows[0]["db_piano"] > -20 and rows[4]["db_piano"] < -40
    assert rows[2]["db_flute"] > -20 and rows[0]["db_flute"] < -40  # a silent stem holds only dither
    # the stems add up to the stored mix when there is no master chain or background
    assert np.allclose(np.sum(rendered.stems, axis=0), rendered.mix, atol=2e-3)


@needs_gm
def test_drums_render_on_the_drum_channel(renderer):
    from audioconcept.data.render import mix

    kick = [[t, t + 0.1, 36, 110] for t in np.arange(0.0, 4.0, 0.5)]
    rendered = mix.render(_arrangement([_stem("drums", 0, kick, is_drum=True)], seconds=4.0), renderer)
    assert np.sqrt(np.mean(rendered.mix**2)) > 0.01


@needs_gm
def test_distortion_effect_makes_a_distorted_guitar(renderer):
    from audioconcept.data.render import mix
    from audioconcept.data.render.gm import concepts_of

    clean = mix.render(_arrangement([_stem("gtr", 27, _notes(0, 4))], seconds=4.0), renderer).mix
    fx = (("distortion", {"drive_db": 30.0, "tone_hz": 6000.0}),)
    dist = mix.render(_arrangement([_stem("gtr", 27, _notes(0, 4), effects=fx)], seconds=4.0), renderer).mix
    assert concepts_of(27, distorted=True) == ("distorted_guitar",)
    # distortion flattens the waveform: the crest factor (peak / rms) drops
    crest = [float(np.abs(x).max() / np.sqrt(np.mean(x**2))) for x in (clean, dist)]
    assert crest[1] < 0.7 * crest[0]


JOB = {"index": 7, "group": "midi", "ref": "/usr/share/planetblupi/music/music004.mid", "seed": 12345}


def _job_or_skip():
    from pathlib import Path

    if not Path(JOB["ref"]).is_file():
        pytest.skip("Debian's planetblupi-music-midi is not installed")
    if not {"fluidr3_gm", "timgm6mb"} <= set(SOUNDFONTS):
        pytest.skip("needs fluid-soundfont-gm and TimGM6mb (pretty_midi)")
    pytest.importorskip("pretty_midi", reason="pretty_midi (extra render) is not installed")
    return dict(JOB)


@pytest.mark.slow
def test_render_job_is_deterministic_and_resumes(tmp_path):
    from audioconcept.train.concept_renders import render_job

    job = _job_or_skip()
    a = render_job(job, str(tmp_path / "a"), 0.0, 0.0, (8.0, 8.0))
    b = render_job(job, str(tmp_path / "b"), 0.0, 0.0, (8.0, 8.0))
    assert len(a) == 1 and a[0]["render_id"] == b[0]["render_id"]
    ra, rb = (p / "audio" / f"{a[0]['render_id']}.flac" for p in (tmp_path / "a", tmp_path / "b"))
    assert ra.read_bytes() == rb.read_bytes()
    strip = [{k: v for k, v in r.items() if k != "cpu_s"} for r in (a[0], b[0])]
    assert json.dumps(strip[0]) == json.dumps(strip[1])
    from audioconcept.data.render.truth import record_windows

    derived = record_windows(a[0], 2.976, 2.992, sr=16000)  # the table's windows, derived again from the notes
    for r, d in zip(a[0]["windows"], derived, strict=True):
        assert {k: r[k] for k in d if not k.startswith("cover_")} == {
            k: v for k, v in d.items() if not k.startswith("cover_")
        }
        assert [r[k] for k in d if k.startswith("cover_")] == pytest.approx(
            [v for k, v in d.items() if k.startswith("cover_")], abs=1e-3
        )  # the notes file keeps intervals to 0.1 ms
    mtime = ra.stat().st_mtime_ns
    again = render_job(job, str(tmp_path / "a"), 0.0, 0.0, (8.0, 8.0))
    assert again[0]["windows"] == a[0]["windows"] and ra.stat().st_mtime_ns == mtime  # read back, not re-rendered


@pytest.mark.slow
def test_interrupted_render_leaves_no_half_written_file(tmp_path, monkeypatch):
    import audioconcept.train.concept_renders as cr

    job = _job_or_skip()

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(cr, "atomic_write_json", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cr.render_job(job, str(tmp_path), 0.0, 0.0, (8.0, 8.0))
    # the audio is complete (written by rename) but the render is not marked done: no record, no temporary file
    assert not list((tmp_path / "notes").glob("*.json")) if (tmp_path / "notes").exists() else True
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]
    monkeypatch.undo()
    done = cr.render_job(job, str(tmp_path), 0.0, 0.0, (8.0, 8.0))
    assert (tmp_path / "notes" / f"{done[0]['render_id']}.json").is_file()
