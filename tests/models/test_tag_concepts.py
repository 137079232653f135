"""Tags as clean concepts: vocabulary, merging and threshold calibration."""

import numpy as np
import pytest

from audioconcept.models.musicnn_tags import MSD_TAGS, MTT_TAGS
from audioconcept.models.tag_concepts import calibrate_thresholds, concepts_section, merge_tags, vocabulary

LABELS = [f"MSD:{t}" for t in MSD_TAGS] + [f"MTT:{t}" for t in MTT_TAGS]


def test_vocabulary_merges_synonyms_across_sources():
    v = vocabulary(LABELS)
    assert len(v["names"]) == 73 and sum(len(m) for m in v["members"]) == 100
    female = v["members"][v["names"].index("female voice")]
    assert sorted(LABELS[i] for i in female) == sorted(
        ["MSD:female vocalists", "MSD:female vocalist", "MTT:female", "MTT:woman", "MTT:female vocal",
         "MTT:female voice"]
    )  # fmt: skip
    named = dict(zip(v["names"], v["genre_named"], strict=True))
    assert named["jazz"] and named["80s"] and not named["piano"] and not named["female voice"]
    only_mtt = vocabulary([f"MTT:{t}" for t in MTT_TAGS])
    assert "jazz" not in only_mtt["names"] and "piano" in only_mtt["names"]
    with pytest.raises(ValueError, match="outside the musicnn vocabulary"):
        vocabulary(["MSD:polka"])


def test_merge_takes_the_strongest_source_tag():
    p = np.array([[0.1, 0.7, 0.2], [0.5, 0.0, 0.9]])
    np.testing.assert_array_equal(merge_tags(p, [[0, 1], [2]]), [[0.7, 0.2], [0.5, 0.9]])


def test_thresholds_use_labels_where_they_match_else_a_quantile_with_a_floor():
    rng = np.random.default_rng(0)
    labels = ["jazz"] * 20 + ["rock"] * 80
    jazz = np.r_[rng.uniform(0.3, 0.6, 20), rng.uniform(0.0, 0.25, 80)]  # separable at 0.3
    piano = rng.uniform(0.0, 1.0, 100)
    happy = rng.uniform(0.0, 0.01, 100)  # the model never calls it: the floor keeps it absent
    thr, ev = calibrate_thresholds(np.c_[jazz, piano, happy], ["jazz", "piano", "happy"], labels, quantile=0.9)
    assert 0.25 < thr[0] <= jazz[:20].min() and ev["jazz"]["f1"] == 1.0
    assert thr[1] == pytest.approx(np.quantile(piano, 0.9)) and "quantile" in ev["piano"]["rule"]
    assert thr[2] == 0.05
    # the label match ignores case, spaces and punctuation ("hiphop" = "hip hop")
    thr2, ev2 = calibrate_thresholds(np.c_[jazz], ["hip hop"], ["hiphop"] * 20 + ["x"] * 80)
    assert "F1-optimal" in ev2["hip hop"]["rule"]
    # a tag that cannot find its own label (F1 below 0.5) is not calibrated by it
    thr3, ev3 = calibrate_thresholds(np.c_[piano], ["jazz"], labels, quantile=0.9)
    assert "quantile" in ev3["jazz"]["rule"] and ev3["jazz"]["label_f1"] < 0.5
    assert thr3[0] == pytest.approx(np.quantile(piano, 0.9))


def test_concepts_section_describes_itself():
    c = concepts_section(LABELS)
    assert c["kind"] == "tags" and c["outputs"] == LABELS and len(c["thresholds"]) == len(c["names"])
    assert c["tags"][0] == {
        "label": "MSD:rock", "source": "MSD", "tag": "rock", "concept": "rock", "category": "genre",
        "genre_named": True,
    }  # fmt: skip
    with pytest.raises(ValueError, match="thresholds"):
        concepts_section(LABELS, [0.1])
