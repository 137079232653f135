"""Silent windows (runtime.silence): marked, with no reasons, and counted in none of a song's figures."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audioconcept.data.audio import Window
from audioconcept.errors import SilentAudio
from audioconcept.runtime.aggregate import SongAggregator, SongSettings, softmax
from audioconcept.runtime.result import to_csv
from audioconcept.runtime.silence import SILENCE_DBFS, is_silent, level_dbfs
from tests.payloads import assert_one_line_error, run_cli


def test_level_is_rms_in_dbfs():
    t = np.arange(22050) / 22050
    assert level_dbfs(np.sin(2 * np.pi * 440 * t)) == pytest.approx(-3.0103, abs=1e-3)
    assert level_dbfs(np.ones(10)) == 0.0 and level_dbfs(np.zeros(10)) == float("-inf")
    assert level_dbfs(np.array([], np.float32)) == float("-inf")
    assert SILENCE_DBFS == -60.0
    assert is_silent(np.full(100, 10 ** (-61 / 20))) and not is_silent(np.full(100, 10 ** (-59 / 20)))


def _win(i: int, level_dbfs: float | None) -> Window:
    x = np.zeros(100, np.float32) if level_dbfs is None else np.full(100, 10 ** (level_dbfs / 20), np.float32)
    return Window(i, 3.0 * i, 3.0 * i + 3.0, x, 100)


def test_a_silent_window_counts_in_no_song_figure():
    s = SongSettings(("a", "b"), 3.0, concept_names=("c",), concept_thresholds=(0.5,))
    agg = SongAggregator(s)
    logits = np.array([[0.0, 2.0], [5.0, 0.0], [0.0, 1.0]])
    concepts = np.array([[0.1], [0.9], [0.2]])  # "c" is strong only in the silent window
    agg.add([_win(0, -20.0), _win(1, None), _win(2, -50.0)], logits, softmax(logits), concepts)
    assert [w.silent for w in agg.windows] == [False, True, False]
    r = agg.result("song.wav", "m", "cnn", "", "onnx", "cpu", top_k=2)
    want = softmax(logits[[0, 2]].mean(axis=0))
    assert r.genres[0] == ("b", pytest.approx(want[1]))
    assert r.concepts == {"c": 0.2} and r.concepts_present == [] and r.concept_spans == []
    assert r.windows[1].genre == "a" and r.windows[1].probability == pytest.approx(softmax(logits[1])[0])
    d = r.to_dict()
    assert [w["silent"] for w in d["windows"]] == [False, True, False]
    rows = to_csv([r]).splitlines()
    assert rows[3].split(",")[6:8] == ["silence", ""]  # header, song, window 0, window 1
    assert rows[2].split(",")[6] == "b"


def test_silence_throughout_is_refused_in_one_line(tmp_path):
    agg = SongAggregator(SongSettings(("a", "b"), 3.0))
    agg.add([_win(0, None), _win(1, -70.0)], np.zeros((2, 2)), np.full((2, 2), 0.5))
    with pytest.raises(SilentAudio, match="every window is under -60 dBFS"):
        agg.result("song.wav", "m", "cnn", "", "onnx", "cpu")
    song = tmp_path / "hiss.wav"
    sf.write(song, (1e-4 * np.random.default_rng(0).standard_normal(22050 * 5)).astype(np.float32), 22050)
    assert_one_line_error(run_cli("run", str(song), "--model", "cnn-synth"), contains="silence")


def test_a_stream_shows_silence_and_refuses_a_silent_summary():
    from audioconcept.runtime.model import load

    m = load("cnn-synth")
    sr = m.sample_rate
    tone = (0.2 * np.sin(2 * np.pi * 220 * np.arange(int(m.window_s * sr) + sr) / sr)).astype(np.float32)
    silence = np.zeros(int(2 * m.window_s * sr), np.float32)
    stream = m.stream(iter([tone, silence]), sr, 1)
    rows = list(stream.windows())
    assert rows[0].genre in m.labels and rows[-1].genre == "silence" and rows[-1].result.silent
    assert stream.summary().windows == len(rows)
    quiet = m.stream(iter([silence]), sr, 1)
    assert [w.genre for w in quiet.windows()] == ["silence"] * len(quiet.agg.windows)
    with pytest.raises(SilentAudio):
        quiet.summary()
