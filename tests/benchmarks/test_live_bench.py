"""`audioconcept bench live`: the plan per model, one real paced run, the generated table and the report section."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from audioconcept.benchmarks.live_bench import LiveBenchConfig, markdown, plan, run_live_bench


def test_plan_loops_the_song_until_every_model_gets_its_windows():
    p = plan("musicnn-gtzan", 16.7, 5, 5.0)
    assert p["hop_s"] == p["own_hop_s"] == 2.992 and p["loops"] == 1 and p["windows"] >= 5
    p = plan("cnn-synth", 16.7, 5, 5.0)
    assert p["hop_s"] == 5.0 and p["own_hop_s"] == 22.6
    assert p["loops"] == 3 and p["windows"] >= 5  # 29.1 s + 4 hops of 5 s need 49.1 s: three plays of 16.7 s
    assert plan("svm-gtzan", 60.0, 2, 5.0)["loops"] == 1


def _run(model: str, threads: int, median: float, p95: float, **kw) -> dict:
    return {
        "model": model, "window_s": 2.976, "hop_s": 2.992, "threads": threads, "analysed": 6, "skipped": 0,
        "latency_ms": {"median": median, "p95": p95, "max": p95 + 5, "first": p95}, "real_time_factor": 0.02,
        "analysis_ms": [30.0, 40.0, 50.0],
        "cpu_cores": 0.05, "cpu_share": 0.025, "load_before": [3.5, 3.0, 2.0], **kw,
    }  # fmt: skip


def _results(runs: list[dict]) -> dict:
    return {
        "kind": "live", "schema_version": 1, "created": "2026-12-04T18:00:00Z",
        "host": {"hostname": "vm", "cpu": "AMD EPYC", "cores": 2, "commit": "abc"},
        "song": {"path": "clips/jazz.00005.flac", "seconds": 16.7}, "runs": runs,
    }  # fmt: skip


def test_the_table_says_whether_the_default_model_met_250_ms():
    text = "\n".join(markdown(_results([_run("musicnn-gtzan", 1, 60, 90), _run("musicnn-gtzan", 2, 50, 70)])))
    assert "| musicnn-gtzan | 2.976 | 2.992 | 1 | 6 (0) | 60 | 90 | 95 | 40 | 0.020 | 0.05 | 2% | 3.5 |" in text
    assert "worst p95 90 ms against the 250 ms target: met." in text and "shared" in text
    text = "\n".join(markdown(_results([_run("musicnn-gtzan", 1, 200, 300), {"model": "x", "threads": 1,
                                                                              "error": "boom"}])))  # fmt: skip
    assert "**missed**" in text and "| x | | | 1 | error: boom |" in text


def test_bench_report_takes_live_results_beside_the_others(tmp_path):
    from audioconcept.benchmarks.report import write_report

    (tmp_path / "live.json").write_text(json.dumps(_results([_run("musicnn-gtzan", 1, 60, 90)])))
    text = write_report([tmp_path / "live.json"], tmp_path / "REPORT.md").read_text()
    assert "## Live analysis from a real-time-paced pipe" in text and "| musicnn-gtzan | 2.976 |" in text


@pytest.mark.slow
def test_a_paced_run_measures_latency(tmp_path, real_excerpt):
    x, sr = sf.read(real_excerpt, dtype="float32")
    song = tmp_path / "song.wav"
    sf.write(song, x[: 7 * sr], sr)
    cfg = LiveBenchConfig(song, ("musicnn-gtzan",), (1,), 2, 5.0, tmp_path / "live.json", tmp_path / "live.md")
    res = run_live_bench(cfg)
    (r,) = res["runs"]
    assert "error" not in r, r
    assert r["analysed"] + r["skipped"] == r["windows"] == 3
    assert 0 < r["latency_ms"]["median"] <= r["latency_ms"]["p95"] <= r["latency_ms"]["max"]
    assert 0 < r["real_time_factor"] < 5 and 0 < r["cpu_share"] <= 1 and r["heard_s"] == pytest.approx(7.0)
    assert json.loads((tmp_path / "live.json").read_text())["runs"] == res["runs"]
    assert "| musicnn-gtzan |" in (tmp_path / "live.md").read_text()
    assert np.isfinite(r["cpu_cores"])
