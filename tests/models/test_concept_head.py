"""The concept head that export bakes into graphs: read from `concepts learn`'s folder, or from a manifest."""

from __future__ import annotations

import json

import pytest

from audioconcept.errors import AudioConceptError
from audioconcept.models.concept_head import head_from_manifest, load_concept_head


def _concepts_json(tmp_path, thresholds=None):
    head = {"layer": "layer2", "names": ["drums", "piano"], "weights": [[1.0, 0.0, 2.0], [0.0, 1.0, 0.0]]}
    head["bias"] = [0.5, -0.5]
    if thresholds:
        head["thresholds"] = thresholds
    (tmp_path / "concepts.json").write_text(json.dumps({"head": head, "significant_findings": [], "cav_accuracy": {}}))
    return tmp_path


def test_load_head_and_meta(tmp_path):
    head, meta = load_concept_head(_concepts_json(tmp_path))
    assert head.layer == "layer2" and head.names == ("drums", "piano")
    assert tuple(head.weights.shape) == (2, 3) and meta["dim"] == 3
    assert meta["thresholds"] == [0.5, 0.5]
    rebuilt = head_from_manifest({"concepts": meta})
    assert rebuilt.names == head.names and tuple(rebuilt.weights.shape) == (2, 3)


def test_thresholds_from_learn_are_kept(tmp_path):
    _, meta = load_concept_head(_concepts_json(tmp_path, [0.3, 0.7]))
    assert meta["thresholds"] == [0.3, 0.7]


def test_missing_folder_is_one_line(tmp_path):
    with pytest.raises(AudioConceptError, match="concepts learn"):
        load_concept_head(tmp_path)
