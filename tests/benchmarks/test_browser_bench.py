"""`audioconcept bench browser`: its table from a results dict, and a missing song in one line (the run itself
needs Chromium and minutes: `make bench-browser`)."""

from __future__ import annotations

import subprocess
import sys

from audioconcept.benchmarks.browser_bench import render_table


def row(model, threads, page_ms, run_ms):
    side = {"windows": 11, "song_ms": 10 * page_ms, "frontend_ms": 1.0, "body_ms": page_ms - 1.0, "window_ms": page_ms}
    run = {**side, "song_ms": 10 * run_ms, "body_ms": run_ms - 1.0, "window_ms": run_ms}
    return {"model": model, "threads": threads, "coop_coep": threads > 1, "page": side, "python": run,
            "ratio_window": round(page_ms / run_ms, 2), "ratio_song": round(page_ms / run_ms, 2),
            "max_genre_diff": 2e-8, "same_concepts_present": True}  # fmt: skip


def test_table_has_a_row_per_model_and_thread_setting():
    res = {
        "song": "jazz.00005.flac", "seconds": 30.0, "repeats": 3, "chromium": "156", "onnxruntime_web": "1.31.1",
        "created": "now", "host": {"cpu": "cpu", "cores": 2},
        "rows": [row("musicnn-gtzan", 1, 50.0, 20.0), row("musicnn-gtzan", 2, 30.0, 15.0)],
        "live": {"model": "musicnn-gtzan", "latency_ms": [40.0, 60.0], "median_ms": 50.0, "max_ms": 60.0},
        "resampled": [{"model": "musicnn-gtzan", "same_top": True, "max_genre_diff": 0.012,
                       "same_concepts_present": False}],
    }  # fmt: skip
    md = render_table(res)
    lines = [ln for ln in md.splitlines() if ln.startswith("| musicnn-gtzan")]
    assert len(lines) == 2
    assert "| 1 | off |" in lines[0] and "2.50x" in lines[0]
    assert "| 2 | on |" in lines[1] and "2.00x" in lines[1] and lines[1].endswith("| 2.0e-08 | yes |")
    assert "median 50 ms, max 60 ms" in md
    assert "same top genre: yes; genre probabilities differ by up to 1.2e-02; same present concepts: no" in md


def test_missing_song_is_one_line(tmp_path):
    r = subprocess.run(
        [sys.executable, "-c", "from audioconcept.cli import main; main()", "bench", "browser", "--song",
         str(tmp_path / "no.flac"), "--out", str(tmp_path / "out")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "is not a file" in r.stderr
