"""The song pipeline: windows -> genres, concept strengths, presence and spans, in one place."""

from __future__ import annotations

import numpy as np

from audioconcept.data.audio import Window
from audioconcept.runtime.aggregate import SongAggregator, SongSettings, softmax


def _window(i: int, start: float, window_s: float, sr: int = 100) -> Window:
    n = int(window_s * sr)
    return Window(i, start, start + window_s, np.full(n, 0.1, np.float32), n)


def test_song_genre_is_the_softmax_of_mean_window_logits():
    s = SongSettings(("a", "b", "c"), 10.0)
    agg = SongAggregator(s)
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    agg.add([_window(0, 0, 10), _window(1, 10, 10)], logits, softmax(logits))
    r = agg.result("x.wav", "m", "cnn", "", "onnx", "cpu", top_k=3)
    np.testing.assert_allclose([p for _, p in r.genres], np.sort(softmax(logits.mean(0)))[::-1])
    assert r.genres[0][0] == "b" and [w.genre for w in r.windows] == ["a", "b"]
    assert r.duration_s == 20.0


def test_manifest_thresholds_decide_presence_and_spans():
    """The manifest's concepts.thresholds are used, not a hard-coded 0.5."""
    m = {
        "labels": ["a", "b"],
        "window_s": 10.0,
        "concepts": {"names": ["drums", "piano"], "thresholds": [0.3, 0.9]},
    }
    s = SongSettings.from_manifest(m)
    assert s.concept_thresholds == (0.3, 0.9)
    agg = SongAggregator(s)
    logits = np.zeros((1, 2))
    concepts = np.array([[0.4, 0.8]])  # drums above its 0.3, piano below its 0.9
    frames = np.tile(np.array([[0.4], [0.8]]), (1, 1, 20))
    agg.add([_window(0, 0, 10)], logits, softmax(logits), concepts, frames)
    r = agg.result("x.wav", "m", "cnn", "", "onnx", "cpu")
    assert r.concepts_present == ["drums"]
    assert {sp.concept for sp in r.concept_spans} == {"drums"}


def test_frames_of_a_looped_short_song_stay_on_the_window_timescale():
    """A 4 s song looped into a 10 s window: frames keep the window's time scale, cut at the song's end."""
    s = SongSettings(("a", "b"), 10.0, ("drums",), (0.5,))
    agg = SongAggregator(s)
    w = Window(0, 0.0, 4.0, np.full(1000, 0.1, np.float32), 400)
    frames = np.zeros((1, 1, 10))
    frames[0, 0, :4] = 1.0  # on for the first 4 s of the window = the whole song
    agg.add([w], np.zeros((1, 2)), np.full((1, 2), 0.5), np.array([[1.0]]), frames)
    centres, probs, _ = agg.concept_presence(1.0)
    assert centres.max() < 4.0 and np.nanmin(probs) > 0.99


def test_a_present_concept_always_has_a_place_in_time():
    """Present by its window's value, but its frames never cross the threshold (a window-level tag): the spans
    fall back to the windows it is present in, merged; a concept that makes frame spans keeps them."""
    from audioconcept.runtime.stream import BoundedAggregator

    s = SongSettings(("a", "b"), 10.0, ("voice", "drums"), (0.3, 0.3))
    frames = np.zeros((3, 2, 20))
    frames[:, 1, :] = 0.9  # drums: frame spans
    frames[:, 0, :] = 0.1  # voice: frames always under its threshold
    concepts = np.array([[0.4, 0.9], [0.5, 0.9], [0.1, 0.9]])  # voice present in the first two windows only
    wins = [_window(i, 10.0 * i, 10) for i in range(3)]
    for agg in (SongAggregator(s), BoundedAggregator(s, history=10)):
        agg.add(wins, np.zeros((3, 2)), np.full((3, 2), 0.5), concepts, frames)
        r = agg.result("x.wav", "m", "cnn", "", "onnx", "cpu") if not isinstance(agg, BoundedAggregator) else None
        spans = r.concept_spans if r is not None else agg.concept_spans(["voice", "drums"])
        voice = [(sp.start, sp.end, sp.strength) for sp in spans if sp.concept == "voice"]
        assert voice == [(0.0, 20.0, 0.45)]
        assert [(sp.start, sp.end) for sp in spans if sp.concept == "drums"] == [(0.0, 30.0)]
        assert [sp.concept for sp in spans] == ["voice", "drums"]  # the bundle's concept order


def test_a_window_level_span_never_overlaps_an_opposite():
    """quiet is present in the last window only by that window's value; loud's frame span reaches into that
    window: quiet's span starts where loud's ends (opposites are never present at one moment)."""
    s = SongSettings(("a", "b"), 10.0, ("loud", "quiet"), (0.5, 0.5), exclusive=(((0,), (1,)),))
    frames = np.zeros((3, 2, 20))
    frames[:2, 0, :] = 0.9
    frames[2, 0, :10] = 0.9  # loud in the first half of the last window
    frames[:, 1, :] = 0.1  # quiet's frames never cross its threshold
    concepts = np.array([[0.9, 0.1], [0.9, 0.1], [0.2, 0.6]])
    wins = [_window(0, 0.0, 10), _window(1, 10.0, 10), _window(2, 15.0, 10)]
    agg = SongAggregator(s)
    agg.add(wins, np.zeros((3, 2)), np.full((3, 2), 0.5), concepts, frames)
    r = agg.result("x.wav", "m", "cnn", "", "onnx", "cpu")
    loud = [(sp.start, sp.end) for sp in r.concept_spans if sp.concept == "loud"]
    quiet = [(sp.start, sp.end) for sp in r.concept_spans if sp.concept == "quiet"]
    assert r.concepts_present == ["loud", "quiet"] and loud and quiet
    assert all(qe <= ls or qs >= le for qs, qe in quiet for ls, le in loud)
    assert quiet[-1][1] == 25.0


def test_a_concept_whose_every_moment_an_opposite_holds_is_not_present():
    """quiet is over its threshold in the last window's value, but that window's frames are loud throughout and
    loud's span covers all of it: the song is not "loud and quiet", its list and its timeline agree."""
    s = SongSettings(("a", "b"), 10.0, ("loud", "quiet"), (0.5, 0.5), exclusive=(((0,), (1,)),))
    frames = np.zeros((2, 2, 20))
    frames[:, 0, :] = 0.9  # loud in every frame
    frames[:, 1, :] = 0.1
    concepts = np.array([[0.9, 0.1], [0.2, 0.6]])  # the last window's value says quiet
    agg = SongAggregator(s)
    agg.add([_window(0, 0.0, 10), _window(1, 10.0, 10)], np.zeros((2, 2)), np.full((2, 2), 0.5), concepts, frames)
    r = agg.result("x.wav", "m", "cnn", "", "onnx", "cpu")
    assert r.concepts_present == ["loud"]
    assert [(sp.concept, sp.start, sp.end) for sp in r.concept_spans] == [("loud", 0.0, 20.0)]


def test_timeline_presence_is_the_rule_on_each_moment_not_on_a_moving_average():
    """One value per 3 s window (musicnn): a probe whose threshold is 0.02 does not spread over its quiet
    neighbours, nor does one whose threshold is 0.99 vanish; the timeline says what the windows say."""
    s = SongSettings(("a", "b"), 3.0, ("loud", "quiet", "piano"), (0.02, 0.4, 0.99), exclusive=(((0,), (1,)),))
    loud = [0.9, 0.01, 0.01, 0.9]
    quiet = [0.0, 0.6, 0.7, 0.0]
    piano = [0.995, 0.996, 0.5, 0.5]
    concepts = np.array([loud, quiet, piano]).T
    agg = SongAggregator(s)
    wins = [_window(i, 3.0 * i, 3) for i in range(4)]
    agg.add(wins, np.zeros((4, 2)), np.full((4, 2), 0.5), concepts, concepts[:, :, None])
    assert agg.smooth_s() == 0.0  # one frame per 3 s window: nothing to smooth
    r = agg.result("x.wav", "m", "musicnn", "", "onnx", "cpu")
    spans = [(sp.concept, sp.start, sp.end) for sp in r.concept_spans]
    assert spans == [("loud", 0.0, 3.0), ("loud", 9.0, 12.0), ("quiet", 3.0, 9.0), ("piano", 0.0, 6.0)]
    assert r.concepts_present == ["loud", "quiet", "piano"]


def test_the_vote_bridges_frame_noise_and_keeps_opposites_apart():
    """Frame-level scores (a CNN's CAVs) flicker: the rule per frame, then a strict majority over the smoothing
    window, gives one loud span and one quiet span that never overlap."""
    from audioconcept.runtime.timeline import vote_grid

    res = 0.25
    g = 120  # 30 s
    loud = np.zeros(g, bool)
    loud[:60] = True
    loud[::5] = False  # flicker
    quiet = ~loud
    quiet[:60] = False
    quiet[60::7] = False
    on = vote_grid(np.array([loud, quiet]), np.ones(g, bool), res, 4.0)
    assert not (on[0] & on[1]).any()
    runs = [np.flatnonzero(np.diff(np.r_[0, r.astype(int), 0])).reshape(-1, 2) * res for r in on]
    assert len(runs[0]) == 1 and len(runs[1]) == 1  # one span each: the flicker is bridged
    np.testing.assert_allclose(runs[0][0], [0.0, 15.0], atol=1.0)
    np.testing.assert_allclose(runs[1][0], [15.0, 30.0], atol=1.0)


def test_borderline_concepts_are_validated_ones_within_their_lossy_margin_in_log_odds():
    from audioconcept.runtime.aggregate import borderline_concepts

    names = ("a", "b", "c", "d", "e", "f")
    thr = (0.5, 0.5, 0.9, 0.5, 0.5, 0.5)
    lo = lambda p: np.log(p / (1 - p))  # noqa: E731
    up = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    strengths = (up(0.9), up(1.1), up(lo(0.9) - 0.5), 0.51, 0.51, 0.51)
    val = {
        "a": {"status": "validated", "lossy_margin": 1.0},  # 0.9 log-odds above: borderline (present, fragile)
        "b": {"status": "validated", "lossy_margin": 1.0},  # 1.1 above: firm
        "c": {"status": "validated", "lossy_margin": 1.0},  # 0.5 under its own threshold: borderline (absent)
        "d": {"status": "failed", "lossy_margin": 1.0},  # never present: never borderline
        "e": {"status": "validated"},  # no margin measured
    }  # f: no validation record
    assert borderline_concepts(names, strengths, thr, val) == ["a", "c"]
    assert borderline_concepts(names, strengths, thr, val, skip={"a"}) == ["c"]
    assert borderline_concepts(names, strengths, thr, None) == []
