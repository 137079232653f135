import json
import shutil
from importlib import resources

import jsonschema
import numpy as np
import pytest
import soundfile as sf

from audioconcept import SAMPLE_RATE
from audioconcept.cli import main
from audioconcept.data.audio import load_audio
from audioconcept.errors import AudioFileNotFound, BackendUnavailable, BundleError, UndecodableAudio
from audioconcept.runtime import load
from audioconcept.runtime.result import to_csv
from tests.conftest import REAL_EXCERPT, tone


def _schema():
    return json.loads(resources.files("audioconcept.runtime").joinpath("result.schema.json").read_text())


@pytest.fixture(scope="module")
def onnx_model(cnn_bundle):
    return load(cnn_bundle, backend="onnx", device="cpu")


@pytest.mark.parametrize("seconds", [5.0, 30.0, 600.0])
def test_windows_cover_the_song(tmp_path, onnx_model, seconds):
    p = tmp_path / "x.flac"
    sf.write(p, tone(seconds, 330.0), SAMPLE_RATE)
    r = onnx_model.predict(p)
    w = r.windows
    assert w[0].start == 0.0
    assert w[-1].end == pytest.approx(seconds, abs=1e-3)
    m = onnx_model.m
    hop, used = m["hop_s"], m["receptive_field"]["used_s"]
    assert hop <= used < 29.1  # the CNN's pools drop the end of its window: windows overlap
    for a, b in zip(w, w[1:], strict=False):
        assert b.start <= a.start + used + 1e-6  # every second reaches the logits of some window
        assert b.end - b.start == pytest.approx(29.1, abs=1e-3)
    if seconds > 29.1:
        assert w[-1].start <= seconds - 29.1 + 1e-3 and w[-2].start + used >= w[-1].start
    expected = 1 if seconds <= 29.1 else int(np.ceil((seconds - 29.1) / hop)) + 1
    assert len(w) == expected
    assert r.duration_s == pytest.approx(seconds, abs=1e-3)
    assert sum(p for _, p in r.genres) <= 1.0 + 1e-6
    jsonschema.validate(r.to_dict(), _schema())


def test_hop_gives_overlapping_windows(tmp_path, onnx_model):
    p = tmp_path / "x.wav"
    sf.write(p, tone(40.0), SAMPLE_RATE)
    r = onnx_model.predict(p, hop_s=5.0)
    assert [w.start for w in r.windows] == pytest.approx([0, 5, 10, 40 - 29.1], abs=1e-3)


@pytest.mark.parametrize("fmt,subtype", [("mp3", "MPEG_LAYER_III"), ("flac", "PCM_24"), ("ogg", "VORBIS")])
def test_stereo_44k_formats(tmp_path, onnx_model, fmt, subtype):
    x = np.stack([tone(8.0, 220, 44100), tone(8.0, 440, 44100)], 1)
    p = tmp_path / f"s.{fmt}"
    sf.write(p, x, 44100, format=fmt.upper(), subtype=subtype)
    r = onnx_model.predict(p)
    assert r.duration_s == pytest.approx(8.0, abs=0.1)
    assert np.isfinite([g[1] for g in r.genres]).all()


def test_silent_input(tmp_path, onnx_model):
    """Silence throughout has no genre: one line, exit 2 (runtime.silence), never a made-up answer."""
    from audioconcept.errors import SilentAudio

    p = tmp_path / "silence.wav"
    sf.write(p, np.zeros(SAMPLE_RATE * 3, np.float32), SAMPLE_RATE)
    with pytest.raises(SilentAudio, match=r"silence\.wav: silence: every window is under -60 dBFS") as e:
        onnx_model.predict(p)
    assert "\n" not in str(e.value) and e.value.exit_code == 2


def test_silent_windows_count_in_no_song_figure():
    """A song between two long silences: musicnn-gtzan calls each silent window classical "because quiet" (the model
    answers on silence), which pulled the song towards classical and filled its timeline with quiet. The silent
    windows are marked, give no reasons, and the song's genres, concepts and spans are those of the music alone."""
    from audioconcept.runtime.silence import SILENCE_DBFS, level_dbfs

    m = load("musicnn-gtzan")
    sr = m.sample_rate
    music = load_audio(REAL_EXCERPT, sr=sr)
    z = np.zeros(12 * sr, np.float32)
    alone, padded = m.predict_array(music, "music"), m.predict_array(np.concatenate([z, music, z]), "padded")
    silent = [w for w in padded.windows if w.silent]
    heard = [w for w in padded.windows if not w.silent]
    assert len(silent) >= 6 and len(heard) >= len(alone.windows)
    for w in silent:  # only windows that lie wholly in the silence
        assert w.end <= 12.0 + 1e-6 or w.start >= 12.0 + len(music) / sr - 1e-6, w
        assert w.explanation == [] and w.genre in m.labels  # the model's answer is kept, with no reason
    assert level_dbfs(np.zeros(4)) == float("-inf") < SILENCE_DBFS
    # the song's windows sit elsewhere on the music than the music's own (its genres' order below the first may
    # differ), but its first genre and the distance to training come from the music alone
    assert padded.ood["distance"] == pytest.approx(alone.ood["distance"], rel=0.2)
    assert padded.genre == alone.genre == "reggae"
    assert padded.genres[0][1] == pytest.approx(alone.genres[0][1], abs=0.05)
    assert "quiet" not in padded.concepts_present  # what the silence alone said
    for span in padded.concept_spans:  # every span starts and ends in a window with music in it
        assert span.end >= 12.0 and span.start <= 12.0 + len(music) / sr, span


def test_the_default_model_hears_no_timbre_tempo_or_instrument_in_silence():
    """Digital silence, a -80 dBFS hiss and mains hum under the silence floor are refused as silence
    (runtime.silence); a song between two silences keeps its timbre spans on the music (the measured concepts' truth
    has no timbre there: models.measured_concepts.AUDIBLE_FLOOR_LUFS; the shipped probes said "bright, percussive"
    over silence before it, and "quiet" until silent windows stopped counting)."""
    from audioconcept.errors import SilentAudio
    from audioconcept.models.measured_concepts import LEVEL_CONCEPTS, MEASURED_CONCEPTS

    m = load("musicnn-gtzan")
    rng = np.random.default_rng(0)
    sr = m.sample_rate
    t = np.arange(5 * sr) / sr
    floors = {
        "digital silence": np.zeros(5 * sr, np.float32),
        "hiss at -80 dBFS": (1e-4 * rng.standard_normal(5 * sr)).astype(np.float32),
        "hum at -70 dBFS": (3e-4 * np.sin(2 * np.pi * 50 * t)).astype(np.float32),
    }
    timbre = {n for n in MEASURED_CONCEPTS if n not in LEVEL_CONCEPTS}
    for what, x in floors.items():
        with pytest.raises(SilentAudio, match="no music to classify"):
            m.predict_array(x, what)
    # a song between two silences: the timbre spans stay on the music (3 s windows: at most one window over)
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6, 1760.0))
    chord = (0.1 * chord * (1 + np.sign(np.sin(2 * np.pi * 2 * t))) / 2).astype(np.float32)  # struck, bright
    z = np.zeros(9 * sr, np.float32)
    r = m.predict_array(np.concatenate([z, chord, z]), "padded")
    for span in r.concept_spans:
        if span.concept in timbre:
            assert span.end > 9.0 - 3.0 and span.start < 14.0 + 3.0, span


def test_backends_agree(tmp_path, cnn_bundle):
    p = tmp_path / "x.wav"
    rng = np.random.default_rng(0)
    sf.write(p, (0.2 * rng.standard_normal(SAMPLE_RATE * 35)).astype(np.float32), SAMPLE_RATE)
    results = {b: load(cnn_bundle, backend=b, device="cpu").predict(p) for b in ("onnx", "torchscript", "pt2", "torch")}
    full = load(cnn_bundle, backend="onnx", device="cpu")
    ref = results["onnx"]
    for b, r in results.items():
        assert r.backend == b
        assert [g for g, _ in r.genres] == [g for g, _ in ref.genres], b
        for wa, wb in zip(ref.windows, r.windows, strict=True):
            for lab in wa.probabilities:
                assert wa.probabilities[lab] == pytest.approx(wb.probabilities[lab], abs=1e-4), b
    assert full.backend.artifact == "onnx_body"


def test_error_paths(tmp_path, cnn_bundle, onnx_model):
    with pytest.raises(AudioFileNotFound):
        onnx_model.predict(tmp_path / "missing.wav")
    (tmp_path / "notes.mp3").write_text("not audio")
    with pytest.raises(UndecodableAudio):
        onnx_model.predict(tmp_path / "notes.mp3")
    with pytest.raises(BackendUnavailable, match="unknown backend"):
        load(cnn_bundle, backend="tensorrt")
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():  # a GPU host runs it (test_accelerators)
        with pytest.raises(BackendUnavailable, match="CUDAExecutionProvider|onnxruntime-gpu"):
            load(cnn_bundle, backend="onnx", device="cuda")
    with pytest.raises(BackendUnavailable):
        load(cnn_bundle, backend="coreml")  # needs macOS (and a CoreML artifact)


def test_tampered_or_truncated_model_is_refused(tmp_path, cnn_bundle):
    b = tmp_path / "b"
    shutil.copytree(cnn_bundle, b)
    data = (b / "model.body.onnx").read_bytes()
    (b / "model.body.onnx").write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match="sha256"):
        load(b, backend="onnx")
    shutil.copy(cnn_bundle / "model.body.onnx", b / "model.body.onnx")
    m = json.loads((b / "manifest.json").read_text())
    m["schema_version"] = 99
    (b / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="schema_version"):
        load(b)


def test_cli_many_files_one_bad(tmp_path, cnn_bundle, capsys):
    good = tmp_path / "songs"
    good.mkdir()
    for i in range(2):
        sf.write(good / f"{i}.wav", tone(3.0, 200 + 100 * i), SAMPLE_RATE)
    (good / "broken.wav").write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(SystemExit) as e:
        main(["run", str(good), "--model", str(cnn_bundle), "--format", "json"])
    assert e.value.code == 2
    out = capsys.readouterr()
    docs = json.loads(out.out)
    assert len(docs) == 3  # two results, then one error entry
    for d in docs[:2]:
        jsonschema.validate(d, _schema())
    assert docs[2]["path"].endswith("broken.wav") and "not decodable" in docs[2]["error"]
    assert "broken.wav" in out.err and "Traceback" not in out.err


def test_cli_csv_and_output_file(tmp_path, cnn_bundle):
    p = tmp_path / "a.wav"
    sf.write(p, tone(35.0), SAMPLE_RATE)
    out = tmp_path / "r.csv"
    main(["run", str(p), "--model", str(cnn_bundle), "--format", "csv", "--output", str(out)])  # exits 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("path,model,backend,window,start,end,genre,probability")
    assert len(lines) == 1 + 1 + 2  # header, song row, two windows


def test_cli_errors_are_one_line(tmp_path, cnn_bundle, capsys):
    for args in (
        ["run", str(tmp_path / "nope.wav"), "--model", str(cnn_bundle)],
        ["run", "x.wav", "--model", str(tmp_path)],
        ["run", "x.wav", "--model", str(cnn_bundle), "--backend", "bogus"],
        ["run", "x.wav", "--model", str(cnn_bundle), "--device", "cuda"],
    ):
        with pytest.raises(SystemExit) as e:
            main(args)
        assert e.value.code == 2, args
        err = capsys.readouterr().err
        assert "Traceback" not in err and "error" in err.lower()


def test_csv_renders(tmp_path, onnx_model):
    p = tmp_path / "a.wav"
    sf.write(p, tone(3.0), SAMPLE_RATE)
    assert "a.wav" in to_csv([onnx_model.predict(p)])


def test_svm_bundle_runs_short_and_long_clips(tmp_path, svm_bundle):
    m = load(svm_bundle)
    for seconds in (4.0, 65.0):
        p = tmp_path / f"{seconds}.wav"
        sf.write(
            p,
            tone(seconds, 440) + 0.05 * np.random.default_rng(0).standard_normal(int(seconds * SAMPLE_RATE)),
            SAMPLE_RATE,
        )
        r = m.predict(p)
        assert r.arch == "svm" and r.windows[-1].end == pytest.approx(seconds, abs=1e-3)
        assert abs(sum(r.windows[0].probabilities.values()) - 1) < 1e-6


def test_fixed_batch_path_equals_dynamic_batch(cnn_bundle):
    """The ANE path fixes the batch axis to 1 and loops; same numbers as one dynamic batch."""
    from audioconcept.runtime.backends import OnnxBackend
    from audioconcept.runtime.bundle import open_bundle
    from audioconcept.runtime.formats import get_format

    b = open_bundle(cnn_bundle)
    window = int(round(b.manifest["window_s"] * b.manifest["sample_rate"]))
    x = (np.random.default_rng(0).standard_normal((3, window)) * 0.1).astype(np.float32)
    onnx = get_format("onnx")
    fixed = OnnxBackend(b, onnx, "cpu", full_graph=True, fixed_batch=1)
    dyn = OnnxBackend(b, onnx, "cpu", full_graph=True)
    assert fixed.session.get_inputs()[0].shape[0] in (1, "batch")
    np.testing.assert_allclose(fixed.run(x).logits, dyn.run(x).logits, atol=1e-5)


def test_packaged_svm_scores_a_short_song_like_the_same_music_at_30s(tmp_path, real_excerpt):
    """`length` is not a feature: 6 s and 12 s of a real song, and the 12 s looped to a full
    30 s window, get the same genre with nearly the same probabilities."""
    m = load("svm-gtzan")
    y, sr = sf.read(real_excerpt, dtype="float32")
    songs = {"6s": y[: 6 * sr], "12s": y, "30s": np.tile(y, 3)[: 30 * sr]}
    probs = {}
    for name, audio in songs.items():
        p = tmp_path / f"{name}.wav"
        sf.write(p, audio, sr)
        r = m.predict(p)
        assert len(r.windows) == 1
        probs[name] = np.array([r.windows[0].probabilities[lab] for lab in m.labels])
    top = {k: int(np.argmax(v)) for k, v in probs.items()}
    assert len(set(top.values())) == 1, top
    assert np.abs(probs["6s"] - probs["30s"]).max() < 0.05
    assert np.abs(probs["12s"] - probs["30s"]).max() < 0.05


@pytest.mark.slow
def test_packaged_svm_scores_cut_clips_like_their_30s_table_rows(shared_clips):
    """The shared clips are 15-20 s cuts of tracks whose full 30 s features are rows of
    features_30_sec.csv: the packaged SVM gives the cut and the row the same top genre."""
    from audioconcept.data.audio import load_audio
    from audioconcept.data.features_csv import read_features_csv
    from audioconcept.models.features import extract_features
    from tests.conftest import SHARED_GTZAN

    table = read_features_csv(SHARED_GTZAN / "features_30_sec.csv")
    rows = {name.removesuffix(".wav"): x for name, x in zip(table.filenames, table.X, strict=True)}
    m = load("svm-gtzan")
    clips = np.stack([extract_features(load_audio(p, duration=30.0)) for p in shared_clips])
    table_rows = np.stack([rows[p.stem] for p in shared_clips])
    p_clip, p_row = m.backend.run(clips).probabilities, m.backend.run(table_rows).probabilities
    assert np.mean(p_clip.argmax(1) == p_row.argmax(1)) >= 0.9
