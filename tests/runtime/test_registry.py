"""Which bundle runs without --model: the real-music default, never a synthetic-data model."""

import json
import subprocess
import sys

import pytest

from audioconcept.runtime import registry
from audioconcept.runtime.registry import (
    DEFAULT_PACKAGED,
    best_local_bundle,
    packaged_bundles,
    resolve_bundle,
    trained_on_synthetic,
)

DEFAULT = packaged_bundles()[DEFAULT_PACKAGED]


def _bundle(root, name: str, trained_on: str, metrics: dict, **extra) -> None:
    """A valid manifest (the registry skips invalid ones) that differs from the packaged default's in what
    decides the default: name, arch, training data, metrics."""
    (root / name).mkdir(parents=True)
    m = json.loads((DEFAULT / "manifest.json").read_text())
    m.update({"name": name, "arch": "cnn", "trained_on": trained_on, "metrics": metrics, **extra})
    (root / name / "manifest.json").write_text(json.dumps(m))


def test_a_synthetic_bundle_never_becomes_the_default(tmp_path, monkeypatch):
    models = tmp_path / "models"
    _bundle(models, "cnn", "synth:data/synth", {"test": {"accuracy": 0.99}})
    _bundle(models, "tagger", "folder:songs", {"cv": {"accuracy": 0.9}}, multi_label=True)  # no genres
    _bundle(models, "svm", "folder:songs", {"test": {"accuracy": 0.95}}, arch="svm")
    assert best_local_bundle(models) is None
    monkeypatch.chdir(tmp_path)
    assert resolve_bundle(None) == DEFAULT
    # a real-music genre bundle of the user's wins, by its recorded accuracy (test, else cross-validated)
    _bundle(models, "mine", "gtzan:/data/gtzan", {"test": {"accuracy": 0.7}})
    _bundle(models, "mine-cv", "folder:/data/songs", {"cv": {"accuracy": 0.8}})
    assert resolve_bundle(None).name == "mine-cv"


def test_the_synthetic_rule():
    assert trained_on_synthetic({"trained_on": "synth:data/synth"})
    assert trained_on_synthetic(json.loads((packaged_bundles()["cnn-synth"] / "manifest.json").read_text()))
    assert not trained_on_synthetic(json.loads((DEFAULT / "manifest.json").read_text()))


def test_the_packaged_default_is_small_real_and_says_what_it_is():
    from importlib import resources

    import jsonschema

    assert registry.DEFAULT_PACKAGED == "musicnn-gtzan"
    size = sum(f.stat().st_size for f in DEFAULT.iterdir())
    assert size <= 10_000_000, size
    m = json.loads((DEFAULT / "manifest.json").read_text())
    schema = json.loads(resources.files("audioconcept.runtime").joinpath("manifest.schema.json").read_text())
    jsonschema.validate(m, schema)
    assert list(m["artifacts"]) == ["onnx_body"] and m["runtime_frontend"] == "numpy"
    assert m["parity"]["onnx_body"]["passed"] and m["frontend"]["context_samples"] == 256
    # the default head keeps the genres right (>= 0.85 cross-validated); the honest head on validated concepts ships
    # beside it, its accuracy reported, and becomes the default only once it reaches that floor
    heads, default = m["metrics"]["heads"], m["genre_heads"]["default"]
    assert m["metrics"]["protocol"] == "cv" and m["metrics"]["cv"]["accuracy"] >= 0.85
    assert "validated" in m["genre_heads"]["heads"] and heads["validated"]["cv"]["accuracy"] > 0
    assert default == "validated" or heads["validated"]["cv"]["accuracy"] < 0.85
    assert m["genre_heads"]["in_graph"] == "all-tags" and "musical" in m["genre_heads"]["heads"]
    assert m["concepts"]["kind"] == "tags" and len(m["concepts"]["names"]) >= 73
    assert set(m["concepts"]["validation"]) == set(m["concepts"]["names"])
    # musicnn's provably dead filters are not computed (the cold start budget rests on it)
    timbral = [v for k, v in m["graph_rewrites"]["dead_filters"].items() if ".timbral_" in k]
    assert len(timbral) == 4 and sum(v["dead"] for v in timbral) > sum(v["filters"] for v in timbral) / 2
    card = (DEFAULT / "README.md").read_text()
    for what in ("50 clips", "estimate", "Universitat Pompeu Fabra", "ISC", "## Genre heads", "musical"):
        assert what in card, what


def test_the_default_runs_torch_free_on_a_real_song(tmp_path, shared_clips_dir):
    """No --model: the packaged real-music default, with torch, librosa and sklearn blocked."""
    from tests.runtime.test_torch_free import BLOCK_TORCH

    (tmp_path / "sitecustomize.py").write_text(BLOCK_TORCH)
    song = shared_clips_dir / "metal" / "metal.00008.flac"
    r = subprocess.run(
        [sys.executable, "-c", "import sys; from audioconcept.cli import main; main(sys.argv[1:])"]
        + ["run", str(song), "--format", "json"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,  # no ./models here
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["model"] == "musicnn-gtzan" and doc["genres"][0]["label"] == "metal"
    assert doc["explanation"]["genres"][0]["contributions"]
    assert len([t for t in doc["tags"] if not t.startswith("probe:")]) == 100  # the graph's tags, then the probes'
    assert doc["concept_validation"] and "ood" in doc
    assert doc["concepts_present"] and all(c in doc["concepts"] for c in doc["concepts_present"])


@pytest.mark.parametrize("head", ["musical", "everything"])
def test_head_option_from_the_command_line(tmp_path, shared_clips_dir, head):
    song = shared_clips_dir / "classical" / "classical.00006.flac"
    r = subprocess.run(
        [sys.executable, "-m", "audioconcept.cli", "run", str(song), "--head", head, "--format", "json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    if head == "musical":
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["explanation"]["head"] == "musical"
    else:
        assert r.returncode == 2 and "choose from all-tags, musical" in r.stderr and "Traceback" not in r.stderr
