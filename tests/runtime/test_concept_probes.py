"""Concept probes in the song pipeline: probe outputs appended to the tags, a concept resting on its probe,
validation records shown with every concept, failed concepts never present, genre-named concepts kept apart as
"similar to", and the distance to the training music."""

import numpy as np
import pytest

from audioconcept.data.audio import Window
from audioconcept.errors import BundleError
from audioconcept.models.musicnn_tags import MSD_TAGS, MTT_TAGS
from audioconcept.models.tag_concepts import concepts_section
from audioconcept.runtime.aggregate import SongAggregator, SongSettings, softmax
from audioconcept.runtime.concept_probes import ConceptProbes, confidence_text
from audioconcept.runtime.model import append_probes
from audioconcept.runtime.ood import OTHER, DistanceToTraining
from audioconcept.runtime.outputs import Outputs
from audioconcept.runtime.result import confidence_cell

TAGS = [f"MSD:{t}" for t in MSD_TAGS] + [f"MTT:{t}" for t in MTT_TAGS]
GENRES = ["jazz", "metal", "pop"]
DIM = 8


def _manifest(rng) -> dict:
    c = concepts_section(TAGS, [0.5] * 73)
    n = len(TAGS)
    # "piano" now rests on its probe (output n); "distorted guitar" is a probe-only concept (output n + 1)
    c["members"][c["names"].index("piano")] = [n]
    c["names"].append("distorted guitar")
    c["members"].append([n + 1])
    c["categories"].append("instrument")
    c["genre_named"].append(False)
    c["thresholds"].append(0.5)
    probes = ConceptProbes(("piano", "distorted guitar"), rng.normal(size=(2, DIM)), np.zeros(2))
    c["probes"] = probes.to_section()
    c["validation"] = {
        "piano": {"status": "validated", "source": "probe", "auc": 0.95, "precision": 0.91, "data": "renders"},
        "distorted guitar": {"status": "validated", "source": "probe", "auc": 0.9, "precision": 0.9, "data": "r"},
        "sitar": {"status": "failed", "source": "tag", "data": "50 GTZAN clips", "why": "present on 20"},
    }
    features = ["MTT:piano", "probe:piano", "probe:distorted guitar", "MSD:jazz", "MTT:sitar"]
    w = rng.normal(0, 2, (3, len(features)))
    head = {
        "input": "tags",
        "features": features,
        "weights": w.tolist(),
        "bias": [0.0] * 3,
        "intercept": [0.0] * 3,
        "reference": [0.0] * len(features),
    }
    train = rng.normal(size=(20, DIM))
    return (
        {
            "name": "probe-test",
            "labels": GENRES,
            "window_s": 2.976,
            "concepts": c,
            "genre_heads": {
                "in_graph": "all-tags",
                "default": "validated",
                "heads": {"all-tags": head, "validated": head},
            },
            "ood": DistanceToTraining.fit(train).to_section(),
        },
        probes,
        train,
    )


def _windows(n):
    return [Window(i, 2.992 * i, 2.992 * i + 2.976, np.full(10, 0.1, np.float32), 10) for i in range(n)]


def _run(m, probes, emb, tags):
    settings = SongSettings.from_manifest(m)
    out = append_probes(
        Outputs(np.zeros((len(emb), 3)), np.full((len(emb), 3), 1 / 3), emb, tags, tags[..., None]), probes, "test"
    )
    agg = SongAggregator(settings)
    logits = settings.head.logits(out.concepts)
    agg.add(_windows(len(emb)), logits, softmax(logits), out.concepts, out.concept_frames, emb)
    return agg.result("song.wav", "m", "musicnn-probe", "", "onnx", "cpu", top_k=3), out


def test_probe_concepts_ride_on_the_embedding_and_show_their_validation():
    rng = np.random.default_rng(0)
    m, probes, train = _manifest(rng)
    emb = train[:4] + 0.01
    tags = rng.uniform(0, 0.1, (4, 100))
    tags[:, TAGS.index("MTT:sitar")] = 0.99  # a tag that failed validation
    tags[:, TAGS.index("MSD:jazz")] = 0.99  # a genre-named tag
    r, out = _run(m, probes, emb, tags)
    p = probes.predict(emb)
    assert out.concepts.shape == (4, 102) and out.concept_frames.shape == (4, 102, 1)
    # the concept's strength is its probe's probability, not its tag's
    assert r.concepts["piano"] == pytest.approx(float(p[:, 0].max()), abs=1e-4)
    assert r.concepts["distorted guitar"] == pytest.approx(float(p[:, 1].max()), abs=1e-4)
    assert r.tags["probe:piano"] == pytest.approx(float(p[:, 0].max()), abs=1e-4)
    # a concept that failed validation is shown but never present; a genre-named one is "similar to", not present
    assert r.concepts["sitar"] > 0.9 and "sitar" not in r.concepts_present
    assert "jazz" in r.similar_to and "jazz" not in r.concepts_present
    assert r.concept_validation["piano"]["status"] == "validated"
    assert r.concept_validation["sitar"]["status"] == "failed"
    assert r.concept_validation["happy"]["status"] == "not validated"
    assert confidence_cell(r.concept_validation["piano"]) == "precision 0.91, AUC 0.95"
    assert r.concept_validation["jazz"]["genre_named"] and not r.concept_validation["piano"]["genre_named"]
    assert confidence_cell(r.concept_validation["sitar"]).startswith("✗")
    assert "AUC 0.95" in confidence_text(m["concepts"]["validation"]["piano"])
    # the default head reads the probes too, and its reasons hold no genre-named concept
    for e in r.explanation["genres"]:
        assert not any(c["genre_named"] for c in e["contributions"])
        assert {c["concept"] for c in e["similar_to"]} <= {"jazz"}
    # nor one that failed its validation: sitar weighs in the head, apart, and the logit still adds up
    all_tags = SongSettings.from_manifest(m, "all-tags").head.explain(out.concepts.mean(0), "jazz")
    assert [c["concept"] for c in all_tags["failed"]] == ["sitar"]
    assert "sitar" not in {c["concept"] for c in all_tags["contributions"]}
    parts = all_tags["contributions"] + all_tags["similar_to"] + all_tags["failed"]
    assert all_tags["intercept"] + sum(c["value"] for c in parts) == pytest.approx(all_tags["logit"], abs=1e-4)
    assert r.explanation["head"] == "validated"
    assert not r.ood["outside"]


def test_far_songs_are_other_and_near_ones_are_not():
    rng = np.random.default_rng(1)
    train = rng.normal(size=(30, DIM))
    d = DistanceToTraining.fit(train)
    assert all(d.distance(t[None]) <= d.threshold for t in train)  # each training song is inside (itself at 0)
    far = d.judge(np.full((5, DIM), 12.0))
    assert far["outside"] and far["distance"] > far["threshold"]
    back = DistanceToTraining.from_manifest({"ood": d.to_section(decimals=6)})
    assert back.distance(np.full((1, DIM), 12.0)) == pytest.approx(d.distance(np.full((1, DIM), 12.0)), rel=1e-4)
    m, probes, _ = _manifest(rng)
    r, _ = _run(m, probes, np.full((3, DIM), 50.0), rng.uniform(0, 0.1, (3, 100)))
    assert r.ood["outside"] and r.ood["answer"] == OTHER


def test_probes_refuse_a_wrong_embedding():
    probes = ConceptProbes(("piano",), np.zeros((1, DIM)), np.zeros(1))
    with pytest.raises(BundleError, match="8-wide"):
        probes.predict(np.zeros((2, 5)))
    with pytest.raises(BundleError, match="no embedding"):
        append_probes(Outputs(np.zeros((1, 3)), np.zeros((1, 3)), None, np.zeros((1, 100))), probes, "b")
    with pytest.raises(BundleError, match="2 names"):
        ConceptProbes.from_section({"names": ["a", "b"], "weights": [[0.0] * 3], "bias": [0.0]})


def test_a_concept_within_its_lossy_margin_is_borderline_in_the_result_and_the_table():
    import io

    from rich.console import Console

    from audioconcept.runtime.result import render_table

    rng = np.random.default_rng(0)
    m, probes, train = _manifest(rng)
    emb = train[:4] + 0.01
    p = probes.predict(emb)
    piano, guitar = float(p[:, 0].max()), float(p[:, 1].max())
    lo = lambda q: np.log(q / (1 - q))  # noqa: E731
    c = m["concepts"]
    c["thresholds"][c["names"].index("piano")] = 0.5
    c["validation"]["piano"]["lossy_margin"] = abs(lo(piano)) + 0.1  # piano's strength sits inside its margin
    c["validation"]["distorted guitar"]["lossy_margin"] = max(abs(lo(guitar)) - 0.1, 0.0)  # just outside it
    r, _ = _run(m, probes, emb, rng.uniform(0, 0.1, (4, 100)))
    assert r.concepts_borderline == ["piano"]
    assert r.concept_validation["piano"]["lossy_margin"] == pytest.approx(abs(lo(piano)) + 0.1)
    assert r.to_dict()["concepts_borderline"] == ["piano"]
    out = io.StringIO()
    render_table(r, Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    row = next(line for line in text.splitlines() if line.startswith("│ piano"))
    assert "borderline" in row and "borderline: within its lossy margin" in text
    assert "borderline" not in next(line for line in text.splitlines() if line.startswith("│ distorted guitar"))
