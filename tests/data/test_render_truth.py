"""Concept truth from note intervals: exact window activity, the model's windows, key and thresholds."""

import json
from pathlib import Path

import numpy as np
import pytest

from audioconcept.data.render.gm import FAMILIES, INSTRUMENT_CONCEPTS, concepts_of
from audioconcept.data.render.key import estimate_key, pitch_class_durations
from audioconcept.data.render.truth import (
    MODEL_HOP,
    MODEL_SR,
    MODEL_WINDOW,
    coverage,
    merge_intervals,
    model_windows,
    overlaps,
    state,
)

MANIFEST = Path(__file__).resolve().parents[2] / "audioconcept/runtime/bundles/musicnn-gtzan/manifest.json"


def test_windows_are_the_default_models():
    m = json.loads(MANIFEST.read_text())
    assert m["sample_rate"] == MODEL_SR
    assert m["window_samples"] == MODEL_WINDOW
    assert round(m["window_s"] * MODEL_SR) == MODEL_WINDOW
    assert round(m["hop_s"] * MODEL_SR) == MODEL_HOP


def test_model_windows_cover_the_song_like_the_runtime():
    n = 10 * MODEL_SR
    w = model_windows(n)
    assert [s for s, _, _ in w] == [0, MODEL_HOP, 2 * MODEL_HOP, n - MODEL_WINDOW]
    assert all(abs(t1 - t0 - MODEL_WINDOW / MODEL_SR) < 1e-9 for _, t0, t1 in w)


@pytest.mark.parametrize("t0,t1", [(0.5, 1.0), (2.9, 3.1), (2.976, 2.99), (5.0, 9.5), (11.5, 12.0)])
def test_instrument_active_in_exactly_the_windows_its_notes_overlap(t0, t1):
    """A stem plays one note in [t0, t1]: active in the windows that meet it, inactive in all others."""
    windows = model_windows(12 * MODEL_SR)
    notes = np.array([[t0, t1]])
    got = [overlaps(notes, a, b) for _, a, b in windows]
    want = [a < t1 and b > t0 for _, a, b in windows]
    assert got == want
    for (_, a, b), active in zip(windows, got, strict=True):
        cov = coverage(notes, a, b)
        assert (cov > 0) == active
        assert cov == pytest.approx(max(0.0, min(b, t1) - max(a, t0)))


def test_gap_between_windows_is_not_activity():
    # 2.976 s .. 2.992 s lies between window 0 and window 1: a note there is in no window
    windows = model_windows(12 * MODEL_SR)
    assert not any(overlaps(np.array([[2.977, 2.991]]), a, b) for _, a, b in windows)


def test_resting_instrument_is_inactive_everywhere():
    empty = np.zeros((0, 2))
    assert not any(overlaps(empty, a, b) for _, a, b in model_windows(12 * MODEL_SR))
    assert coverage(empty, 0, 3) == 0.0


def test_merge_and_coverage_count_overlaps_once():
    iv = np.array([[0.0, 1.0], [0.5, 2.0], [3.0, 4.0], [2.0, 2.5]])
    assert merge_intervals(iv).tolist() == [[0.0, 2.5], [3.0, 4.0]]
    assert coverage(iv, 0.0, 10.0) == pytest.approx(3.5)
    assert coverage(iv, 1.0, 3.5) == pytest.approx(2.0)


def test_gm_families_name_the_concepts():
    assert concepts_of(40) == ("strings", "violin")
    assert concepts_of(56) == ("brass", "trumpet")
    assert concepts_of(73) == ("woodwinds", "flute")
    assert concepts_of(38) == ("bass", "synth")
    assert concepts_of(27) == ("electric_guitar",)
    assert concepts_of(27, distorted=True) == ("distorted_guitar",)
    assert concepts_of(0, is_drum=True) == ("drums",)
    assert concepts_of(11) == ()  # vibraphone: none of the concepts
    assert concepts_of(42) == ("strings", "cello") and concepts_of(43) == ("strings",)  # a contrabass is no cello
    assert set(FAMILIES) <= set(INSTRUMENT_CONCEPTS)


def test_a_stored_stem_gets_the_concepts_of_the_current_tables():
    """Truth for a concept added after a render (cello) comes from the stem's stored program and notes."""
    from audioconcept.data.render.gm import stem_truth
    from audioconcept.data.render.truth import instrument_states

    old = {"program": 42, "is_drum": False, "concepts": ["strings"], "uncertain": [], "intervals": [[0.5, 2.0]]}
    st = stem_truth(old)
    assert st["concepts"] == ("strings", "cello") and st["intervals"] == old["intervals"]
    states = instrument_states([st], False, 0.0, 3.0)
    assert states["cello"] == (1, 1.5) and states["violin"] == (0, 0.0)  # a cello is no violin
    assert states["piano"] == (0, 0.0) and states["trumpet"] == (0, 0.0)
    dist = {"program": 27, "is_drum": False, "concepts": ["distorted_guitar"], "uncertain": [], "intervals": []}
    assert stem_truth(dist)["concepts"] == ("distorted_guitar",)  # the effect it was rendered with stays
    assert stem_truth({**dist, "concepts": ["electric_guitar"]})["concepts"] == ("electric_guitar",)
    assert stem_truth({"program": 48, "is_drum": False, "concepts": [], "intervals": []})["uncertain"] == (
        "violin",
        "cello",
    )


def test_state_has_an_uncertain_band():
    assert [state(v, 140, 115) for v in (150, 140, 120, 115, 100)] == [1, 1, -1, 0, 0]
    assert [state(v, 90, 105) for v in (80, 90, 100, 105, 130)] == [1, 1, -1, 0, 0]
    assert state(float("nan"), 1, 0) == -1


@pytest.mark.parametrize(
    "pitches,tonic,mode",
    [
        ([60, 64, 67], 0, "major"),  # C E G
        ([57, 60, 64], 9, "minor"),  # A C E
        ([62, 66, 69, 67, 71, 74], 2, "major"),  # D major: D F# A, G B D
        ([64, 67, 71, 60, 64, 67, 71, 66, 69], 4, "minor"),  # E minor
    ],
)
def test_key_from_notes(pitches, tonic, mode):
    hist = pitch_class_durations(np.array(pitches), np.ones(len(pitches)))
    t, m, r = estimate_key(hist)
    assert (t, m) == (tonic, mode)
    assert r > 0.5


def test_key_signature_picks_between_relative_keys():
    hist = pitch_class_durations(np.array([57, 60, 64, 57]), np.ones(4))  # A minor triad, A doubled
    assert estimate_key(hist, sharps=0)[:2] == (9, "minor")
    hist = pitch_class_durations(np.array([60, 64, 67, 60]), np.ones(4))
    assert estimate_key(hist, sharps=0)[:2] == (0, "major")


def test_instrument_states_from_a_records_stems():
    from audioconcept.data.render.truth import instrument_states

    stems = [
        {"concepts": ["strings", "violin"], "uncertain": [], "intervals": [[1.0, 2.0]]},
        {"concepts": [], "uncertain": ["strings", "synth"], "intervals": [[4.0, 5.0]]},  # synth strings
    ]
    at = {w: instrument_states(stems, False, *w) for w in ((0.0, 2.976), (2.992, 5.968), (5.984, 8.96))}
    assert at[(0.0, 2.976)]["violin"] == (1, 1.0) and at[(0.0, 2.976)]["synth"] == (0, 0.0)
    assert at[(2.992, 5.968)]["strings"][0] == -1 and at[(2.992, 5.968)]["violin"][0] == 0
    assert at[(5.984, 8.96)]["strings"][0] == 0
    # under a real background every concept that no stem plays is uncertain, and what plays stays present
    bg = instrument_states(stems, True, 0.0, 2.976)
    assert bg["violin"][0] == 1 and bg["piano"][0] == -1 and bg["drums"][0] == -1


def test_record_windows_derive_other_window_lengths():
    from audioconcept.data.render.truth import record_windows

    record = {"seconds": 40.0, "background": None, "stems": [{"concepts": ["piano"], "intervals": [[31.0, 33.0]]}]}
    rows = record_windows(record, 29.1, 29.1, sr=22050)  # the CNN's window: [0, 29.1) and [10.9, 40)
    assert [(r["start_s"], r["piano"]) for r in rows] == [(0.0, 0), (10.9, 1)]
    assert rows[1]["cover_piano"] == pytest.approx(2.0)


def test_a_viola_or_a_contrabass_is_uncertain_for_violin_and_cello_not_absent():
    """A viola is strings and neither a violin nor a cello for certain (it sits between them, and a soundfont's
    viola is often its violin played lower); a bowed contrabass overlaps the cello. A violin and a cello stay
    certain negatives for each other: a fiddle called "cello" is a reason a musician rejects."""
    from audioconcept.data.render.gm import concepts_of, uncertain_concepts_of
    from audioconcept.data.render.truth import instrument_states

    for prog in (40, 41, 42, 43):
        assert "strings" in concepts_of(prog)
    assert set(uncertain_concepts_of(41)) == {"violin", "cello"}
    assert uncertain_concepts_of(43) == ("cello",)
    assert uncertain_concepts_of(40) == () and uncertain_concepts_of(42) == ()
    viola = {
        "program": 41,
        "is_drum": False,
        "concepts": ["strings"],
        "uncertain": uncertain_concepts_of(41),
        "intervals": [[0.0, 2.0]],
    }
    st = instrument_states([viola], False, 0.0, 3.0)
    assert st["strings"][0] == 1 and st["violin"][0] == -1 and st["cello"][0] == -1 and st["flute"][0] == 0
    assert instrument_states([viola], False, 3.0, 6.0)["violin"] == (0, 0.0)  # where the viola rests: certain
    violin = {
        "program": 40,
        "is_drum": False,
        "concepts": ["strings", "violin"],
        "uncertain": [],
        "intervals": [[0, 2]],
    }
    assert instrument_states([violin], False, 0.0, 3.0)["cello"] == (0, 0.0)


def test_an_electric_piano_is_uncertain_for_piano_not_present():
    """A Rhodes or an FM piano is keys a musician does not call "piano" for certain: while one plays, piano is
    uncertain; an acoustic piano stays present. The program stays in the piano family for drawing arrangements."""
    from audioconcept.data.render.gm import FAMILIES, concepts_of, uncertain_concepts_of
    from audioconcept.data.render.truth import instrument_states

    assert 4 in FAMILIES["piano"] and 5 in FAMILIES["piano"]
    for prog in (4, 5):
        assert "piano" not in concepts_of(prog) and uncertain_concepts_of(prog) == ("piano",)
    assert concepts_of(0) == ("piano",) and concepts_of(1) == ("piano",)
    rhodes = {
        "program": 4,
        "is_drum": False,
        "concepts": concepts_of(4),
        "uncertain": uncertain_concepts_of(4),
        "intervals": [[0.0, 2.0]],
    }
    assert instrument_states([rhodes], False, 0.0, 3.0)["piano"] == (-1, 0.0)
