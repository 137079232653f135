"""Lossy copies: the training renders again through MP3 or Ogg Vorbis (training material only, same truth), and
the report's check that an answer survives a lossy copy of a real clip."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioconcept.concepts.render_data import CODECS, encode_lossy, load_render_windows
from tests.concepts.tiny_renders import write_window_table

SR = 22050


def _tone_song(path: Path, seconds: float, hz: float, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    y = 0.3 * np.sin(2 * np.pi * hz * t) * (1 + 0.5 * np.sin(2 * np.pi * 2 * t)) + 0.02 * rng.standard_normal(t.size)
    sf.write(path, y.astype(np.float32), SR)
    return path


@pytest.mark.parametrize("fmt,subtype", [(f, s) for f, s, _ in CODECS])
def test_a_lossy_copy_is_the_same_music_and_not_the_same_samples(tmp_path, fmt, subtype):
    src = _tone_song(tmp_path / "a.flac", 4.0, 440.0, 0)
    out = encode_lossy(src, tmp_path, fmt, subtype, 0.7)
    assert out.suffix == f".{fmt.lower()}" and sf.info(out).format == fmt
    y, _ = sf.read(src, dtype="float32")
    z, sr = sf.read(out, dtype="float32")
    assert sr == SR and abs(len(z) - len(y)) <= SR // 10
    n = min(len(y), len(z))
    assert np.corrcoef(y[:n], z[:n])[0, 1] > 0.9  # the same tone, in time
    assert np.abs(y[:n] - z[:n]).max() > 1e-3  # and really through the codec


def _renders(root: Path, model) -> Path:
    """Three renders (train, val, test) with a table whose windows are the bundle's own."""
    from audioconcept.concepts.embed import file_outputs

    (root / "audio").mkdir(parents=True)
    rows = []
    for i, split in enumerate(("train", "val", "test")):
        rid = f"r{i}"
        audio = _tone_song(root / "audio" / f"{rid}.flac", 7.0, 220.0 * (i + 1), i)
        n = len(file_outputs(model, audio).tags)
        for w in range(n):
            rows.append(
                {"render_id": rid, "window": w, "piece_id": f"p{i}", "soundfont_id": f"sf{i}",
                 "arrangement_id": f"a{i}", "split": split, "piano": int(i == 0 and w == 0), "flute": -1}
            )  # fmt: skip
    return write_window_table(root, rows)


def test_train_renders_get_a_lossy_copy_with_their_truth_and_the_cache_keeps_it(tmp_path, monkeypatch):
    from audioconcept.concepts import render_data
    from audioconcept.concepts.embed import open_tag_bundle

    model = open_tag_bundle("musicnn-gtzan")
    root = _renders(tmp_path / "renders", model)
    cache = tmp_path / "cache.npz"
    plain = load_render_windows(root, model, cache)
    rw = load_render_windows(root, model, cache, lossy_train_copies=True)
    copies = np.array(["~" in r for r in rw.render])
    assert copies.sum() == (plain.split == "train").sum() > 0
    assert set(rw.split[copies]) == {"train"}  # val and test stay lossless
    codec = rw.render[copies][0].split("~")[1]
    assert codec.split("@")[0] in {f.lower() for f, _, _ in CODECS}
    orig = np.flatnonzero(rw.render == "r0")
    assert np.array_equal(rw.truth["piano"][copies], rw.truth["piano"][orig])  # the same truth, window by window
    assert np.isnan(rw.truth["flute"][copies]).all()
    assert set(rw.piece[copies]) == {"p0"} and set(rw.soundfont[copies]) == {"sf0"}  # grouped with the original
    e0, e1 = rw.embedding[orig], rw.embedding[copies]
    assert not np.allclose(e0, e1)  # another input
    assert min(np.corrcoef(a, b)[0, 1] for a, b in zip(e0, e1, strict=True)) > 0.8  # of the same music
    # a second load reads the copy from the cache: no codec runs
    monkeypatch.setattr(render_data, "lossy_copy_outputs", lambda *a: pytest.fail("the copy was not cached"))
    again = load_render_windows(root, model, cache, lossy_train_copies=True)
    assert np.array_equal(again.embedding, rw.embedding) and list(again.render) == list(rw.render)


def test_the_lossy_check_counts_what_changes(shared_clips, monkeypatch):
    from audioconcept.concepts import real_music_report as rmr
    from audioconcept.runtime.model import load
    from audioconcept.runtime.registry import resolve_bundle

    model = load(resolve_bundle("musicnn-gtzan"))
    clips = {p: rmr._predict(model, p) for p in shared_clips[:2]}
    f = rmr.lossy_figures(model, clips, {"bright": {"status": "validated"}})
    codecs = [f"{fmt.lower()}@{level}" for fmt, _, level in rmr.LOSSY_CHECK]
    assert f["codecs"] == codecs and f["clips"] == 2
    for c in codecs:
        assert 0 <= f["genre_changed"][c] <= 2 and 0 <= f["clips_changed"][c] <= 2
        assert (sum(v[c] for v in f["flips"].values()) > 0) == (f["clips_changed"][c] > 0)
    for name, v in f["flips"].items():
        assert v["present_lossless"] == sum(name in r.concepts_present for r in clips.values())
    # most flips first, ties by name: the report is the same from run to run (not in a set's hash order)
    key = [(-sum(v[c] for c in codecs), name) for name, v in f["flips"].items()]
    assert key == sorted(key)
    md = rmr.figures_markdown({"lossy": f, "not_here": ""})
    assert "**Lossy copies of the 2 GTZAN clips**" in md and all(f"flips: {c}" in md for c in codecs)
    # through a lossless "codec" (FLAC again) nothing changes: the counts are of the codec, not of the counting
    monkeypatch.setattr(rmr, "LOSSY_CHECK", (("FLAC", "PCM_24", 0.0),))
    same = rmr.lossy_figures(model, clips, {})
    assert same["genre_changed"] == same["clips_changed"] == {"flac@0.0": 0} and same["flips"] == {}
