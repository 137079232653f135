"""Opposite concepts (loud and quiet, bright and dark ...) are never both present at one moment: the side further
above its threshold, in log-odds, stays; strengths are kept as the model gave them."""

from __future__ import annotations

import numpy as np

from audioconcept.data.audio import Window
from audioconcept.runtime.aggregate import SongAggregator, SongSettings, softmax
from audioconcept.runtime.opposites import exclusive_groups, groups_as_names, groups_from_manifest, present_mask

NAMES = ("loud", "quiet", "soft", "piano", "bright", "dark")
THR = (0.023, 0.449, 0.055, 0.5, 0.109, 0.651)  # the default bundle's thresholds for these


def test_pairs_come_by_name_and_only_where_the_bundle_has_both_sides():
    assert exclusive_groups(NAMES) == (((0,), (1, 2)), ((4,), (5,)))
    # case, "_" and "-" are ignored; a side the bundle lacks drops the pair
    assert exclusive_groups(["Fast_Tempo", "slow-tempo", "minor_mode"]) == (((0,), (1,)),)
    assert exclusive_groups(["piano", "loud"]) == ()
    groups = exclusive_groups(NAMES)
    assert groups_as_names(NAMES, groups) == [[["loud"], ["quiet", "soft"]], [["bright"], ["dark"]]]


def test_a_bundle_may_name_its_own_pairs():
    m = {"concepts": {"names": ["calm", "busy", "loud", "quiet"], "exclusive": [[["calm"], ["busy", "nope"]]]}}
    assert groups_from_manifest(m) == (((0,), (1,)),)  # its own list replaces the built-in one
    m["concepts"].pop("exclusive")
    assert groups_from_manifest(m) == (((2,), (3,)),)


def test_the_side_further_above_its_threshold_in_log_odds_stays():
    groups = exclusive_groups(NAMES)
    # moment 0: loud 0.10 over 0.023 (+1.55 log-odds) beats quiet 0.60 over 0.449 (+0.61): quiet is silenced
    # moment 1: loud 0.03 (+0.27) loses to soft 0.30 over 0.055 (+1.99): loud is silenced, quiet (under) stays off
    # moment 2: only quiet is over its threshold: it stays; piano has no opposite and is never touched
    v = np.array(
        [[0.10, 0.03, 0.01], [0.60, 0.40, 0.90], [0.0, 0.30, 0.0], [0.7, 0.7, 0.1], [0.5, 0.0, 0.0], [0.9, 0.0, 0.0]]
    )
    on = present_mask(v, THR, groups)
    assert on[:, 0].tolist() == [True, False, False, True, True, False]  # bright +2.1 beats dark +1.6
    assert on[:, 1].tolist() == [False, False, True, True, False, False]
    assert on[:, 2].tolist() == [False, True, False, False, False, False]
    plain = present_mask(v, THR, ())
    assert plain[:, 0].tolist() == [True, True, False, True, True, True]  # without the rule both sides were on


def test_a_failed_concept_silences_nothing_and_nan_is_never_present():
    groups = exclusive_groups(NAMES)
    v = np.array([[0.99], [0.6], [0.0], [np.nan], [0.0], [0.0]])
    allowed = [False, True, True, True, True, True]  # loud failed its validation: never present
    on = present_mask(v, THR, groups, allowed)
    assert on[:, 0].tolist() == [False, True, False, False, False, False]


def _window(i: int, start: float, window_s: float = 10.0, sr: int = 100) -> Window:
    n = int(window_s * sr)
    return Window(i, start, start + window_s, np.full(n, 0.1, np.float32), n)


def test_a_song_is_loud_and_quiet_in_different_windows_but_never_in_the_same_cell():
    s = SongSettings(("a", "b"), 10.0, NAMES, THR, exclusive=exclusive_groups(NAMES))
    agg = SongAggregator(s)
    # window 0: loud wins; window 1: quiet wins; window 2: both over, loud wins again
    concepts = np.array(
        [[0.5, 0.5, 0.0, 0, 0, 0], [0.02, 0.95, 0.0, 0, 0, 0], [0.5, 0.5, 0.0, 0, 0, 0]], dtype=np.float64
    )
    frames = np.repeat(concepts[:, :, None], 20, axis=2)
    logits = np.zeros((3, 2))
    agg.add([_window(i, 10.0 * i) for i in range(3)], logits, softmax(logits), concepts, frames)
    assert agg.window_present() == ("loud",)
    r = agg.result("x.wav", "m", "cnn", "", "onnx", "cpu")
    assert r.concepts_present == ["loud", "quiet"]  # each in its own window: a song may be both
    assert r.concepts["quiet"] == 0.95 and r.concepts["loud"] == 0.5  # strengths untouched
    spans = {(sp.concept, sp.start, sp.end) for sp in r.concept_spans}
    loud = [(a, b) for c, a, b in spans if c == "loud"]
    quiet = [(a, b) for c, a, b in spans if c == "quiet"]
    assert loud and quiet
    assert all(min(b1, b2) <= max(a1, a2) for a1, b1 in loud for a2, b2 in quiet)  # never at the same time
    assert [r.windows[i].concepts["quiet"] for i in range(3)] == [0.5, 0.95, 0.5]  # window rows untouched


def test_without_pairs_presence_is_the_threshold_alone():
    s = SongSettings(("a", "b"), 10.0, NAMES, THR)
    agg = SongAggregator(s)
    concepts = np.array([[0.5, 0.5, 0.0, 0, 0, 0]])
    agg.add([_window(0, 0.0)], np.zeros((1, 2)), np.full((1, 2), 0.5), concepts)
    assert agg.result("x.wav", "m", "cnn", "", "onnx", "cpu").concepts_present == ["loud", "quiet"]


def test_a_malformed_pair_list_is_a_one_line_manifest_error():
    import json

    import pytest

    from audioconcept.errors import AudioConceptError
    from audioconcept.runtime.manifest_check import validate_manifest
    from audioconcept.runtime.registry import resolve_bundle

    root = resolve_bundle("musicnn-gtzan")
    m = json.loads((root / "manifest.json").read_text())
    m["concepts"]["exclusive"] = [[["loud"], ["quiet"]]]
    validate_manifest(m, root, "ok")
    m["concepts"]["exclusive"] = [["loud", "quiet"]]  # names, not sides
    with pytest.raises(AudioConceptError, match=r"concepts\.exclusive\[0\]\[0\]: expected array"):
        validate_manifest(m, root, "bad")


def test_opposites_of_reads_both_sides_of_every_pair():
    from audioconcept.runtime.opposites import opposites_of

    groups = (((0, 1), (2,)), ((3,), (0,)))
    assert opposites_of(0, groups) == (2, 3) and opposites_of(2, groups) == (0, 1) and opposites_of(4, groups) == ()
