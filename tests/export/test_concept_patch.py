"""The validated-concepts patch of a tag bundle: written into the manifest, checked by the schema and the
cross-field checks, and read by the runtime (confidence per concept, distance to training)."""

import json
import shutil

import numpy as np
import pytest

from audioconcept.errors import BundleError, ExportError
from audioconcept.export.package_bundles import apply_patch, patch_bundle
from audioconcept.runtime.concept_probes import ConceptProbes
from audioconcept.runtime.model import load
from audioconcept.runtime.ood import DistanceToTraining
from audioconcept.runtime.registry import packaged_bundles

MGT = packaged_bundles()["musicnn-gtzan"]


def _patch(m: dict, rng) -> dict:
    c = json.loads(json.dumps(m["concepts"]))
    n_graph = len(c["outputs"])
    dim = next(o["shape"][-1] for o in m["outputs"] if o["name"] == "embedding")
    names = ["piano", "distorted guitar"]
    probes = ConceptProbes(tuple(names), rng.normal(0, 0.05, (2, dim)), np.zeros(2))
    old = c.get("probes") or {"names": []}
    keep = [n for n in c["names"] if n not in old["names"] or n == "piano"]  # drop earlier probe-only concepts
    idx = [c["names"].index(n) for n in keep]
    for key in ("names", "members", "categories", "genre_named", "thresholds"):
        c[key] = [c[key][i] for i in idx]
    c["members"][c["names"].index("piano")] = [n_graph]
    c["names"].append("distorted guitar")
    c["members"].append([n_graph + 1])
    c["categories"].append("instrument")
    c["genre_named"].append(False)
    c["thresholds"].append(0.5)
    c["probes"] = probes.to_section()
    c["validation"] = {
        "piano": {"status": "validated", "source": "probe", "auc": 0.9, "precision": 0.9, "data": "renders"},
        "distorted guitar": {"status": "validated", "source": "probe", "auc": 0.9, "precision": 0.9, "data": "r"},
        "sitar": {"status": "failed", "source": "tag", "data": "GTZAN clips"},
    }
    ood = DistanceToTraining.fit(rng.normal(size=(12, dim))).to_section()
    gh = json.loads(json.dumps(m["genre_heads"]))
    gh.pop("default", None)
    gh.pop("reasons", None)  # the heads it names are left out below
    gh["heads"] = {k: v for k, v in gh["heads"].items() if k in ("all-tags", "musical")}  # heads on the tags only
    return {"concepts": c, "ood": ood, "genre_heads": gh}


@pytest.fixture
def patched(tmp_path):
    rng = np.random.default_rng(0)
    b = shutil.copytree(MGT, tmp_path / "musicnn-gtzan")
    m = json.loads((b / "manifest.json").read_text())
    p = tmp_path / "patch.json"
    p.write_text(json.dumps(_patch(m, rng)))
    return patch_bundle(b, p), p


def _sine(seconds=4.0, sr=16_000):
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def test_patch_is_written_validated_and_read(patched):
    b, _ = patched
    m = load(b)
    assert m.probes.names == ("piano", "distorted guitar")
    r = m.predict_array(_sine(), "sine.wav")
    assert "distorted guitar" in r.concepts and "probe:piano" in r.tags
    assert r.concept_validation["sitar"]["status"] == "failed" and "sitar" not in r.concepts_present
    assert r.concept_validation["happy"]["status"] == "not validated"
    assert set(r.ood) >= {"distance", "threshold", "outside"}
    assert "Concepts" in (b / "README.md").read_text() or (b / "README.md").exists()


MUTATIONS = {
    "unknown status": (lambda m: m["concepts"]["validation"]["piano"].update(status="great"), "not one of"),
    "validation without data": (lambda m: m["concepts"]["validation"]["piano"].pop("data"), "lacks 'data'"),
    "auc above 1": (lambda m: m["concepts"]["validation"]["piano"].update(auc=1.5), "above the maximum"),
    "validation of an unknown concept": (
        lambda m: m["concepts"]["validation"].update(banjo={"status": "validated", "data": "x"}),
        "banjo",
    ),
    "probe rows of two widths": (lambda m: m["concepts"]["probes"]["weights"][0].pop(), "widths"),
    "probe for an unknown concept": (lambda m: m["concepts"]["probes"]["names"].__setitem__(0, "banjo"), "banjo"),
    "a probe source without a probe": (
        lambda m: m["concepts"]["validation"]["sitar"].update(source="probe"),
        "rests on a probe",
    ),
    "ood scale zero": (lambda m: m["ood"]["scale"].__setitem__(0, 0), "scale"),
    "ood point of another width": (lambda m: m["ood"]["train"][0].pop(), "same width"),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_manifest_refuses_bad_validation_fields(patched, name):
    b, _ = patched
    change, match = MUTATIONS[name]
    m = json.loads((b / "manifest.json").read_text())
    change(m)
    (b / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match=match) as e:
        load(b)
    assert "\n" not in str(e.value)


def test_patch_from_another_tagger_is_refused(patched):
    b, p = patched
    m = json.loads((b / "manifest.json").read_text())
    patch = json.loads(p.read_text())
    patch["concepts"]["outputs"] = patch["concepts"]["outputs"][:50]
    with pytest.raises(ExportError, match="another tagger"):
        apply_patch(m, patch)
    with pytest.raises(ExportError, match="unknown sections"):
        apply_patch(m, {**patch, "weights": 1})


def test_every_concept_of_the_default_bundle_carries_its_validation():
    m = json.loads((MGT / "manifest.json").read_text())
    c = m["concepts"]
    v = c["validation"]
    assert set(v) == set(c["names"])
    for name, r in v.items():
        assert r["status"] in ("validated", "failed", "not validated") and r["data"]
        if r["status"] == "validated":
            assert r["auc"] is not None, name
    assert m["genre_heads"]["default"] in m["genre_heads"]["heads"]
    assert "ood" in m


def test_noise_is_out_of_distribution_for_the_default_bundle():
    rng = np.random.default_rng(0)
    noise = (0.3 * rng.standard_normal(16_000 * 6)).astype(np.float32)
    r = load("musicnn-gtzan").predict_array(noise, "noise.wav")
    assert r.ood["outside"] and r.ood["answer"] == "other / none of these"
