import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audioconcept import SAMPLE_RATE
from audioconcept.data.audio import (
    StreamFramer,
    audio_info,
    fit_window,
    iter_windows,
    load_audio,
    prepare_waveform,
    window_starts,
    windows_from_array,
)
from audioconcept.errors import (
    AudioFileNotFound,
    EmptyAudio,
    InvalidSampleRate,
    NonFiniteAudio,
    UndecodableAudio,
)

SUBTYPES = {"int16": "PCM_16", "int32": "PCM_32", "float32": "FLOAT", "float64": "DOUBLE", "pcm24": "PCM_24"}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seconds=st.floats(0.01, 3.0),
    sr=st.sampled_from([8000, 11025, 16000, 22050, 32000, 44100, 48000]),
    channels=st.integers(1, 4),
    subtype=st.sampled_from(sorted(SUBTYPES)),
)
def test_decode_any_rate_channels_dtype(tmp_path, seconds, sr, channels, subtype):
    n = max(1, int(seconds * sr))
    rng = np.random.default_rng(n)
    x = (0.5 * rng.uniform(-1, 1, (n, channels))).astype(np.float32)
    p = tmp_path / "x.wav"
    sf.write(p, x, sr, subtype=SUBTYPES[subtype])
    y = load_audio(p)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(y.size - n * SAMPLE_RATE / sr) <= 2
    assert np.isfinite(y).all()
    if sr == SAMPLE_RATE:
        np.testing.assert_allclose(y, x.mean(axis=1), atol=1e-4)


@pytest.mark.parametrize("fmt,subtype", [("flac", "PCM_16"), ("ogg", "VORBIS"), ("mp3", "MPEG_LAYER_III")])
def test_compressed_stereo_44k(tmp_path, fmt, subtype):
    t = np.arange(44100 * 2) / 44100
    x = np.stack([0.4 * np.sin(2 * np.pi * 440 * t), 0.4 * np.sin(2 * np.pi * 440 * t)], 1).astype(np.float32)
    p = tmp_path / f"s.{fmt}"
    sf.write(p, x, 44100, format=fmt.upper(), subtype=subtype)
    y = load_audio(p)
    assert abs(y.size - 2 * SAMPLE_RATE) < 0.06 * SAMPLE_RATE  # mp3 adds encoder delay/padding
    spec = np.abs(np.fft.rfft(y[2000:20000]))
    peak_hz = np.argmax(spec) * SAMPLE_RATE / 18000
    assert abs(peak_hz - 440) < 5


def test_errors(tmp_path):
    with pytest.raises(AudioFileNotFound):
        load_audio(tmp_path / "missing.wav")
    (tmp_path / "text.wav").write_text("this is not audio")
    with pytest.raises(UndecodableAudio):
        load_audio(tmp_path / "text.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(EmptyAudio):
        load_audio(tmp_path / "empty.wav")
    sf.write(tmp_path / "zero.wav", np.zeros((0, 1), np.float32), 22050)
    with pytest.raises(EmptyAudio):
        load_audio(tmp_path / "zero.wav")
    x = np.zeros(1000, np.float32)
    x[10] = np.nan
    sf.write(tmp_path / "nan.wav", x, 22050, subtype="FLOAT")
    with pytest.raises(NonFiniteAudio):
        load_audio(tmp_path / "nan.wav")
    with pytest.raises(NonFiniteAudio):
        list(iter_windows(tmp_path / "nan.wav", 0.1))
    with pytest.raises(InvalidSampleRate):
        prepare_waveform(np.zeros(10), 0)
    with pytest.raises(UndecodableAudio):
        load_audio(tmp_path)
    # each message is a single line that names the file
    try:
        load_audio(tmp_path / "text.wav")
    except UndecodableAudio as e:
        assert "\n" not in str(e) and "text.wav" in str(e)
    # libsndfile calls an unrecognised file "not a regular file"; the message must not send the user looking for it
    (tmp_path / "noise.mp3").write_bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    with pytest.raises(UndecodableAudio, match="unrecognised format or corrupt data") as e:
        load_audio(tmp_path / "noise.mp3")
    assert "does not exist" not in str(e.value) and str(e.value).count("noise.mp3") == 1


def test_truncated_wav_is_an_error_or_shorter(tmp_path):
    p = tmp_path / "t.wav"
    sf.write(p, np.ones(22050, np.float32) * 0.1, 22050)
    data = p.read_bytes()
    p.write_bytes(data[:30])  # header cut mid-way
    with pytest.raises((UndecodableAudio, EmptyAudio)):
        load_audio(p)


def test_integer_arrays_are_scaled():
    y = prepare_waveform(np.array([0, 16384, -32768], dtype=np.int16), SAMPLE_RATE)
    np.testing.assert_allclose(y, [0, 0.5, -1.0])


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 5000), window=st.integers(1, 800), hop=st.integers(1, 900))
def test_window_starts_cover_everything(n, window, hop):
    starts = window_starts(n, window, hop)
    assert starts[0] == 0
    assert starts == sorted(set(starts))
    covered = np.zeros(n, bool)
    for s in starts:
        covered[s : s + window] = True
        assert s + window <= max(n, window)
    assert covered[-1] and covered[0]
    if hop <= window:  # consecutive windows overlap or touch, so nothing is left out
        assert covered.all()
        assert all(b - a <= hop for a, b in zip(starts, starts[1:], strict=False))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seconds=st.floats(0.2, 9.0),
    window_s=st.floats(0.45, 3.0),  # hops of at least 0.1 s (data.audio.MIN_HOP_S)
    hop_frac=st.floats(0.25, 1.5),
    sr=st.sampled_from([22050, 44100]),
    block=st.floats(0.1, 2.0),
)
def test_block_reading_equals_whole_reading(tmp_path, seconds, window_s, hop_frac, sr, block):
    rng = np.random.default_rng(int(seconds * 1000))
    x = (0.3 * rng.standard_normal(int(seconds * sr))).astype(np.float32)
    p = tmp_path / "b.wav"
    sf.write(p, x, sr, subtype="FLOAT")
    hop_s = window_s * hop_frac
    streamed = list(iter_windows(p, window_s, hop_s, block_seconds=block))
    whole = windows_from_array(load_audio(p), window_s, hop_s)
    assert [w.start for w in streamed] == pytest.approx([w.start for w in whole], abs=1e-6)
    tol = 1e-6 if sr == SAMPLE_RATE else 2e-3  # the streaming resampler matches up to filter edge effects
    for a, b in zip(streamed, whole, strict=True):
        assert a.samples.shape == b.samples.shape
        np.testing.assert_allclose(a.samples, b.samples, atol=tol)


def test_short_audio_is_looped_not_silenced():
    x = np.arange(1, 4, dtype=np.float32)
    np.testing.assert_array_equal(fit_window(x, 7), [1, 2, 3, 1, 2, 3, 1])
    np.testing.assert_array_equal(fit_window(x, 2), [1, 2])


def test_info(wav_file):
    p = wav_file(1.0, sr=44100, channels=2)
    info = audio_info(p)
    assert (info.sample_rate, info.channels, info.frames) == (44100, 2, 44100)
    assert info.duration == pytest.approx(1.0)


def _in_subprocess(code: str) -> None:
    """Run code in a fresh interpreter: a regression here is a segfault, which must fail the
    test rather than kill pytest."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr[-2000:]}"


def test_long_ogg_vorbis_is_written_in_blocks(tmp_path):
    """One 120 s Vorbis write overflowed libvorbis' stack and killed the process (exit 139)."""
    p = tmp_path / "long.ogg"
    _in_subprocess(
        "import numpy as np\n"
        "from audioconcept.data.audio import write_audio\n"
        "x = (np.random.default_rng(0).standard_normal(22050 * 200) * 0.1).astype('float32')\n"
        f"write_audio({str(p)!r}, x, 22050)\n"
    )
    assert abs(audio_info(p).duration - 200.0) < 0.1
    assert abs(load_audio(p).size - 200 * SAMPLE_RATE) < 0.1 * SAMPLE_RATE


# ---------------------------------------------------------------- song framing (windows with context)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seconds=st.floats(0.001, 9.0),
    hop_s=st.floats(0.5, 4.0),
    block=st.floats(0.1, 2.0),
    context=st.sampled_from([1, 256, 512]),
)
def test_windows_with_context_stream_like_the_whole_song(tmp_path, seconds, hop_s, block, context):
    """With context, each window carries that many samples of the song on each side (reflected at the
    song's own edges), streamed or not; start, end and valid still describe the window itself."""
    sr = 16_000
    rng = np.random.default_rng(int(seconds * 1000))
    x = (0.3 * rng.standard_normal(max(1, int(seconds * sr)))).astype(np.float32)
    p = tmp_path / "c.wav"
    sf.write(p, x, sr, subtype="FLOAT")
    window_s = 2.976
    streamed = list(iter_windows(p, window_s, hop_s, sr=sr, block_seconds=block, context=context))
    whole = windows_from_array(x, window_s, hop_s, sr=sr, context=context)
    plain = windows_from_array(x, window_s, hop_s, sr=sr)
    assert [(w.start, w.end, w.valid) for w in streamed] == [(w.start, w.end, w.valid) for w in whole]
    assert [(w.start, w.end, w.valid) for w in whole] == [(w.start, w.end, w.valid) for w in plain]
    padded = np.pad(x, context, mode="reflect") if x.size > round(window_s * sr) else None
    for a, b, c in zip(streamed, whole, plain, strict=True):
        np.testing.assert_array_equal(a.samples, b.samples)
        assert b.samples.size == c.samples.size + 2 * context
        np.testing.assert_array_equal(b.samples[context:-context], c.samples)  # the window itself, untouched
        if padded is not None:
            s = round(b.start * sr)
            np.testing.assert_array_equal(b.samples, padded[s : s + b.samples.size])


def test_context_frames_a_window_like_the_whole_song_spectrogram():
    """center=False on the window plus n_fft/2 of context = slicing the whole song's center=True mel,
    which is how musicnn cuts its patches; per-window center=True padding is not."""
    from dataclasses import replace

    from audioconcept.models.musicnn import MUSICNN_MEL, PATCH_FRAMES, WINDOW_S
    from audioconcept.runtime.frontend import NumpyMelFrontEnd

    sr = 16_000
    x = (0.3 * np.random.default_rng(0).standard_normal(sr * 12)).astype(np.float32)
    whole = NumpyMelFrontEnd(MUSICNN_MEL.to_dict())(x[None])[0]
    framed = NumpyMelFrontEnd(replace(MUSICNN_MEL, center=False).to_dict())
    alone = NumpyMelFrontEnd(MUSICNN_MEL.to_dict())
    hop_s = PATCH_FRAMES * MUSICNN_MEL.hop_length / sr
    wins = windows_from_array(x, WINDOW_S, hop_s, sr=sr, context=MUSICNN_MEL.n_fft // 2)
    plain = windows_from_array(x, WINDOW_S, hop_s, sr=sr)
    for w, p in zip(wins[:-1], plain[:-1], strict=True):  # the last, end-aligned window is off the frame grid
        f0 = round(w.start * sr) // MUSICNN_MEL.hop_length
        ref = whole[:, f0 : f0 + PATCH_FRAMES]
        np.testing.assert_allclose(framed(w.samples[None])[0], ref, atol=1e-5)
        assert np.abs(alone(p.samples[None])[0] - ref).max() > 1e-2  # the edges differ without context


@settings(max_examples=25, deadline=None)
@given(
    seconds=st.floats(0.6, 12.0),
    hop_s=st.floats(0.3, 5.0),
    sizes=st.lists(st.integers(1, 40_000), min_size=1, max_size=6),
    context=st.sampled_from([0, 1, 256]),
)
def test_stream_framer_pushed_in_any_blocks_cuts_the_whole_songs_windows(seconds, hop_s, sizes, context):
    """Pushed one sample at a time, in blocks longer than its ring, or anything between, the framer gives the
    windows of the whole song, and the ring stays one window plus context (or one hop) long, doubled."""
    sr = 16_000
    x = (0.3 * np.random.default_rng(len(sizes)).standard_normal(int(seconds * sr))).astype(np.float32)
    framer = StreamFramer(2.976, hop_s, sr, context)
    streamed, i, k = [], 0, 0
    while i < x.size:
        streamed += framer.push(x[i : i + sizes[k % len(sizes)]])
        i += sizes[k % len(sizes)]
        k += 1
    streamed += framer.finish()
    whole = windows_from_array(x, 2.976, hop_s, sr=sr, context=context)
    assert [(w.index, w.start, w.end, w.valid) for w in streamed] == [(w.index, w.start, w.end, w.valid) for w in whole]
    for a, b in zip(streamed, whole, strict=True):
        np.testing.assert_array_equal(a.samples, b.samples)
    keep = max(round(2.976 * sr) + 2 * context, round(hop_s * sr))
    assert framer.ring_size <= max(2 * keep, keep + max(sizes) + 2 * context + 1)
