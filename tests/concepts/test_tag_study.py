"""The real-music concept study: exact head contributions per genre, figures, report."""

import json

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_study_of_the_shared_clips_probe(real_probe, tmp_path):
    from audioconcept.concepts.tag_study import StudyConfig, run_study
    from audioconcept.models.checkpoint import read_config
    from audioconcept.runtime.tag_concepts import GenreHead
    from audioconcept.train.probe import TrackFeatures

    out = tmp_path / "study"
    s = run_study(StudyConfig(real_probe, out, tcav=False))
    ck = read_config(real_probe)
    assert sorted(p.name for p in (out / "figures").iterdir()) == sorted(f"{g}.png" for g in ck.labels)
    assert set(s["contributions"]) == {"all-tags", "musical"}
    # the contributions are the heads' exact terms: intercept + their sum = the mean logit of the genre's tracks
    feats = TrackFeatures.load(real_probe / "features.npz")
    tags, labels = feats.pooled("tags"), np.asarray(feats.labels)
    for name, per in s["contributions"].items():
        head = GenreHead.from_manifest(
            {"labels": ck.labels, "concepts": ck.concepts, "genre_heads": ck.genre_heads}, name
        )
        for genre, g in per.items():
            k = ck.labels.index(genre)
            want = head.logits(tags[labels == genre])[:, k].mean()
            assert g["intercept"] + sum(c["mean"] for c in g["contributions"]) == pytest.approx(want, abs=1e-2)
            if name == "musical":
                assert g["genre_named_share"] == 0.0
    report = (out / "README.md").read_text()
    assert "## 1. Exact head contributions per genre" in report and "figures/jazz.png" in report
    assert json.loads((out / "study.json").read_text())["tracks"] == 50
