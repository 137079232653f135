"""`concepts validate`: ROC-AUC and IoU against synthetic ground truth, through the runtime's song pipeline.

A stand-in model answers from the ground truth itself (an oracle) or at random, so the figures are known."""

from __future__ import annotations

import json

import numpy as np
import pytest

import audioconcept.concepts.validate as validate
from audioconcept.data.folder import load_ground_truth
from audioconcept.runtime.aggregate import SongAggregator, SongSettings
from audioconcept.runtime.outputs import Outputs

CONCEPTS = ("drums", "distorted_guitar", "strings")
FRAMES = 30  # frame scores per window


class StandIn:
    """Answers each window's concept frames from the clip's ground truth (oracle) or from noise."""

    def __init__(self, truth: dict, oracle: bool) -> None:
        self.truth, self.oracle = truth, oracle
        self.window_s = 10.0
        self.concept_names = list(CONCEPTS)
        self.concept_thresholds = [0.5] * len(CONCEPTS)
        self.m = {"concepts": {"layer": "stand-in"}}
        self.rng = np.random.default_rng(0)
        self.current = None

    def aggregator(self):
        return SongAggregator(SongSettings(("a", "b"), self.window_s, CONCEPTS, (0.5,) * len(CONCEPTS)))

    def run_windows(self, windows):
        gt = self.truth[self.current]["concepts"]
        for w in windows:
            t = w.start + (np.arange(FRAMES) + 0.5) * self.window_s / FRAMES
            frames = np.zeros((1, len(CONCEPTS), FRAMES))
            for k, c in enumerate(CONCEPTS):
                if self.oracle:
                    for s, e in gt.get(c, []):
                        frames[0, k] = np.maximum(frames[0, k], (t >= s) & (t < e))
                else:
                    frames[0, k] = self.rng.random(FRAMES)
            yield [w], Outputs(np.zeros((1, 2)), np.full((1, 2), 0.5), None, frames.max(-1), frames)


@pytest.mark.parametrize("oracle", [True, False])
def test_validate_against_ground_truth(tiny_synth, monkeypatch, oracle):
    truth = load_ground_truth(tiny_synth)
    model = StandIn(truth, oracle)
    monkeypatch.setattr("audioconcept.runtime.load", lambda *a, **k: model)
    real_iter = validate.iter_windows

    def iter_windows(path, *a, **k):
        model.current = f"{path.parent.name}/{path.name}"
        return real_iter(path, *a, **k)

    monkeypatch.setattr(validate, "iter_windows", iter_windows)
    r = validate.validate_bundle("stand-in", f"synth:{tiny_synth}", ("test", "valid", "train"))
    aucs = [v["roc_auc"] for v in r["per_concept"].values() if v["roc_auc"] is not None]
    assert aucs, "the tiny set has positives and negatives for some concept"
    if oracle:
        assert min(aucs) == 1.0
        assert r["spans_checked"] > 0 and r["mean_iou"] > 0.7  # smoothing blurs span edges a little
    else:
        assert max(aucs) < 0.9
    validate.write_validation_report(r, tiny_synth.parent / f"report-{oracle}")
    assert json.loads((tiny_synth.parent / f"report-{oracle}" / "validation.json").read_text())["clips"] == r["clips"]


def test_iou():
    a = np.array([1, 1, 0, 0], bool)
    assert validate.iou(a, a) == 1.0
    assert validate.iou(a, ~a) == 0.0
    assert validate.iou(np.zeros(3, bool), np.zeros(3, bool)) == 1.0
