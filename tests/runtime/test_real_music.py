"""Real songs through the runtime with a musicnn tag probe: tags equal musicnn's own on the same audio, and
every genre decision adds up from named concepts."""

import json
from importlib import resources

import jsonschema
import numpy as np
import pytest

pytestmark = pytest.mark.slow

REFERENCE_CLIPS = ("metal/metal.00005.flac", "classical/classical.00005.flac", "pop/pop.00005.flac")


def _reference_tags(d) -> np.ndarray:
    return np.concatenate([d["MSD_musicnn/probs"], d["MTT_musicnn/probs"]], axis=1)


def test_runtime_tags_equal_tensorflow_musicnn_on_real_songs(real_probe_bundle, musicnn_reference, shared_clips_dir):
    """The done criterion: audio file -> torch-free runtime (streamed decode, numpy front end, ONNX body, windows
    framed like the whole song's mel) -> tags within 1e-3 of musicnn's TensorFlow graph on that song's mel."""
    from audioconcept.runtime.model import load

    d = musicnn_reference
    ref = _reference_tags(d)
    m = load(real_probe_bundle)
    assert m.backend.input_kind == "mel" and m.context == 256
    worst = 0.0
    for clip in REFERENCE_CLIPS:
        r = m.predict(shared_clips_dir / clip)  # the bundle's hop: musicnn's 187-frame patches
        for k in np.flatnonzero(d["clip"] == clip):
            w = r.windows[int(d["start_frame"][k]) // 187]
            assert w.start == pytest.approx(d["start_frame"][k] * 256 / 16_000)
            got = np.array([w.tags[t] for t in m.settings.tags.outputs])
            worst = max(worst, float(np.abs(got - ref[k]).max()))
    assert worst <= 1e-3, worst


def test_the_waveform_graph_gives_the_same_tags(real_probe_bundle, musicnn_reference, shared_clips_dir):
    """model.onnx (in-graph Conv1d STFT, for CUDA and the Neural Engine) on windows with context."""
    import onnxruntime as ort

    from audioconcept.data.audio import load_audio, windows_from_array

    d = musicnn_reference
    s = ort.InferenceSession(str(real_probe_bundle / "model.onnx"), providers=["CPUExecutionProvider"])
    clip = REFERENCE_CLIPS[1]
    wins = windows_from_array(load_audio(shared_clips_dir / clip, sr=16_000), 2.976, 2.992, sr=16_000, context=256)
    concepts = s.run(["concepts"], {"waveform": np.stack([w.samples for w in wins[:3]])})[0]
    rows = np.flatnonzero(d["clip"] == clip)
    assert np.abs(concepts - _reference_tags(d)[rows]).max() <= 1e-3


def test_genre_logits_split_exactly_into_named_concepts(real_probe_bundle, shared_clips_dir):
    from audioconcept.data.audio import load_audio
    from audioconcept.runtime.model import load

    m = load(real_probe_bundle)
    clip = shared_clips_dir / "jazz" / "jazz.00006.flac"
    audio = load_audio(clip, sr=m.sample_rate)
    from audioconcept.data.audio import windows_from_array

    wins = windows_from_array(audio, m.window_s, m.hop_s, sr=m.sample_rate, context=m.context)
    graph = np.concatenate([out.logits for _, out in m.run_windows(wins)])  # the exported graph's genre logits
    r = m.predict_array(audio, clip, top_k=10)
    assert r.explanation["head"] == "all-tags" and len(r.explanation["genres"]) == 10
    for e in r.explanation["genres"]:
        k = m.labels.index(e["genre"])
        total = e["intercept"] + sum(c["value"] for c in e["contributions"] + e["similar_to"] + e["failed"])
        assert total == pytest.approx(graph[:, k].mean(), abs=1e-4)
        assert e["logit"] == pytest.approx(graph[:, k].mean(), abs=1e-4)
    for w, g in zip(r.windows, graph, strict=True):  # per window: the window genre's top contributions
        assert w.genre == m.labels[int(g.argmax())] and len(w.explanation) == 5
    # genre-named concepts weigh in the all-tags head, but only as "similar to", never among the reasons
    assert any(c["genre_named"] for c in r.explanation["genres"][0]["similar_to"])
    assert not any(c["genre_named"] for c in r.explanation["genres"][0]["contributions"])
    schema = json.loads(resources.files("audioconcept.runtime").joinpath("result.schema.json").read_text())
    jsonschema.validate(r.to_dict(), schema)


def test_the_musical_head_runs_on_the_same_tags(real_probe_bundle, shared_clips_dir):
    from audioconcept.data.audio import load_audio, windows_from_array
    from audioconcept.runtime.model import load

    clip = shared_clips_dir / "classical" / "classical.00008.flac"
    r_all = load(real_probe_bundle).predict(clip, top_k=10)
    m = load(real_probe_bundle, head="musical")
    r = m.predict(clip, top_k=10)
    assert r.explanation["head"] == "musical"
    assert not any(c["genre_named"] for e in r.explanation["genres"] for c in e["contributions"])
    assert r.tags == r_all.tags and dict(r.genres) != dict(r_all.genres)
    audio = load_audio(clip, sr=m.sample_rate)
    wins = windows_from_array(audio, m.window_s, m.hop_s, sr=m.sample_rate, context=m.context)
    tags = np.concatenate([out.concepts for _, out in m.run_windows(wins)])  # the graph's tags, unrounded
    want = m.settings.head.logits(tags).mean(0)
    for e in r.explanation["genres"]:
        assert e["logit"] == pytest.approx(want[m.labels.index(e["genre"])], abs=1e-4)
