"""musicnn taggers and tag probes through the exporter: song framing, tags as concepts, genre heads, and the
parity gate on real clips."""

import json
from importlib import resources

import jsonschema
import numpy as np
import pytest

pytestmark = pytest.mark.slow


def _schema() -> dict:
    return json.loads(resources.files("audioconcept.runtime").joinpath("manifest.schema.json").read_text())


def test_probe_bundle_passes_its_gates_on_real_audio(real_probe_bundle):
    m = json.loads((real_probe_bundle / "manifest.json").read_text())
    jsonschema.validate(m, _schema())
    assert m["arch"] == "musicnn-probe" and m["sample_rate"] == 16_000
    for key in ("onnx", "onnx_body", "torchscript", "pt2"):
        assert m["parity"][key]["passed"], key
        assert m["parity"][key]["max_abs_logit_diff"] <= 1e-4
    assert m["parity"]["onnx_concepts"]["max_abs_diff"] <= 1e-4 and m["parity"]["coreml_ep"]["one_piece"]
    assert m["runtime_frontend"] == "numpy"
    # the real checkpoints' dead filters (weights decayed to ~1e-30, or none positive) leave the ONNX graphs,
    # and the gates above still pass
    dead = m["graph_rewrites"]["dead_filters"]
    assert dead["backbone.members.MSD.timbral_38"]["dead"] > 100
    assert all(v["dead"] < v["filters"] for v in dead.values())
    # song framing: 256 samples of the song on each side, no reflect padding inside; windows tile the frames
    f = m["frontend"]
    assert (f["context_samples"], f["center"], f["compression"]) == (256, False, "log10(1+C*x)")
    assert m["inputs"]["waveform"]["shape"] == ["batch", 47_616 + 512] and m["hop_s"] == pytest.approx(2.992)
    out = {o["name"]: o["shape"] for o in m["outputs"]}
    assert out["logits"] == ["batch", 10] and out["concepts"] == ["batch", 100]
    assert out["concept_frames"] == ["batch", 100, 1]
    c = m["concepts"]
    assert c["kind"] == "tags" and len(c["outputs"]) == 100 and len(c["names"]) == 73
    assert m["genre_heads"]["in_graph"] == "all-tags" and "musical" in m["genre_heads"]["heads"]
    assert "Universitat Pompeu Fabra" in m["provenance"]["licence_notice"]
    card = (real_probe_bundle / "README.md").read_text()
    assert "cross-validat" in card and "estimate" in card and "ISC" in card and "## Genre heads" in card


def test_a_bare_tagger_exports_with_sigmoid_tags(tmp_path, musicnn_checkpoints, shared_clips_dir):
    """The VGG baseline (MSD tags alone) as its own bundle: probabilities are independent sigmoids."""
    from audioconcept.export.exporter import ExportConfig, export_checkpoint
    from audioconcept.runtime.model import load

    out = export_checkpoint(
        ExportConfig(
            musicnn_checkpoints / "MSD_vgg",
            tmp_path / "vgg",
            ("onnx",),
            data=f"folder:{shared_clips_dir}",
            n_tag_calibration=50,  # one window per shared clip: the calibration's path, not its precision
        )
    )
    m = json.loads((out / "manifest.json").read_text())
    jsonschema.validate(m, _schema())
    assert m["multi_label"] and m["parity"]["onnx"]["passed"] and len(m["labels"]) == 50
    assert "without labels" in m["concepts"]["calibration"]
    r = load(out).predict(shared_clips_dir / "metal" / "metal.00007.flac")
    assert abs(sum(p for _, p in r.genres) - 1.0) > 1e-3  # tags, not a distribution
    top = [g for g, _ in r.genres]
    assert {"metal", "heavy metal", "hard rock", "rock"} & set(top), top
    assert np.isclose(r.concepts["metal"], max(w.concepts["metal"] for w in r.windows))
