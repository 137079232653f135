"""`train probe`: linear heads on a tagger's named tags or embedding, fitted and estimated honestly."""

import json

import numpy as np
import pytest

from audioconcept.errors import AudioConceptError, CheckpointError
from audioconcept.models.musicnn_tags import TAGS
from audioconcept.train.probe import cv_accuracy, fit_head, head_features, head_logits, resolve_backbone


def test_folded_head_equals_the_standardised_regression():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X = rng.uniform(0, 0.3, (60, 8)) * rng.uniform(0.1, 3, 8)
    y = np.array(["a", "b", "c"] * 20)
    X[y == "b", 2] += 0.2
    h = fit_head(X, y, ["c", "a", "b"], C=0.5)  # label order is the bundle's, not sklearn's
    ref = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=10_000)).fit(X, y)
    want = ref.decision_function(X)[:, [2, 0, 1]]
    np.testing.assert_allclose(head_logits(h, X), want, atol=1e-4)  # (our scale has a 1e-6 floor)
    # intercept + w (x - reference) is the same logit, split around the training mean
    W, mu = np.asarray(h["weights"]), np.asarray(h["reference"])
    np.testing.assert_allclose((X - mu) @ W.T + h["intercept"], want, atol=1e-4)
    with pytest.raises(AudioConceptError, match="no training tracks for d"):
        fit_head(X, y, ["a", "b", "c", "d"], C=1.0)


def test_cross_validation_is_per_track_and_not_fooled_by_noise():
    rng = np.random.default_rng(1)
    y = np.repeat(["a", "b"], 20)
    X = rng.normal(0, 1, (40, 5))
    X[:, 0] += np.where(y == "a", 4.0, -4.0)
    assert cv_accuracy(X, y, ["a", "b"], 1.0, 5, 3)["accuracy"] == 1.0
    noise = cv_accuracy(rng.normal(0, 1, (40, 5)), y, ["a", "b"], 1.0, 5, 5)
    assert 0.2 < noise["accuracy"] < 0.8 and noise["folds"] == 5 and noise["n"] == 40
    with pytest.raises(AudioConceptError, match="at least 2 tracks per label"):
        cv_accuracy(X[:21], y[:21], ["a", "b"], 1.0, 5, 1)


def test_the_musical_head_leaves_every_genre_named_tag_out():
    labels = list(TAGS)
    f = head_features(labels)
    assert len(f["all-tags"]) == 100 and len(f["musical"]) == 51
    assert not any(TAGS[labels[i]].genre_named for i in f["musical"])


def test_backbone_must_exist(tmp_path):
    with pytest.raises(CheckpointError, match="import-pretrained musicnn"):
        resolve_backbone(tmp_path / "nothing")


@pytest.mark.slow
def test_probe_trains_on_the_shared_real_clips(real_probe):
    """Head training on the 50 real GTZAN clips (here one window per clip)."""
    from audioconcept.models.checkpoint import read_config

    ck = read_config(real_probe)
    assert ck.arch == "musicnn-probe" and ck.labels[0] == "blues" and len(ck.labels) == 10
    assert ck.trained_on.startswith("folder:") and ck.source["licence"] == "ISC"
    heads = ck.metrics["heads"]
    assert ck.metrics["protocol"] == "cv" and ck.metrics["in_graph"] == "all-tags"
    # with one window per clip the estimates are noisy; chance is 0.1
    assert heads["all-tags"]["cv"]["accuracy"] >= 0.7 and heads["embedding"]["cv"]["accuracy"] >= 0.7
    assert heads["musical"]["cv"]["accuracy"] >= 0.5
    gh = ck.genre_heads
    assert set(gh["heads"]) == {"all-tags", "musical"} and len(gh["heads"]["musical"]["features"]) == 51
    assert len(ck.concepts["thresholds"]) == len(ck.concepts["names"]) == 73
    ev = ck.concepts["threshold_evidence"]
    assert "F1-optimal" in ev["jazz"]["rule"] and "quantile" in ev["piano"]["rule"]
    run = json.loads((real_probe / "run.json").read_text())
    assert run["tracks"] == 50 and run["windows"] == 50
    assert (real_probe / "features.npz").exists()


def test_the_split_protocol_chooses_C_on_valid_and_reports_test():
    """GTZAN's protocol: fit on train, choose C on valid, score the untouched test split."""
    from audioconcept.models.musicnn_tags import MSD_TAGS, MTT_TAGS
    from audioconcept.train.probe import ProbeTrainConfig, TrackFeatures, fit_heads

    rng = np.random.default_rng(2)
    tags = [f"MSD:{t}" for t in MSD_TAGS] + [f"MTT:{t}" for t in MTT_TAGS]
    labels, splits, tag_windows, emb_windows = [], [], [], []
    for split, n in (("train", 40), ("valid", 10), ("test", 10)):
        for i in range(n):
            lab = ["jazz", "metal"][i % 2]
            t = rng.uniform(0, 0.2, (3, 100))
            t[:, tags.index("MSD:jazz" if lab == "jazz" else "MTT:guitar")] += 1.0  # a musical cue for metal too
            labels.append(lab)
            splits.append(split)
            tag_windows.append(t)
            emb_windows.append(rng.normal(0, 1, (3, 8)) + (2.0 if lab == "jazz" else -2.0))
    feats = TrackFeatures([f"{i}.wav" for i in range(len(labels))], labels, splits, tag_windows, emb_windows)
    cfg = ProbeTrainConfig("x", "gtzan:x", None)
    heads = fit_heads(feats, ["jazz", "metal"], tags, cfg, "split")
    for name in ("all-tags", "musical", "embedding"):
        acc = heads[name]["accuracy"]
        assert (acc["n_train"], acc["n_valid"], acc["n_test"]) == (40, 10, 10)
        assert set(acc["valid_by_C"]) == {"0.03", "0.1", "0.3", "1.0", "3.0", "10.0"}
        assert acc["test"] >= 0.8, (name, acc)
    assert len(heads["musical"]["weights"][0]) == 51


def test_a_nonnegative_head_keeps_every_weight_at_or_above_zero_and_still_separates():
    rng = np.random.default_rng(0)
    y = np.repeat(["a", "b", "c"], 20)
    X = rng.normal(0, 1, (60, 4))
    for k, lab in enumerate("abc"):
        X[y == lab, k] += 3.0  # feature k speaks for class k
    X[:, 3] = -X[:, 0]  # "less of a" speaks for a too: a non-negative head may not use it
    free = fit_head(X, y, ["a", "b", "c"], C=1.0)
    h = fit_head(X, y, ["a", "b", "c"], C=1.0, nonnegative=True)
    W = np.asarray(h["weights"])
    assert W.min() >= 0.0 and np.asarray(free["weights"]).min() < 0.0
    assert W[0, 0] > 0 and W[1, 1] > 0 and W[2, 2] > 0
    pred = np.asarray(["a", "b", "c"])[head_logits(h, X).argmax(1)]
    assert np.mean(pred == y) > 0.9
    # the scaler is folded in: intercept + W (x - reference) = W x + bias
    np.testing.assert_allclose(head_logits(h, X), np.asarray(h["intercept"]) + (X - h["reference"]) @ W.T, atol=1e-9)
    assert cv_accuracy(X, y, ["a", "b", "c"], 1.0, 5, 2, nonnegative=True)["accuracy"] > 0.9


def test_the_evidence_mask_lets_a_weight_live_only_where_the_genre_has_more_of_it():
    from audioconcept.train.probe import cv_accuracy, evidence_mask

    rng = np.random.default_rng(0)
    labels = ["a", "b", "c"]
    y = np.repeat(labels, 8)
    X = rng.normal(0, 1, (24, 3))
    X[y == "a", 0] += 4.0  # a has more of feature 0
    X[y == "b", 1] -= 4.0  # b has LESS of feature 1: no reason for b, and evidence for a and c
    allowed, p = evidence_mask(X, y, labels, 0.05)
    assert allowed[0, 0] and not allowed[1, 0] and not allowed[2, 0]
    assert not allowed[1, 1] and p[1, 1] > 0.99
    h = fit_head(X, y, labels, C=1.0, nonnegative=True, allowed=allowed)
    W = np.asarray(h["weights"])
    assert np.all(W[~allowed] == 0.0) and W[0, 0] > 0
    # p-values from elsewhere (NaN: test here) replace the test on these songs
    fixed = np.full((3, 3), np.nan)
    fixed[1, 2] = 1e-9
    allowed2, p2 = evidence_mask(X, y, labels, 0.05, fixed)
    assert allowed2[1, 2] and p2[1, 2] == 1e-9 and np.array_equal(allowed2[0], allowed[0])
    # the cross-validation redoes the test inside each fold and still separates what the data separates
    assert cv_accuracy(X, y, labels, 1.0, 4, 2, nonnegative=True, evidence_alpha=0.05)["accuracy"] > 0.8
