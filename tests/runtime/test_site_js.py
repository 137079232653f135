"""The page's pure modules (runtime/web/site: frontend.js, windows.js, aggregate.js) under Node against the
Python runtime: the mel front end within 1e-4 of numpy's, the same windows sample for sample, the same song."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from audioconcept.data.audio import Window, load_audio, windows_from_array
from audioconcept.models.tag_concepts import TAG_SUFFIX
from audioconcept.runtime.aggregate import SongAggregator, SongSettings
from audioconcept.runtime.bundle import read_manifest
from audioconcept.runtime.concept_probes import ConceptProbes
from audioconcept.runtime.frontend import NumpyMelFrontEnd
from audioconcept.runtime.model import append_probes
from audioconcept.runtime.opposites import groups_from_manifest, opposites_of
from audioconcept.runtime.outputs import Outputs
from audioconcept.runtime.registry import resolve_bundle
from audioconcept.runtime.site import runtime_settings, write_model

SITE_SRC = Path(__file__).resolve().parents[2] / "audioconcept" / "runtime" / "web" / "site"
SCRIPT = Path(__file__).with_name("site_node.mjs")
NODE = shutil.which("node")
CLIP = Path(__file__).resolve().parents[2].parent / "shared" / "gtzan" / "clips" / "jazz" / "jazz.00005.flac"
pytestmark = pytest.mark.skipif(NODE is None, reason="no node (Node 20: apt-get install nodejs)")
MEL_BUNDLES = ("musicnn-gtzan", "cnn-synth")


def run_node(tmp_path: Path, job: dict, arrays: dict[str, np.ndarray] | None = None):
    for k, a in (arrays or {}).items():
        p = tmp_path / f"{k}.f32"
        np.ascontiguousarray(a, dtype="<f4").tofile(p)
        job[k] = str(p)
    path = tmp_path / f"job-{job['op']}.json"
    path.write_text(json.dumps({**job, "site": str(SITE_SRC)}))
    r = subprocess.run([NODE, str(SCRIPT), str(path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    meta = json.loads(path.with_suffix(".out.json").read_text())
    f = path.with_suffix(".out.f32")
    return meta, (np.fromfile(f, dtype="<f4") if f.exists() else None)


def audio(sr: int, seconds: float) -> np.ndarray:
    """A real clip when ../shared is there, else a chord with noise (the comparison needs no labels)."""
    if CLIP.exists():
        x = load_audio(CLIP, sr=sr)
    else:
        t = np.arange(int(16 * sr)) / sr
        x = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 331 * t)).astype(np.float32)
        x += np.random.default_rng(0).normal(0, 0.05, x.size).astype(np.float32)
    return x[: int(seconds * sr)]


@pytest.mark.parametrize("name", MEL_BUNDLES)
def test_js_front_end_equals_numpy(tmp_path, name):
    m = read_manifest(resolve_bundle(name))
    write_model(resolve_bundle(name), tmp_path / name)
    window = m["inputs"]["waveform"]["shape"][1]  # samples per window, song context included
    x = audio(m["sample_rate"], 16.0)
    batch = np.stack([x[:window] if x.size >= window else np.resize(x, window), np.resize(x[::-1], window)])
    want = NumpyMelFrontEnd(m["frontend"])(batch)
    meta, got = run_node(
        tmp_path,
        {"op": "mel", "cfg": m["frontend"], "fb": str(tmp_path / name / "melfb.f32"), "batch_len": window},
        {"samples": batch.reshape(-1)},
    )
    assert meta["frames"] == want.shape[-1] == m["inputs"]["mel"]["shape"][2]
    got = got.reshape(want.shape)
    assert np.abs(got - want).max() < 1e-4, np.abs(got - want).max()


@pytest.mark.parametrize(
    ("seconds", "hop_s", "context"),
    [(16.7, 2.992, 256), (2.0, 2.992, 256), (0.7, None, 256), (16.7, 3.1, 0), (1.3, None, 0)],
)
def test_js_windows_equal_python(tmp_path, seconds, hop_s, context):
    sr, window_s = 16000, 2.976
    x = audio(sr, seconds)
    want = windows_from_array(x, window_s, hop_s, sr=sr, context=context)
    meta, got = run_node(
        tmp_path, {"op": "windows", "sr": sr, "window_s": window_s, "hop_s": hop_s, "context": context}, {"samples": x}
    )
    assert [(w["index"], w["valid"]) for w in meta] == [(w.index, w.valid) for w in want]
    assert np.allclose([w["start"] for w in meta], [w.start for w in want])
    assert np.allclose([w["end"] for w in meta], [w.end for w in want])
    assert np.array_equal(got, np.concatenate([w.samples for w in want]))


def fake_outputs(m: dict, n: int, seed: int, spread: float = 1.0) -> list[dict]:
    """Backend outputs of the manifest's shapes, spread so that some concepts cross their thresholds; the embedding
    (where the graph gives one) around the training songs' mean, `spread` times their spread."""
    rng = np.random.default_rng(seed)
    shapes = {o["name"]: o["shape"][1:] for o in m["outputs"]}
    ood = m.get("ood") or {}
    out = []
    for _ in range(n):
        logits = rng.normal(0, 2, shapes["logits"]).astype(np.float32)
        e = np.exp(logits - logits.max())
        o = {
            "logits": logits.tolist(),
            "probabilities": (e / e.sum()).astype(np.float32).tolist(),
            "concepts": rng.uniform(0, 0.7, shapes["concepts"]).astype(np.float32).tolist(),
            "concept_frames": rng.uniform(0, 1, shapes["concept_frames"]).astype(np.float32).tolist(),
        }
        if "embedding" in shapes:
            z = rng.normal(0, spread, shapes["embedding"])
            if ood:
                z = np.asarray(ood["mean"]) + np.asarray(ood["scale"]) * z
            o["embedding"] = z.astype(np.float32).tolist()
        out.append(o)
    return out


def python_result(m: dict, wins, outs: list[dict], samples: list[list[float]]) -> dict:
    """The Python runtime's aggregation of `outs` (concept probes appended as model.py appends them); `samples`:
    what each window's silence gate reads (runtime.silence)."""
    agg = SongAggregator(SongSettings.from_manifest(m))
    probes = ConceptProbes.from_manifest(m)
    present = []  # each window's present concepts, as live mode shows them
    for w, o, x in zip(wins, outs, samples, strict=True):
        out = Outputs(
            np.array([o["logits"]]),
            np.array([o["probabilities"]]),
            np.array([o["embedding"]]) if "embedding" in o else None,
            np.array([o["concepts"]]),
            np.array([o["concept_frames"]]),
        )
        if probes is not None:
            out = append_probes(out, probes, m["name"])
        agg.add(
            [Window(w.index, w.start, w.end, np.asarray(x, dtype=np.float32), w.valid)],
            out.logits,
            out.probabilities,
            out.concepts,
            out.concept_frames,
            out.embedding,
        )
        present.append(list(agg.window_present()))
    res = agg.result("song.wav", m["name"], m["arch"], m.get("trained_on", ""), "onnxruntime-web", "wasm").to_dict()
    return {**res, "window_present": present}


@pytest.mark.parametrize(("name", "spread"), [(n, 0.3) for n in MEL_BUNDLES] + [("musicnn-gtzan", 3.0)])
def test_js_aggregate_equals_python(tmp_path, name, spread):
    root = resolve_bundle(name)
    m = read_manifest(root)
    x = audio(m["sample_rate"], 16.7)
    wins = windows_from_array(x, m["window_s"], m["hop_s"], sr=m["sample_rate"])
    outs = fake_outputs(m, len(wins), seed=len(name), spread=spread)
    # the second window is silent (a -80 dBFS hiss): both sides mark it and leave it out of every song figure
    samples = [[1e-4, -1e-4] if w.index == 1 else [0.1, -0.1] for w in wins]
    want = python_result(m, wins, outs, samples)
    assert [w.get("silent") for w in want["windows"]] == [w.index == 1 for w in wins]
    info = {"model": m["name"], "arch": m["arch"], "trained_on": m.get("trained_on", ""), "backend": "onnxruntime-web",
            "device": "wasm"}  # fmt: skip
    write_model(root, tmp_path / name)  # the page reads the site's manifest: it names the opposite concepts
    got, _ = run_node(
        tmp_path,
        {
            "op": "aggregate",
            "manifest": str(tmp_path / name / "manifest.json"),
            "runtime": runtime_settings(),
            "windows": [
                {"index": w.index, "start": w.start, "end": w.end, "samples": x}
                for w, x in zip(wins, samples, strict=True)
            ],
            "outputs": outs,
            "path": "song.wav",
            "info": info,
        },
    )
    assert [g["label"] for g in got["genres"]] == [g["label"] for g in want["genres"]]
    assert np.allclose(
        [g["probability"] for g in got["genres"]], [g["probability"] for g in want["genres"]], atol=1e-12
    )
    assert got["concepts"] == want["concepts"]
    assert got["concepts_present"] == want["concepts_present"] and want["concepts_present"]
    assert got["window_present"] == want["window_present"] and any(want["window_present"])
    assert got["concept_spans"] == want["concept_spans"] and want["concept_spans"]
    # every present concept has a place in time (from its frames, or else the windows it is present in), and
    # opposite concepts never share a moment of it
    placed = {sp["concept"] for sp in want["concept_spans"]}
    assert set(want["concepts_present"]) | set(want["similar_to"]) == placed
    names = m["concepts"]["names"]
    for k, n in enumerate(names):
        for j in opposites_of(k, groups_from_manifest(m)):
            for a in (sp for sp in want["concept_spans"] if sp["concept"] == n):
                for b in (sp for sp in want["concept_spans"] if sp["concept"] == names[j]):
                    assert a["end"] <= b["start"] or b["end"] <= a["start"], (a, b)
    assert got["tags"] == want["tags"]
    for a, b in zip(got["windows"], want["windows"], strict=True):
        keys = ("index", "start", "end", "genre", "probabilities", "concepts", "tags", "silent")
        assert {k: a[k] for k in keys} == {k: b[k] for k in keys}
        assert a["explanation"] == b["explanation"]
    assert got["explanation"] == want["explanation"]
    # concept validation, "similar to" and the distance to training, where the bundle carries them
    assert got["concept_validation"] == want["concept_validation"]
    assert got["similar_to"] == want["similar_to"]
    assert got["concepts_borderline"] == want["concepts_borderline"]
    assert set(got["ood"]) == set(want["ood"])
    if want["ood"]:
        assert abs(got["ood"].pop("distance") - want["ood"].pop("distance")) <= 1e-4
        assert got["ood"] == want["ood"]
    # both shipped mel bundles carry their concepts' validation (tags and CAVs alike): a concept that failed is
    # above its threshold here, yet never present, in the song or in a window, in JS as in Python
    assert want["concept_validation"]
    c = m["concepts"]
    above = {n for n, t in zip(c["names"], c["thresholds"], strict=True) if want["concepts"][n] >= t}
    failed = {n for n, v in want["concept_validation"].items() if v["status"] == "failed"} & above
    assert failed and not failed & set(want["concepts_present"])
    assert not {c for wp in want["window_present"] for c in wp} & failed
    if name == "musicnn-gtzan":  # the default bundle has all three: the comparison is not vacuous
        assert want["ood"]
        named = {n for n, v in want["concept_validation"].items() if v["genre_named"]} & above
        assert failed and named and not (failed | named) & set(want["concepts_present"])
        assert want["similar_to"] and set(want["similar_to"]) <= named
        # a window's present concepts leave genre-named tags and failed concepts out, as the song's do
        assert not {c for wp in want["window_present"] for c in wp} & ({n for n in c["names"] if n in named} | failed)
        assert want["ood"]["outside"] == (spread > 1)
        # some window has both sides of an opposite pair over their thresholds: the rule ran, and ran alike
        groups = groups_from_manifest(m)
        assert groups
        clash = [
            w["index"]
            for w in want["windows"]
            for a, b in groups
            if any(w["concepts"][c["names"][i]] >= c["thresholds"][i] for i in a)
            and any(w["concepts"][c["names"][i]] >= c["thresholds"][i] for i in b)
        ]
        assert clash
        # a concept and its displaced musicnn tag, both validated, are one reason on both sides (TagVocabulary.folded)
        folded = [n for n in c["names"] if n.endswith(TAG_SUFFIX) and n.removesuffix(TAG_SUFFIX) in c["names"]]
        folded = [n for n in folded if want["concept_validation"][n]["status"] == "validated"]
        rows = [r for g in want["explanation"]["genres"] for part in ("contributions", "failed") for r in g[part]]
        assert folded and not {r["concept"] for r in rows} & set(folded)
        assert {n.removesuffix(TAG_SUFFIX) for n in folded} & {r["concept"] for r in rows}


def test_js_borderline_equals_python(tmp_path):
    """aggregate.js's borderlineConcepts against aggregate.py's borderline_concepts on cases around the margin:
    validated concepts only, genre-named ones never, a missing margin never, the margin in log-odds both sides."""
    from audioconcept.runtime.aggregate import borderline_concepts

    rng = np.random.default_rng(3)
    names = [f"c{k}" for k in range(40)]
    cases = []
    for _ in range(20):
        thresholds = rng.uniform(0.05, 0.995, len(names)).tolist()
        strengths = rng.uniform(0, 1, len(names)).tolist()
        status = rng.choice(["validated", "failed", "not validated"], len(names), p=[0.7, 0.15, 0.15])
        validation = {
            n: {"status": str(st), "lossy_margin": None if rng.random() < 0.1 else float(rng.uniform(0, 3))}
            for n, st in zip(names, status, strict=True)
        }
        named = {n: bool(rng.random() < 0.1) for n in names}
        cases.append({"names": names, "strengths": strengths, "thresholds": thresholds, "validation": validation,
                      "named": named})  # fmt: skip
    want = [
        borderline_concepts(c["names"], c["strengths"], c["thresholds"], c["validation"],
                            {n for n, v in c["named"].items() if v})
        for c in cases
    ]  # fmt: skip
    got, _ = run_node(tmp_path, {"op": "borderline", "cases": cases})
    assert got == want and sum(map(len, want)) > 20  # not vacuous


def test_js_explanation_equals_python_typical_included(tmp_path):
    """aggregate.js's GenreHead.explainInputs against tag_concepts.py's explain_inputs on the default bundle's
    reasons head: random song inputs and random present concepts, every genre. The rows, their order, the folded
    concepts and the `typical` concepts (present, typical of the genre, not among its reasons) are the same."""
    from audioconcept.runtime.tag_concepts import GenreHead

    m = read_manifest(resolve_bundle("musicnn-gtzan"))
    head = GenreHead.reasons_from_manifest(m)
    rng = np.random.default_rng(11)
    cases = []
    for _ in range(30):
        x = (head.reference + rng.normal(0, 2, len(head.reference))).tolist()
        present = (rng.random(len(head.vocabulary.names)) < 0.5).tolist()
        for genre in head.labels:
            cases.append({"x": x, "genre": genre, "top": None, "present": present})
    want = [head.explain_inputs(np.array(c["x"]), c["genre"], None, np.array(c["present"])) for c in cases]
    got, _ = run_node(tmp_path, {"op": "explain", "manifest": m, "head": head.name, "cases": cases})
    assert got == want
    typical = [t for e in want for t in e["typical"]]
    assert typical and {t["concept"] for t in typical} <= {"loud", "quiet", "bright", "dark", "percussive", "harmonic"}
    for e in want:  # never a reason twice: what is typical is not already among the genre's reasons
        reasons = {c["concept"] for c in e["contributions"] if c["present"] and c["value"] >= 0.005}
        assert not reasons & {t["concept"] for t in e["typical"]}
