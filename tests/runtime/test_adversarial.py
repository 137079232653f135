"""A hostile or careless user against the runtime: payloads and wrong models in bundles, clips of
every length, broken headers, and a batch that mixes all of them. Each case ends in a correct result
or one error line: no traceback, no code run, the good results kept."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioconcept import SAMPLE_RATE
from audioconcept.errors import AudioTooShort, BundleError, InvalidSampleRate
from audioconcept.runtime.model import load
from audioconcept.runtime.registry import packaged_bundles
from tests.conftest import tone
from tests.payloads import assert_one_line_error, pickles, run_cli

SVM = packaged_bundles()["svm-gtzan"]
CNN = packaged_bundles()["cnn-synth"]  # a trained CNN with concept outputs (the short-clip crash path)


def _bundle_with(tmp_path: Path, src: Path, key: str, data: bytes, name: str = "b") -> Path:
    """A copy of `src` whose artifact `key` holds `data`, with the manifest's sha256 updated to match."""
    b = tmp_path / name
    shutil.copytree(src, b)
    m = json.loads((b / "manifest.json").read_text())
    (b / m["artifacts"][key]["file"]).write_bytes(data)
    m["artifacts"][key]["sha256"] = hashlib.sha256(data).hexdigest()
    m["artifacts"][key]["size_bytes"] = len(data)
    (b / "manifest.json").write_text(json.dumps(m))
    return b


def _onnx_classifier(n_in: int, n_out: int, known_width: bool = True) -> bytes:
    """features (batch, n_in) float64 -> probabilities (batch, n_out) = softmax(x W). With
    `known_width=False` W is an overridable initializer of shape (n_in, C), so onnxruntime cannot
    tell the output width before the model runs."""
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((n_in, n_out)), "w")
    width = n_out if known_width else "C"
    inputs = [helper.make_tensor_value_info("features", TensorProto.DOUBLE, ["batch", n_in])]
    if not known_width:
        inputs.append(helper.make_tensor_value_info("w", TensorProto.DOUBLE, [n_in, "C"]))
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["features", "w"], ["z"]), helper.make_node("Softmax", ["z"], ["probabilities"])],
        "g",
        inputs,
        [helper.make_tensor_value_info("probabilities", TensorProto.DOUBLE, ["batch", width])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    return model.SerializeToString()


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    out = {}
    for s in (0.2, 0.6, 1.0, 3.0, 3.9, 4.5, 150.0):
        p = d / f"sine_{s}s.wav"
        sf.write(p, tone(s, 330) + 0.01 * np.random.default_rng(0).standard_normal(int(s * SAMPLE_RATE)), SAMPLE_RATE)
        out[f"{s}s"] = p
    p = d / "one_sample.wav"
    sf.write(p, np.array([0.1], np.float32), SAMPLE_RATE)
    out["1 sample"] = p
    p = d / "rate1.wav"  # a 1 Hz header: 1000 frames would be a "1000 s song"
    sf.write(p, np.zeros(1000, np.float32), 1)
    out["1 Hz"] = p
    p = d / "rate_1mhz.wav"
    sf.write(p, np.zeros(1000, np.float32), 1_000_000)
    out["1 MHz"] = p
    full = d / "full.wav"
    sf.write(full, tone(5.0), SAMPLE_RATE)
    cut = d / "cut_short.wav"  # the header promises 5 s, the file holds 2.5 s
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    out["cut WAV"] = cut
    try:
        mp3 = d / "full.mp3"
        sf.write(mp3, tone(5.0), SAMPLE_RATE, format="MP3")
        cut_mp3 = d / "cut_short.mp3"
        cut_mp3.write_bytes(mp3.read_bytes()[: mp3.stat().st_size // 3])
        out["cut MP3"] = cut_mp3
    except (sf.LibsndfileError, TypeError, ValueError):  # libsndfile built without MP3
        pass
    return out


# ---------------------------------------------------------------- bundles


@pytest.mark.parametrize("kind", ["os.system", "exec", "raw GLOBAL eval"])
def test_pickle_in_place_of_the_onnx_model_runs_nothing(tmp_path, kind, clips):
    marker = tmp_path / "PWNED"
    b = _bundle_with(tmp_path, SVM, "onnx", pickles(marker)[kind])
    with pytest.raises(BundleError, match="cannot load its onnx model|refused ONNX model") as e:
        load(b)
    assert "\n" not in str(e.value) and not marker.exists()
    p = run_cli("run", str(clips["3.0s"]), "--model", str(b))
    line = assert_one_line_error(p)
    assert "cannot load" in line or "refused ONNX model" in line, line
    assert not marker.exists()


def test_pickled_shapley_background_is_refused(tmp_path, clips):
    """`run --explain` on an SVM bundle reads shapley_background.npy: never as a pickle."""
    import io

    from tests.payloads import SystemPayload

    marker = tmp_path / "PWNED"
    buf = io.BytesIO()
    np.save(buf, np.array([SystemPayload(marker)], dtype=object), allow_pickle=True)
    b = _bundle_with(tmp_path, SVM, "shapley_background", buf.getvalue())
    out = tmp_path / "r.json"
    p = run_cli(
        "run",
        str(clips["4.5s"]),
        "--model",
        str(b),
        "--explain",
        "--explain-dir",
        str(tmp_path / "ex"),
        "--output",
        str(out),
    )
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert "not a plain numpy array" in p.stderr and not marker.exists()
    assert not (tmp_path / "ex").exists()  # the failed explanation leaves no empty folder behind
    docs = json.loads(out.read_text())  # the prediction stands, its report failed
    assert docs[0]["genres"] and "not a plain numpy array" in docs[1]["error"]


def test_payload_as_torchscript_artifact_runs_nothing(tmp_path, cnn_bundle):
    pytest.importorskip("torch")
    marker = tmp_path / "PWNED"
    b = _bundle_with(tmp_path, cnn_bundle, "torchscript", pickles(marker)["os.system"])
    with pytest.raises(BundleError, match="can run code when loaded"):
        load(b, backend="torchscript")
    assert not marker.exists()


def test_model_with_another_input_size_and_a_matching_sha(tmp_path):
    b = _bundle_with(tmp_path, SVM, "onnx", _onnx_classifier(12, 10))
    _one_line(b, "input features has shape")


def test_model_with_fewer_classes_than_labels(tmp_path):
    b = _bundle_with(tmp_path, SVM, "onnx", _onnx_classifier(57, 5))
    _one_line(b, "5 classes; the manifest lists 10 labels")


def test_model_whose_width_is_only_known_when_it_runs(tmp_path, clips):
    """Declared as (batch, C): the first batch tells, and the song fails with one line."""
    b = _bundle_with(tmp_path, SVM, "onnx", _onnx_classifier(57, 5, known_width=False))
    m = load(b)
    with pytest.raises(BundleError, match="returned 5 class probabilities for 10 labels"):
        m.predict(clips["4.5s"])


def test_model_without_a_probabilities_output(tmp_path):
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Softmax", ["features"], ["scores"])],
        "g",
        [helper.make_tensor_value_info("features", TensorProto.DOUBLE, ["batch", 57])],
        [helper.make_tensor_value_info("scores", TensorProto.DOUBLE, ["batch", 57])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    _one_line(_bundle_with(tmp_path, SVM, "onnx", model.SerializeToString()), "no probabilities output")


def _one_line(b: Path, match: str) -> None:
    with pytest.raises(BundleError, match=match) as e:
        load(b)
    assert "\n" not in str(e.value)


# ---------------------------------------------------------------- clips


@pytest.fixture(scope="module")
def cnn():
    return load(CNN)


@pytest.mark.parametrize("name", ["0.6s", "1.0s", "3.0s", "3.9s", "4.5s"])
def test_short_clips_are_looped_and_classified(cnn, clips, name):
    """Shorter than the 29 s window (and than the 4 s concept smoothing): looped to fill it, as before."""
    r = cnn.predict(clips[name])
    seconds = float(name.removesuffix("s"))
    assert r.duration_s == pytest.approx(seconds, abs=0.01) and len(r.windows) == 1
    assert abs(sum(r.windows[0].probabilities.values()) - 1) < 1e-4
    assert all(0 <= sp.start < sp.end <= seconds + 1e-6 for sp in r.concept_spans)


def test_long_clip_windows_cover_the_song(cnn, clips):
    r = cnn.predict(clips["150.0s"])
    assert r.windows[0].start == 0 and r.windows[-1].end == pytest.approx(150.0, abs=0.01)
    assert all(sp.end <= 150.0 + 1e-6 for sp in r.concept_spans)


@pytest.mark.parametrize(
    "name,error,match",
    [
        ("0.2s", AudioTooShort, "too short to classify"),
        ("1 sample", AudioTooShort, "too short to classify"),
        ("1 Hz", InvalidSampleRate, "1 Hz is implausible"),
        ("1 MHz", InvalidSampleRate, "1000000 Hz is implausible"),
    ],
)
def test_unusable_clips_give_one_line(cnn, clips, name, error, match):
    with pytest.raises(error, match=match) as e:
        cnn.predict(clips[name])
    assert "\n" not in str(e.value)


def test_cut_short_files_give_a_result_or_one_line(cnn, clips):
    for name in ("cut WAV", "cut MP3"):
        if name not in clips:
            continue
        try:
            r = cnn.predict(clips[name])
        except (BundleError, AudioTooShort) as e:  # pragma: no cover - depends on the decoder
            pytest.fail(f"{name}: {e}")
        except Exception as e:  # noqa: BLE001
            from audioconcept.errors import AudioConceptError

            assert isinstance(e, AudioConceptError), f"{name}: {type(e).__name__}: {e}"
            assert "\n" not in str(e)
        else:
            assert 0 < r.duration_s <= 5.01


# ---------------------------------------------------------------- a mixed batch through the CLI


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_mixed_batch_keeps_good_results_and_lists_every_failure(tmp_path, clips, fmt):
    songs = tmp_path / "songs"
    songs.mkdir()
    for name in ("3.0s", "0.2s", "1 Hz", "cut WAV"):
        shutil.copy(clips[name], songs / clips[name].name)
    (songs / "broken.wav").write_bytes(b"RIFF0000WAVEjunk")
    (songs / "empty.flac").write_bytes(b"")
    out = tmp_path / f"r.{fmt}"
    p = run_cli(
        "run", str(songs), str(tmp_path / "missing.wav"), str(tmp_path / "nothing*.wav"),
        "--model", str(CNN), "--format", fmt, "--output", str(out),
    )  # fmt: skip
    assert p.returncode == 2, p.stderr[-2000:]
    assert "Traceback" not in p.stderr
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 6, p.stderr  # 0.2 s, 1 Hz, broken, empty, missing, the empty pattern
    if fmt == "json":
        docs = json.loads(out.read_text())
        good = [d for d in docs if "error" not in d]
        bad = [d for d in docs if "error" in d]
        assert {Path(d["path"]).name for d in good} == {"sine_3.0s.wav", "cut_short.wav"}
        assert len(bad) == 6 and all(set(d) == {"schema_version", "path", "error"} for d in bad)
        assert any("too short" in d["error"] for d in bad) and any("implausible" in d["error"] for d in bad)
    else:
        import csv

        rows = list(csv.DictReader(out.read_text().splitlines()))
        assert {Path(r["path"]).name for r in rows if r["window"] == "song"} == {"sine_3.0s.wav", "cut_short.wav"}
        assert sum(r["window"] == "error" for r in rows) == 6 and all(
            r["error"] for r in rows if r["window"] == "error"
        )


def test_an_unexpected_failure_in_one_song_does_not_stop_the_batch(tmp_path, clips):
    from audioconcept.runtime.runner import run_files

    real = load(SVM)

    def flaky(path):
        if "3.9" in str(path):
            raise IndexError("boolean index did not match\nsecond line")
        return real.predict(path)

    errors: list = []
    seen: list = []
    results, failed = run_files(
        flaky, [clips["3.9s"], clips["4.5s"]], on_error=lambda p, m: seen.append(m), errors=errors
    )
    assert failed == 1 and len(results) == 1 and Path(results[0].path).name == "sine_4.5s.wav"
    assert errors[0].error == seen[0] and "IndexError: boolean index did not match" in seen[0] and "\n" not in seen[0]


def test_output_to_an_unwritable_place_is_one_line(tmp_path, clips):
    (tmp_path / "dir").mkdir()
    p = run_cli("run", str(clips["3.0s"]), "--model", str(SVM), "--format", "json", "--output", str(tmp_path / "dir"))
    assert_one_line_error(p)


def test_report_extras_are_never_read_from_outside_the_bundle(tmp_path):
    from audioconcept.runtime.view import tcav_rows

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "concepts.json").write_text(json.dumps({"tcav": [{"class": "x", "concept": "leak"}]}))
    b = tmp_path / "b"
    b.mkdir()
    (b / "concepts").symlink_to(outside, target_is_directory=True)
    assert tcav_rows({}, b) == []
    (b / "concepts").unlink()
    (b / "concepts").mkdir()
    (b / "concepts" / "concepts.json").write_text("[" * 100_000 + "]" * 100_000)
    assert tcav_rows({"concepts": {"tcav": "junk"}}, b) == []
    (b / "concepts" / "concepts.json").write_text(json.dumps({"tcav": [{"class": "rock", "concept": "drums"}]}))
    assert tcav_rows({}, b)[0]["concept"] == "drums"
