"""Model.stream: the same window rows as predict, whatever the block sizes; bounded state; skipping when behind.

Where streaming and `predict` could differ, and how these tests handle it:
- the window aligned to the end (and, with musicnn's song context, the windows whose right context is the end's
  reflection) can only be cut once the stream has ended: the rows are equal, they just come last, stamped with the
  end's arrival time (checked below);
- the resampler's edges: `predict` decodes a file through the same soxr streaming resampler, which gives the same
  samples whatever the block sizes (flushed at the end), so the rows are compared at 1e-5 on audio that needs
  resampling (44.1 kHz stereo in, 16 and 22.05 kHz models), blocks of odd sizes;
- the song level is a running sum of logits instead of a mean over a list (equal to ~1e-12), and its rows and
  concept spans cover the last `history` windows only (equal here: the song is shorter than the history).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import soundfile as sf

from audioconcept.data.audio import window_starts
from audioconcept.errors import AudioError, EmptyAudio, InvalidSampleRate, NonFiniteAudio
from audioconcept.runtime.model import load
from audioconcept.runtime.stream import LiveSummary, LiveWindow

TOL = 1e-5


@pytest.fixture(scope="module")
def song(tmp_path_factory, real_excerpt) -> tuple:
    """40 s of real music at 44.1 kHz stereo (the committed excerpt, three times, the middle one louder and
    reversed): every model has to resample it, and the long-window models get several windows."""
    x, sr = sf.read(real_excerpt, dtype="float32")
    import soxr

    y = soxr.resample(x, sr, 44100)
    mono = np.concatenate([y, 1.5 * y[::-1], y, y[: 44100 * 4]])
    stereo = np.stack([mono, 0.7 * mono], 1).astype(np.float32)
    p = tmp_path_factory.mktemp("stream") / "song.wav"
    sf.write(p, stereo, 44100, subtype="FLOAT")
    return p, stereo


def blocks_of(x: np.ndarray, sizes: list[int]):
    """`x` in blocks whose sizes cycle through `sizes`."""
    i, k = 0, 0
    while i < len(x):
        n = sizes[k % len(sizes)]
        yield x[i : i + n]
        i += n
        k += 1


def rows_equal(a, b) -> None:
    assert (a.index, a.start, a.end, a.genre) == (b.index, b.start, b.end, b.genre)
    assert a.probability == pytest.approx(b.probability, abs=TOL)
    assert a.probabilities.keys() == b.probabilities.keys()
    assert max(abs(a.probabilities[k] - b.probabilities[k]) for k in a.probabilities) <= TOL
    assert a.concepts.keys() == b.concepts.keys()
    assert all(abs(a.concepts[k] - b.concepts[k]) <= TOL for k in a.concepts)
    assert a.tags.keys() == b.tags.keys()
    assert all(abs(a.tags[k] - b.tags[k]) <= TOL for k in a.tags)
    assert [c["concept"] for c in a.explanation] == [c["concept"] for c in b.explanation]  # per-window reasons


@pytest.mark.parametrize(
    ("model", "hop"),
    [("musicnn-gtzan", None), ("cnn-synth", 4.0), ("svm-gtzan", 4.0)],
)
def test_streamed_rows_equal_predicts(song, model, hop):
    path, stereo = song
    m = load(model, threads=1)
    ref = m.predict(path, hop_s=hop)
    items = list(m.stream(blocks_of(stereo, [777, 4096, 1, 30011]), 44100, 2, hop_s=hop))
    rows = [i for i in items if isinstance(i, LiveWindow)]
    summary = items[-1]
    assert isinstance(summary, LiveSummary)
    assert len(rows) == len(ref.windows) >= 3
    for a, b in zip(ref.windows, rows, strict=True):
        rows_equal(a, b.result)
    # the last window is aligned to the end, so it could only come once the stream had ended
    assert rows[-1].end == pytest.approx(ref.duration_s, abs=1e-3)
    assert rows[-1].start - rows[-2].start < (hop or m.hop_s)
    assert rows[-1].arrived >= max(r.arrived for r in rows[:-1])
    # the song level
    s = summary.result
    assert [g for g, _ in s.genres] == [g for g, _ in ref.genres]
    assert np.allclose([p for _, p in s.genres], [p for _, p in ref.genres], atol=1e-9)
    assert s.concepts == ref.concepts and s.concepts_present == ref.concepts_present
    assert s.concept_spans == ref.concept_spans
    assert s.tags == ref.tags
    # the song's reasons: from running sums of the reasons head's inputs, as predict's from all of them
    assert bool(s.explanation) == bool(ref.explanation)
    if ref.explanation:
        assert {k: v for k, v in s.explanation.items() if k != "genres"} == {
            k: v for k, v in ref.explanation.items() if k != "genres"
        }
        for a, b in zip(s.explanation["genres"], ref.explanation["genres"], strict=True):
            assert a["genre"] == b["genre"] and a["logit"] == pytest.approx(b["logit"], abs=1e-5)
            assert [c["concept"] for c in a["contributions"][:5]] == [c["concept"] for c in b["contributions"][:5]]
    assert summary.windows == len(rows) and summary.skipped == 0
    assert summary.heard_s == pytest.approx(len(stereo) / 44100, abs=1e-3)


def test_integer_pcm_and_flat_interleaved_blocks_give_the_same_rows(song):
    path, stereo = song
    m = load("cnn-synth", threads=1)
    pcm = np.round(np.clip(stereo[: 44100 * 33], -1, 1 - 2**-15) * 32768).astype(np.int16)
    as_float = [w for w in m.stream(blocks_of(pcm.astype(np.float32) / 32768, [5000]), 44100, 2, 4.0)]
    as_int = [w for w in m.stream((b.reshape(-1) for b in blocks_of(pcm, [3000])), 44100, 2, 4.0)]
    assert len(as_int) == len(as_float) >= 3
    for a, b in zip(as_float[:-1], as_int[:-1], strict=True):
        rows_equal(a.result, b.result)


def test_a_stream_shorter_than_a_window_is_looped_like_predict(song):
    path, stereo = song
    m = load("cnn-synth", threads=1)
    short = stereo[: 44100 * 5]
    sf.write(path.with_name("short.wav"), short, 44100, subtype="FLOAT")
    ref = m.predict(path.with_name("short.wav"))
    rows = [i for i in m.stream(blocks_of(short, [1000]), 44100, 2) if isinstance(i, LiveWindow)]
    assert len(rows) == 1
    rows_equal(ref.windows[0], rows[0].result)


def test_bad_streams_are_one_line_errors():
    m = load("cnn-synth", threads=1)
    with pytest.raises(InvalidSampleRate):
        list(m.stream(iter([np.zeros(100, np.float32)]), 5, 1))
    with pytest.raises(EmptyAudio):
        list(m.stream(iter([]), 22050, 1))
    with pytest.raises(NonFiniteAudio):
        list(m.stream(iter([np.full(1000, np.nan, np.float32)]), 22050, 1))
    with pytest.raises(AudioError, match="3 channels, not 2"):
        list(m.stream(iter([np.zeros((100, 3), np.float32)]), 22050, 2))
    with pytest.raises(AudioError, match="too short"):
        list(m.stream(iter([np.zeros(100, np.float32)]), 22050, 1))


def test_history_bounds_the_rows_kept_and_the_song_level_still_counts_every_window():
    m = load("musicnn-gtzan", threads=1)
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(16000 * 40)).astype(np.float32)
    stream = m.stream(blocks_of(x, [16000]), 16000, 1, history=3)
    rows = [w for w in stream.windows()]
    s = stream.summary()
    assert s.windows == len(rows) > 10
    assert len(s.result.windows) == 3 and s.result.windows[-1].index == rows[-1].result.index
    assert len(stream.agg.frames) <= 3 and len(stream.agg.logits) == 0  # folded into running sums
    ref = m.predict_array(x, "noise")
    assert np.allclose([p for _, p in s.result.genres], [p for _, p in ref.genres], atol=1e-9)
    assert s.result.concepts == ref.concepts and s.result.tags == ref.tags


def test_a_source_faster_than_analysis_skips_windows_and_counts_them():
    """With `max_pending`, the source runs ahead in a thread; the oldest waiting windows are skipped."""
    m = load("musicnn-gtzan", threads=1)
    x = (0.1 * np.random.default_rng(1).standard_normal(16000 * 60)).astype(np.float32)
    stream = m.stream(blocks_of(x, [16000]), 16000, 1, max_pending=1)
    rows = []
    for w in stream.windows():
        rows.append(w)
        time.sleep(0.05)  # a slow consumer: the whole minute arrives at once
    s = stream.summary()
    total = len(window_starts(x.size, round(m.window_s * 16000), round(m.hop_s * 16000)))
    assert s.skipped > 0 and s.windows == len(rows)
    assert s.windows + s.skipped == total
    assert rows[-1].skipped == s.skipped
    assert [w.result.index for w in rows] == sorted(w.result.index for w in rows)


def test_every_window_is_analysed_without_max_pending():
    m = load("musicnn-gtzan", threads=1)
    x = (0.1 * np.random.default_rng(2).standard_normal(16000 * 20)).astype(np.float32)
    rows = [w for w in m.stream(blocks_of(x, [333]), 16000, 1).windows()]
    assert len(rows) == len(m.predict_array(x, "noise").windows)
    # each window is stamped with the arrival of the block holding its last sample, before its analysis ended
    assert all(w.analysed >= w.arrived for w in rows)


def test_windows_that_arrive_together_wait_together_and_only_stale_ones_are_skipped():
    """The end of a stream can complete two windows at once (musicnn: the last on the hop grid, whose right context
    is the end's reflection, and the one aligned to the end): neither is stale, so neither is skipped."""
    from audioconcept.runtime.stream import _Producer

    p = _Producer(iter(()), None, max_pending=1, min_seconds=0.0)
    p._put([("a", 0.0), ("b", 0.0)])
    assert [w for w, _ in p.pending] == ["a", "b"] and p.skipped == 0
    p._put([("c", 1.0)])
    assert [w for w, _ in p.pending] == ["c"] and p.skipped == 2
