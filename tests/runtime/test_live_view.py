"""The live output: --on-change hysteresis, and the JSON lines and summary the live command writes."""

from __future__ import annotations

import io
import json
import time

from audioconcept.runtime.live_view import ChangeDetector, LiveView
from audioconcept.runtime.result import BORDERLINE_NOTE, SongResult, WindowResult
from audioconcept.runtime.stream import LiveSummary, LiveWindow


def window(i: int, genre: str, **concepts: float) -> LiveWindow:
    row = WindowResult(i, 3.0 * i, 3.0 * i + 3, genre, 0.9, {genre: 0.9}, dict(concepts))
    present = tuple(c for c, v in concepts.items() if v >= 0.5)
    return LiveWindow(row, present, time.perf_counter() - 0.05, time.perf_counter(), 0, 0.04)


def test_a_genre_must_lead_two_windows_and_a_concept_must_hold_two_windows_past_its_margin():
    d = ChangeDetector({"piano": 0.5, "voice": 0.5}, hold=2, margin=0.1)
    assert d.update(window(0, "jazz", piano=0.7, voice=0.2)) == (True, ["piano"], [])  # the first sets the state
    assert d.update(window(1, "blues", piano=0.45, voice=0.2)) is None  # one window of blues; piano within margin
    assert d.update(window(2, "jazz", piano=0.3, voice=0.6)) is None  # back to jazz; piano low once, voice once
    assert d.update(window(3, "blues", piano=0.45, voice=0.2)) is None  # flickers: blues once, both reset
    assert d.update(window(4, "blues", piano=0.3, voice=0.2)) == (True, [], [])  # blues twice; piano low once
    assert d.update(window(5, "blues", piano=0.3, voice=0.2)) == (False, [], ["piano"])  # piano low twice
    assert d.genre == "blues" and d.present == frozenset()
    assert d.update(window(6, "blues", voice=0.55)) is None
    assert d.update(window(7, "blues", voice=0.51)) == (False, ["voice"], [])


def test_jsonl_lines_carry_stream_time_latency_and_the_summary():
    out = io.StringIO()
    view = LiveView(out, "jsonl")
    view.window(window(0, "jazz", piano=0.7))
    view.window(window(1, "jazz", piano=0.2))
    res = SongResult("stdin", "m", "cnn", "", "onnx", "cpu", 6.0, [("jazz", 0.9)], [])
    view.summary(LiveSummary(res, 2, 1, 6.0, 6.5, 0.2, 0.08), interrupted=True)
    lines = [json.loads(ln) for ln in out.getvalue().splitlines()]
    assert [ln["type"] for ln in lines] == ["window", "window", "summary"]
    assert lines[0]["start"] == 0.0 and lines[1]["end"] == 6.0 and lines[0]["present"] == ["piano"]
    assert lines[0]["similar_to"] == []  # genre-named tags present in the window: apart from `present`
    assert 0.05 <= lines[0]["latency_s"] < 5 and lines[0]["analysis_s"] == 0.04
    s = lines[2]
    assert s["interrupted"] and s["windows"] == 2 and s["skipped"] == 1 and "windows" not in s["song"]
    assert s["real_time_factor"] == round(0.08 / 6.0, 4) and s["latency_s"]["median"] >= 0.05


def test_on_change_writes_only_changes_and_the_table_flags_them():
    out = io.StringIO()
    view = LiveView(out, "table", ChangeDetector({"piano": 0.5}))
    for i, p in enumerate([0.7, 0.7, 0.2, 0.2, 0.2]):
        view.window(window(i, "jazz", piano=p))
    rows = out.getvalue().splitlines()
    assert rows[0].split()[:3] == ["start", "end", "genre"]
    assert len(rows) == 3 and "[genre! +piano]" in rows[1] and "[-piano]" in rows[2]
    assert len(view.latencies) == 5  # every window's latency counts in the summary, printed or not


def outweighed(i: int, present: tuple[str, ...], **concepts: float) -> LiveWindow:
    row = WindowResult(i, 3.0 * i, 3.0 * i + 3, "jazz", 0.9, {"jazz": 0.9}, dict(concepts))
    return LiveWindow(row, present, time.perf_counter() - 0.05, time.perf_counter(), 0, 0.04)


def test_only_what_the_window_calls_present_turns_on_and_an_outweighed_concept_turns_off():
    """Above its threshold is not enough: a failed concept, or one its opposite outweighs in the window (the window's
    `present` says so), does not turn on; one that is on and then outweighed twice turns off."""
    d = ChangeDetector({"loud": 0.5, "quiet": 0.5, "sitar": 0.5}, hold=2, margin=0.1)
    assert d.update(outweighed(0, ("loud",), loud=0.9, quiet=0.6, sitar=0.9)) == (True, ["loud"], [])
    assert d.update(outweighed(1, ("quiet",), loud=0.6, quiet=0.95, sitar=0.9)) is None  # once: hold
    assert d.update(outweighed(2, ("quiet",), loud=0.6, quiet=0.95, sitar=0.9)) == (False, ["quiet"], ["loud"])
    assert "sitar" not in d.present
    assert d.update(outweighed(3, ("quiet",), loud=0.45, quiet=0.95)) is None  # loud within its margin: stays off


def test_the_text_summary_names_the_borderline_concepts():
    out = io.StringIO()
    view = LiveView(out, "table")
    res = SongResult("stdin", "m", "musicnn-probe", "", "onnx", "cpu", 6.0, [("jazz", 0.9)], [])
    res.concepts_present, res.concepts_borderline = ["piano", "drums"], ["piano", "dark"]
    view.summary(LiveSummary(res, 2, 0, 6.0, 6.5, 0.2, 0.08))
    lines = out.getvalue().splitlines()
    assert "-- concepts present: piano, drums" in lines
    assert f"-- borderline, {BORDERLINE_NOTE}: piano, dark" in lines
    out = io.StringIO()
    res.concepts_borderline = []
    LiveView(out, "table").summary(LiveSummary(res, 2, 0, 6.0, 6.5, 0.2, 0.08))
    assert "borderline" not in out.getvalue()
    out = io.StringIO()
    res.concepts_borderline = ["dark"]
    LiveView(out, "jsonl").summary(LiveSummary(res, 2, 0, 6.0, 6.5, 0.2, 0.08))
    assert json.loads(out.getvalue())["song"]["concepts_borderline"] == ["dark"]
