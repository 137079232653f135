"""Non-music textures in the concept audio: reproducible from their seed, each sounds like what it is named
(events where there are drops and claps, swells where there is surf, hum where there is mains), and a clip holds
no instrument, no tempo and no mode, in training only, resumable."""

import json

import numpy as np
import pytest

from audioconcept.data.render import textures
from audioconcept.data.render.gm import INSTRUMENT_CONCEPTS
from audioconcept.data.render.truth import ABSENT, UNCERTAIN

SR = 22050


def _job(kind: str, i: int = 0, seconds: float = 8.0) -> textures.TextureJob:
    j = next(j for j in textures.jobs(0, i + 1) if j.kind == kind and j.clip_id.endswith(f"{i:02d}"))
    return textures.TextureJob(j.clip_id, kind, j.seed, seconds)


def test_jobs_are_fixed_by_the_seed_and_cover_every_kind():
    a = textures.jobs(0, 3)
    assert a == textures.jobs(0, 3) and a != textures.jobs(1, 3)
    assert len(a) == 3 * len(textures.KINDS) and len({j.clip_id for j in a}) == len(a)
    assert textures.jobs(0, 2) == [j for j in a if int(j.clip_id[-2:]) < 2]  # more clips resume fewer
    assert all(textures.SECONDS[0] <= j.seconds <= textures.SECONDS[1] for j in a)


@pytest.mark.parametrize("kind", sorted(textures.KINDS))
def test_every_texture_is_finite_audible_and_reproducible(kind):
    job = _job(kind)
    y = textures.synthesize(job, SR)
    assert y.dtype == np.float32 and y.size == round(job.seconds * SR) and np.isfinite(y).all()
    assert np.max(np.abs(y)) == pytest.approx(0.5, abs=1e-6)
    assert np.sqrt(np.mean(y**2)) > 0.005  # not silence with a click (events have a high crest factor)
    spec = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(y.size, 1 / SR)
    assert spec[f < 20].sum() < 0.01 * spec.sum()  # no power under the audible range
    np.testing.assert_array_equal(y, textures.synthesize(job, SR))


def _frame_rms(y: np.ndarray, frame: int) -> np.ndarray:
    n = y.size // frame
    return np.sqrt(np.mean(y[: n * frame].reshape(n, frame) ** 2, axis=1))


def test_rain_and_applause_are_dense_events_and_surf_swells():
    def burstiness(kind):  # kurtosis of 5 ms frame levels: events make it large, a steady noise keeps it near 0
        r = _frame_rms(textures.synthesize(_job(kind), SR), SR // 200)
        z = (r - r.mean()) / r.std()
        return float(np.mean(z**4) - 3)

    assert burstiness("fire") > burstiness("wind") + 1.0
    assert burstiness("applause") > burstiness("room")
    y = textures.synthesize(_job("surf", seconds=24.0), SR)
    slow = _frame_rms(y, SR // 2)
    assert slow.max() / np.percentile(slow, 10) > 2.0  # waves come and go


def test_room_tone_hum_sits_on_the_mains_frequency():
    hummed = None
    for i in range(textures.PER_KIND):
        y = textures.synthesize(_job("room", i), SR)
        spec = np.abs(np.fft.rfft(y))
        f = np.fft.rfftfreq(y.size, 1 / SR)
        band = (f > 30) & (f < 200)
        peak = f[band][np.argmax(spec[band])]
        if spec[band].max() > 20 * np.median(spec[band]):
            hummed = peak
            break
    assert hummed is not None and min(abs(hummed - 50), abs(hummed - 60)) < 1.0


def test_a_texture_clip_holds_no_instrument_tempo_or_mode(tmp_path):
    pytest.importorskip("pyloudnorm", reason="pyloudnorm (extra render) is not installed")
    pytest.importorskip("pedalboard", reason="pedalboard (extra render) is not installed")
    from audioconcept.data.audio import load_audio
    from audioconcept.data.render.effects import integrated_lufs
    from audioconcept.data.render.truth import MODEL_SR, model_windows
    from audioconcept.train.concept_renders import STORE_SR, TEXTURE_SOUNDFONT, render_texture

    job = _job("rain", seconds=10.0)
    rec = render_texture(job, str(tmp_path))
    assert not rec["resumed"] and rec["split"] == "train" and rec["soundfont_id"] == TEXTURE_SOUNDFONT
    assert rec["stems"] == [] and rec["texture"]["kind"] == "rain" and rec["tempo_changes"] == []
    y = load_audio(tmp_path / rec["audio"], sr=STORE_SR)
    assert integrated_lufs(y, STORE_SR) == pytest.approx(rec["target_lufs"], abs=1.5)
    assert len(rec["windows"]) == len(model_windows(round(10.0 * MODEL_SR))) > 1
    for row in rec["windows"]:
        assert all(row[c] == ABSENT for c in INSTRUMENT_CONCEPTS)
        assert row["fast"] == row["slow"] == row["minor"] == row["major"] == UNCERTAIN
        assert "tempo_bpm" not in row and np.isfinite(row["loudness_lufs"])
    again = render_texture(job, str(tmp_path))
    stored = json.loads((tmp_path / "notes" / f"{job.clip_id}.json").read_text())
    assert again["resumed"] and again["windows"] == stored["windows"]
    assert not [p for p in tmp_path.rglob(".*")]  # nothing half-written left behind


def test_near_silence_sits_under_the_audibility_floor_and_has_only_a_level(tmp_path):
    pytest.importorskip("pyloudnorm", reason="pyloudnorm (extra render) is not installed")
    pytest.importorskip("pedalboard", reason="pedalboard (extra render) is not installed")
    from audioconcept.data.render.truth import PRESENT
    from audioconcept.models.measured_concepts import AUDIBLE_FLOOR_LUFS, MEASURED_CONCEPTS, states
    from audioconcept.train.concept_renders import render_texture

    assert "silence" in textures.KINDS and set(textures.FLOOR_LEVELS_DBFS) <= set(textures.KINDS)
    y = textures.at_level(textures.synthesize(_job("silence"), SR), -70.0)
    assert 20 * np.log10(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) == pytest.approx(-70.0, abs=0.01)
    lo, hi = textures.FLOOR_LEVELS_DBFS["silence"]
    for i in range(3):
        rec = render_texture(_job("silence", i, seconds=6.0), str(tmp_path))
        assert lo <= rec["level_dbfs"] <= hi and rec["master"] == [] and rec["target_lufs"] is None
        for row in rec["windows"]:
            assert row["loudness_lufs"] < AUDIBLE_FLOOR_LUFS
            assert all(row[c] == ABSENT for c in INSTRUMENT_CONCEPTS)
            got = states(row)  # the states the dataset's tables keep (build's pass over the stored values)
            assert got["quiet"] == PRESENT
            assert all(got[c] == ABSENT for c in MEASURED_CONCEPTS if c not in ("quiet", "loud"))
