import json

import numpy as np
import pytest

from audioconcept import SAMPLE_RATE
from audioconcept.data.synth.generate import ConceptSetConfig, SynthConfig, generate_concept_sets, generate_genres
from audioconcept.data.synth.instruments import render_numpy
from audioconcept.data.synth.score import CONCEPTS, ClipSpec, compose, sample_spec

SR = SAMPLE_RATE


def band_energy(x, lo, hi, hop=256, n_fft=1024):
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(x, (n_fft // 2, n_fft // 2)), n_fft)[::hop]
    spec = np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1)) ** 2
    f = np.fft.rfftfreq(n_fft, 1 / SR)
    return spec[:, (f >= lo) & (f < hi)].sum(1), hop / SR


def spec(concepts, genre="pop", tempo=120.0, spans=(), seconds=12.0, seed=5):
    return ClipSpec(genre, seconds, tempo, 0, False, frozenset(concepts), tuple(spans), seed)


def test_at_least_12_concepts_and_genre_tendencies():
    assert len(CONCEPTS) >= 12
    rng = np.random.default_rng(0)
    freq = {}
    for g, c in [
        ("metal", "distorted_guitar"),
        ("reggae", "offbeat_skank"),
        ("jazz", "swing"),
        ("jazz", "walking_bass"),
        ("disco", "four_on_the_floor"),
        ("classical", "strings"),
    ]:
        specs = [sample_spec(g, rng) for _ in range(200)]
        others = [sample_spec(o, rng) for o in ("pop", "country", "hiphop", "rock") for _ in range(50)]
        inside = np.mean([c in s.concepts for s in specs])
        outside = np.mean([c in s.concepts for s in others])
        freq[(g, c)] = (inside, outside)
        assert inside > 0.7, (g, c, inside)
        assert 0 < outside < 0.35, (g, c, outside)  # present elsewhere too, but rarer
    classical = [sample_spec("classical", rng) for _ in range(200)]
    assert np.mean(["drums" in s.concepts for s in classical]) < 0.15
    metal = [sample_spec("metal", rng) for _ in range(200)]
    assert np.mean(["fast_tempo" in s.concepts for s in metal]) > 0.5


def test_tempo_concepts_follow_tempo():
    rng = np.random.default_rng(1)
    for _ in range(300):
        s = sample_spec(str(rng.choice(["jazz", "metal", "reggae", "hiphop"])), rng)
        assert ("fast_tempo" in s.concepts) == (s.tempo > 140)
        assert ("slow_tempo" in s.concepts) == (s.tempo < 90)
        assert ("minor_mode" in s.concepts) == s.minor


def test_four_on_the_floor_has_a_low_onset_on_every_beat():
    s = spec({"drums", "four_on_the_floor"}, tempo=123.0)
    x = render_numpy(compose(s))
    env, dt = band_energy(x, 30, 120)
    beat = 60 / s.tempo
    beats = np.arange(0, s.seconds - 0.2, beat)
    for tb in beats:
        i = int(round(tb / dt))
        after = env[i : i + 4].max()
        before = env[max(0, i - 5) : max(1, i - 1)].max() if i > 1 else 0.0
        assert after > 3 * before + 1e-9, f"no low-band onset at {tb:.2f} s"
    # and nothing of the kind halfway between beats
    mids = [env[int(round((tb + beat / 2) / dt)) : int(round((tb + beat / 2) / dt)) + 3].max() for tb in beats[:-1]]
    ons = [env[int(round(tb / dt)) : int(round(tb / dt)) + 3].max() for tb in beats[:-1]]
    assert np.median(ons) > 4 * np.median(mids)


def test_no_drums_clip_has_no_percussion():
    on = render_numpy(compose(spec({"drums", "backbeat"})))
    off = render_numpy(compose(spec(set())))
    hi_on, _ = band_energy(on / np.abs(on).max(), 6000, 11025)
    hi_off, _ = band_energy(off / np.abs(off).max(), 6000, 11025)
    assert hi_off.mean() < hi_on.mean() / 20


def test_span_truth_matches_audio():
    bar = 4 * 60 / 120.0
    with_span = spec({"drums", "backbeat", "distorted_guitar"}, spans=[("distorted_guitar", 2, 4)])
    score = compose(with_span)
    assert score.truth["distorted_guitar"] == [[2 * bar, 4 * bar]]
    base = render_numpy(compose(spec({"drums", "backbeat"})))
    withg = render_numpy(score)
    # remove the master gain to compare layers
    d = withg / np.abs(withg).max() - base / np.abs(base).max() * (np.abs(withg).max() / np.abs(withg).max())
    diff, dt = band_energy(withg / np.abs(withg).max() - base / np.abs(base).max(), 80, 4000)
    inside = diff[int(2 * bar / dt) + 2 : int(4 * bar / dt) - 2].mean()
    before = diff[: int(2 * bar / dt) - 4].mean()
    assert inside > 5 * before, (inside, before)
    assert d.shape == base.shape


def test_generation_is_deterministic(tmp_path):
    a = generate_genres(
        SynthConfig(tmp_path / "a", clips_per_genre=1, seconds=3.0, seed=7, workers=1, genres=("jazz", "metal"))
    )
    b = generate_genres(
        SynthConfig(tmp_path / "b", clips_per_genre=1, seconds=3.0, seed=7, workers=2, genres=("jazz", "metal"))
    )
    for rel in ("jazz/jazz.00000.wav", "metal/metal.00000.wav"):
        assert (a / "genres" / rel).read_bytes() == (b / "genres" / rel).read_bytes()
    assert (a / "ground_truth.json").read_text() == (b / "ground_truth.json").read_text()
    c = generate_genres(
        SynthConfig(tmp_path / "c", clips_per_genre=1, seconds=3.0, seed=8, workers=1, genres=("jazz",))
    )
    assert (c / "genres/jazz/jazz.00000.wav").read_bytes() != (a / "genres/jazz/jazz.00000.wav").read_bytes()


def test_ground_truth_spans_are_inside_clips(tiny_synth):
    truth = json.loads((tiny_synth / "ground_truth.json").read_text())
    partial = 0
    for c in truth["clips"]:
        for name, spans in c["concepts"].items():
            assert name in CONCEPTS
            for s, e in spans:
                assert 0 <= s < e <= c["duration"] + 1e-6
                partial += e - s < c["duration"] - 1e-6
    assert partial > 0, "some clips must carry a concept only inside a span"


def test_concept_sets_layout(tmp_path):
    out = generate_concept_sets(
        ConceptSetConfig(
            tmp_path / "c",
            clips_per_concept=2,
            random_sets=2,
            clips_per_random=2,
            seconds=3.0,
            workers=1,
            concepts=("swing", "distorted_guitar"),
        )
    )
    truth = json.loads((out / "ground_truth.json").read_text())
    for c in truth["clips"]:
        assert (out / c["path"]).exists()
        if not c["set"].startswith("random_"):
            assert c["set"] in c["concepts"] and c["concepts"][c["set"]] == [[0.0, 3.0]]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["distorted_guitar", "random_0", "random_1", "swing"]


def test_soundfont_renderer_when_available(tmp_path):
    from audioconcept.data.synth.soundfont import render_soundfont, soundfont_available

    ok, why = soundfont_available()
    if not ok:
        pytest.skip(why)
    x = render_soundfont(compose(spec({"drums", "piano"}, seconds=3.0)))
    assert x.shape == (3 * SR,) and np.abs(x).max() > 0.1
