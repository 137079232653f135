import json

import numpy as np
import pytest
import torch

from audioconcept.concepts.cav import train_cav
from audioconcept.concepts.shapley import GROUPS, group_shapley
from audioconcept.concepts.tcav import directional_derivatives, significance, tcav_magnitude, tcav_sign
from audioconcept.data.features_csv import FEATURE_NAMES
from audioconcept.runtime.timeline import frames_to_grid, spans_from_grid


def test_cav_recovers_planted_direction():
    rng = np.random.default_rng(0)
    d = 40
    planted = rng.standard_normal(d)
    planted /= np.linalg.norm(planted)
    neg = rng.standard_normal((150, d))
    pos = rng.standard_normal((150, d)) + 4.0 * planted
    cav = train_cav(pos, neg, "c", "r", "layer")
    assert cav.accuracy > 0.9
    assert float(cav.direction @ planted) > 0.8
    # the folded weights classify raw activations
    assert np.mean((pos @ cav.weights + cav.bias) > 0) > 0.9


def test_tcav_scores_on_a_toy_model_with_known_gradient():
    """logit = a . g with a fixed g: the derivative along v is g . v for every clip."""
    g = np.array([1.0, -2.0, 0.5])
    grads = np.tile(g, (10, 1))
    up, down = np.array([0.0, -1.0, 0.0]), np.array([0.0, 1.0, 0.0])
    assert tcav_sign(directional_derivatives(grads, up)) == 1.0
    assert tcav_sign(directional_derivatives(grads, down)) == 0.0
    mixed = np.array([1.0, 2.0, 0.0, -1.0])
    assert tcav_sign(mixed) == 0.5
    assert tcav_magnitude(mixed) == pytest.approx(3 / 4)
    # autograd on a real toy network agrees with the analytic gradient
    w = torch.tensor(g, dtype=torch.float32)
    a = torch.randn(5, 3, requires_grad=True)
    (a @ w).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), grads[:5], atol=1e-6)


def test_significance_rejects_random_and_accepts_real_effects():
    rng = np.random.default_rng(1)
    false_pos = sum(significance(rng.uniform(0, 1, 10), rng.uniform(0, 1, 30)) < 0.05 for _ in range(400))
    assert false_pos / 400 < 0.08
    assert significance(np.full(10, 0.95) + rng.normal(0, 0.02, 10), rng.uniform(0, 1, 30)) < 1e-4


def test_timeline_spans_map_to_seconds():
    # two windows of 10 s with 10 frames each; concept on from 4 s to 12 s
    frames = []
    for start in (0.0, 5.0):
        t = start + np.arange(10) + 0.5
        frames.append((start, start + 10.0, ((t > 4) & (t < 12)).astype(float)[None, :]))
    centres, grid = frames_to_grid(frames, 15.0, 0.5)
    spans = spans_from_grid(["c"], centres, grid, 0.5)
    assert len(spans) == 1
    assert spans[0].start == pytest.approx(4.0) and spans[0].end == pytest.approx(12.0)


def test_shapley_efficiency_and_symmetry():
    rng = np.random.default_rng(2)
    w = rng.standard_normal(57)

    def proba(z):
        p1 = 1 / (1 + np.exp(-(z @ w) / 10))
        return np.stack([1 - p1, p1], 1)

    background = rng.standard_normal((20, 57))
    for _ in range(5):
        x = rng.standard_normal(57) * 2
        phi, base, pred = group_shapley(proba, x, background, 1)
        assert set(phi) == set(GROUPS)
        assert sum(phi.values()) == pytest.approx(pred - base, abs=1e-9)
    # a group the model ignores gets zero
    w[[i for i, f in enumerate(FEATURE_NAMES) if f.startswith("zero_crossing")]] = 0
    phi, _, _ = group_shapley(proba, rng.standard_normal(57), background, 1)
    assert phi["noisiness"] == pytest.approx(0.0, abs=1e-12)


def test_svm_bundle_explains_every_song(tmp_path, svm_bundle):
    import soundfile as sf

    from audioconcept.concepts.explain import explain_song
    from audioconcept.runtime import load

    m = load(svm_bundle)
    for i, sec in enumerate((4.0, 31.0)):
        p = tmp_path / f"s{i}.wav"
        sf.write(p, (0.3 * np.random.default_rng(i).standard_normal(int(sec * 22050))).astype(np.float32), 22050)
        r = m.predict(p)
        lines = explain_song(m, r, tmp_path / "x").lines
        doc = json.loads((tmp_path / "x" / f"s{i}.shapley.json").read_text())
        assert sum(doc["phi"].values()) == pytest.approx(doc["prediction"] - doc["baseline"], abs=1e-9)
        assert "shapley" in lines[0]


@pytest.mark.slow
def test_learn_export_and_run_concepts(tmp_path, cnn_checkpoint, tiny_synth):
    """concepts learn -> export with the concept head -> torch-free runtime output equals torch."""
    from audioconcept.concepts.learn import LearnConfig, learn_concepts
    from audioconcept.data.synth.generate import ConceptSetConfig, generate_concept_sets
    from audioconcept.export.exporter import ExportConfig, export_checkpoint
    from audioconcept.runtime import load

    sets = generate_concept_sets(
        ConceptSetConfig(
            tmp_path / "sets",
            clips_per_concept=4,
            random_sets=5,
            clips_per_random=4,
            workers=2,
            concepts=("distorted_guitar", "strings"),
        )
    )
    res = learn_concepts(
        LearnConfig(cnn_checkpoint, sets, tmp_path / "concepts", ("layer2", "layer5"), clips_per_class=2)
    )
    assert res["head"]["layer"] == "layer2" and len(res["tcav"]) == 2 * 2 * 10
    assert (tmp_path / "concepts" / "report.md").exists() and (tmp_path / "concepts" / "tcav_layer2.png").exists()
    out = export_checkpoint(
        ExportConfig(cnn_checkpoint, tmp_path / "b", ("onnx", "pt2"), concepts=tmp_path / "concepts")
    )
    m = json.loads((out / "manifest.json").read_text())
    assert m["concepts"]["names"] == ["distorted_guitar", "strings"]
    assert m["parity"]["onnx_concepts"]["max_abs_diff"] <= 1e-4
    song = tiny_synth / "genres" / "metal" / "metal.00000.wav"
    a = load(out, backend="onnx").predict(song, hop_s=5.0)
    b = load(out, backend="torch").predict(song, hop_s=5.0)
    assert set(a.concepts) == {"distorted_guitar", "strings"}
    for k in a.concepts:
        assert a.concepts[k] == pytest.approx(b.concepts[k], abs=1e-4)


def test_smoothing_bridges_frame_noise_but_keeps_the_span():
    from audioconcept.runtime.timeline import smooth_grid

    res = 0.25
    t = (np.arange(120) + 0.5) * res  # 30 s
    truth = (t >= 8) & (t < 20)
    noisy = truth.astype(float)
    noisy[::3] = 1 - noisy[::3]  # every third frame flipped
    raw = spans_from_grid(["c"], t, noisy[None], res)
    smooth = spans_from_grid(["c"], t, smooth_grid(noisy[None], res, 2.0), res, min_len=1.5)
    assert len(raw) > 1
    assert len(smooth) == 1
    assert smooth[0].start == pytest.approx(8.0, abs=1.0) and smooth[0].end == pytest.approx(20.0, abs=1.0)


@pytest.mark.slow
def test_derived_concepts_from_any_dataset(tmp_path, tiny_synth, monkeypatch):
    monkeypatch.setenv("AUDIOCONCEPT_CACHE", str(tmp_path / "cache"))
    from audioconcept.concepts.derived import DERIVED, DerivedConfig, derive_concepts
    from audioconcept.concepts.sets import read_concept_sets

    s = derive_concepts(DerivedConfig(f"synth:{tiny_synth}", tmp_path / "d", random_sets=4, clips_per_random=5))
    sets = read_concept_sets(tmp_path / "d")
    assert set(sets.concepts) == set(DERIVED) and len(sets.randoms) == 4
    assert s["concepts"]["fast"]["threshold"] > s["concepts"]["slow"]["threshold"]
    truth = json.loads((tiny_synth / "ground_truth.json").read_text())
    tempo = {c["path"].split("/")[1]: c["tempo"] for c in truth["clips"]}
    fast = [tempo[p.name.split("_", 1)[1]] for p in sets.concepts["fast"]]
    slow = [tempo[p.name.split("_", 1)[1]] for p in sets.concepts["slow"]]
    assert np.median(fast) > np.median(slow)  # librosa's tempo tracks the generator's tempo


def test_tcav_scores_match_captum(tmp_path, cnn_checkpoint):
    """Cross-check against Captum's TCAV, the reference implementation: with the same CAV (our
    logistic regression, handed to Captum as its classifier), Captum's sign-count and magnitude
    scores equal ours. layer5 of a 29.1 s window is 1x1, so Captum's flattened activations are
    exactly our time-pooled ones."""
    captum_concept = pytest.importorskip("captum.concept")
    import torch

    from audioconcept.concepts.activations import pooled_gradients
    from audioconcept.concepts.cav import train_cav
    from audioconcept.concepts.tcav import directional_derivatives, tcav_magnitude, tcav_sign
    from audioconcept.models.checkpoint import load_torch_checkpoint
    from audioconcept.models.outputs import pool_time

    model, ck = load_torch_checkpoint(cnn_checkpoint)
    window = int(round(ck.window_s * 22050))
    rng = np.random.default_rng(0)
    t = np.arange(window) / 22050
    concept_x = np.stack([0.4 * np.sin(2 * np.pi * f * t) for f in rng.uniform(200, 2000, 12)]).astype(np.float32)
    random_x = (0.1 * rng.standard_normal((12, window))).astype(np.float32)
    class_x = (0.2 * rng.standard_normal((10, window)) + 0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    k = 3

    with torch.no_grad():
        a_c = pool_time(model.forward_layers(torch.from_numpy(concept_x))[1]["layer5"]).numpy()
        a_r = pool_time(model.forward_layers(torch.from_numpy(random_x))[1]["layer5"]).numpy()
    ours = train_cav(a_c, a_r, "tone", "noise", "layer5")
    grads = pooled_gradients(model, class_x, k, ["layer5"])["layer5"]
    dd = directional_derivatives(grads, ours.direction)

    class OurCAV(captum_concept.Classifier):
        def __init__(self):
            self.cav = None

        def train_and_eval(self, dataloader, **kwargs):
            xs, ys = zip(*dataloader, strict=True)
            x, y = torch.cat(xs).numpy(), torch.cat(ys).numpy()
            self.cav = train_cav(x[y == 0], x[y == 1], "tone", "noise", "layer5")
            return {"accs": torch.tensor(self.cav.accuracy)}

        def weights(self):
            w = torch.from_numpy(self.cav.weights).float()
            return torch.stack([w, -w])  # rows in classes() order: concept id 0, random id 1

        def classes(self):
            return [0, 1]

    def batches(x):
        return iter([torch.from_numpy(x[i : i + 4]) for i in range(0, len(x), 4)])

    concept = captum_concept.Concept(0, "tone", batches(concept_x))
    random = captum_concept.Concept(1, "noise", batches(random_x))
    tcav = captum_concept.TCAV(model, ["body.layer5"], classifier=OurCAV(), save_path=str(tmp_path / "cav"))
    res = tcav.interpret(torch.from_numpy(class_x), experimental_sets=[[concept, random]], target=k)
    got = res["0-1"]["body.layer5"]
    np.testing.assert_allclose(
        np.abs(tcav.cavs["0-1"]["body.layer5"].stats["weights"][0].numpy()), np.abs(ours.weights), rtol=1e-5
    )
    assert float(got["sign_count"][0]) == pytest.approx(tcav_sign(dd), abs=1e-6)
    # Captum 0.9's "magnitude" is the mean raw derivative along its (unnormalised) weight vector;
    # ours is the scale-free positive share of |derivative| (Kim et al.). Same derivatives underneath:
    raw = directional_derivatives(grads, ours.weights)
    assert float(got["magnitude"][0]) == pytest.approx(float(raw.mean()), rel=1e-4, abs=1e-6)
    assert tcav_magnitude(raw) == pytest.approx(tcav_magnitude(dd))
