"""Concept probes: the held-out split, the precision calibration, and training on windows of known truth."""

import numpy as np
import pytest

from audioconcept.concepts.probes import (
    ProbeSettings,
    precision_recall,
    split_groups,
    threshold_for_precision,
    train_probes,
)
from audioconcept.errors import AudioConceptError


def _synthetic(n_pieces=12, n_sf=3, per=20, dim=16, seed=0):
    """Windows whose concept shifts the embedding along one direction, plus a per-soundfont offset (a timbre
    change that the probe must not mistake for the concept)."""
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=dim)
    X, y, pieces, sfs = [], [], [], []
    for p in range(n_pieces):
        for s in range(n_sf):
            offset = rng.normal(size=dim) * 0.5
            on = rng.random(per) < 0.4
            X.append(rng.normal(size=(per, dim)) + offset + np.outer(on, direction) * 0.8)
            y.append(on)
            pieces += [f"piece{p}"] * per
            sfs += [f"sf{s}"] * per
    return np.concatenate(X), np.concatenate(y).astype(float), np.array(pieces), np.array(sfs)


def test_split_is_disjoint_in_pieces_and_soundfonts():
    _, _, pieces, sfs = _synthetic()
    s = split_groups(pieces, sfs, seed=1)
    assert not set(pieces[s.train]) & set(pieces[s.test])
    assert not set(sfs[s.train]) & set(sfs[s.test])
    assert set(sfs[s.test]) == set(s.test_soundfonts)


def test_split_needs_two_pieces():
    with pytest.raises(AudioConceptError):
        split_groups(["a", "a"], ["x", "y"])


def test_threshold_for_precision_is_the_lowest_reaching_the_target():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    truth = np.array([1, 1, 0, 1, 0, 0], bool)
    thr, prec, rec = threshold_for_precision(scores, truth, 0.75)
    assert thr == 0.6 and prec == 0.75 and rec == 1.0
    thr, prec, _ = threshold_for_precision(scores, truth, 1.0)
    assert thr == 0.8 and prec == 1.0
    assert precision_recall(scores, truth, 0.6) == (0.75, 1.0)


def test_threshold_never_cuts_between_equal_scores():
    thr, prec, _ = threshold_for_precision(np.array([0.5, 0.5, 0.1]), np.array([1, 0, 0], bool), 0.9)
    assert thr == 0.5 and prec == 0.5  # both 0.5s are in or out together; 1.0 is not reachable


def test_probe_is_accurate_and_calibrated_on_held_out_pieces_and_soundfonts():
    X, y, pieces, sfs = _synthetic(n_pieces=16, per=30)
    split = split_groups(pieces, sfs, seed=0)
    probes, fig = train_probes(X, {"piano": y}, pieces, sfs, split, ProbeSettings(target_precision=0.9))
    f = fig["piano"]
    assert probes.names == ("piano",)
    assert f["auc"] > 0.95
    # the threshold was chosen on training pieces; on held-out pieces and soundfonts it keeps its precision
    assert f["precision"] >= 0.85 and f["recall"] > 0.5
    p = probes.predict(X[split.test])[:, 0]
    assert precision_recall(p, y[split.test].astype(bool), f["threshold"]) == pytest.approx(
        (f["precision"], f["recall"]), abs=1e-3
    )


def test_concept_without_enough_positives_gets_no_probe():
    X, y, pieces, sfs = _synthetic()
    rare = np.zeros_like(y)
    rare[:3] = 1
    split = split_groups(pieces, sfs, seed=0)
    probes, fig = train_probes(X, {"piano": y, "sitar": rare}, pieces, sfs, split)
    assert probes.names == ("piano",)
    assert fig["sitar"]["status"] == "not validated"
