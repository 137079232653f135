import json

import pytest

from audioconcept.benchmarks.batch_bench import (
    BatchBenchConfig,
    GpuFigure,
    markdown,
    run_batch_bench,
    summarise,
    windows_per_song,
)


def _run(engine, workers, threads, rate, fixed, r=1):
    small, full = 8, 32
    return {
        "engine": engine,
        "workers": workers,
        "threads": threads,
        "round": r,
        "songs_per_s": full / (fixed + full / rate),
        "steady_songs_per_s": rate,
        "fixed_s": fixed,
        "small": {"songs": small},
        "full": {"songs": full},
    }


def _results(runs):
    return {
        "kind": "batch",
        "schema_version": 1,
        "created": "2026-11-26T00:00:00Z",
        "host": {"hostname": "h", "cpu": "cpu", "cores": 2, "commit": "abc"},
        "settings": {"songs": 32, "seconds": 180.0, "audio_format": "mp3", "rounds": 2},
        "model": {"name": "cnn-synth", "window_s": 29.1, "hop_s": 22.6, "windows_per_song": 8},
        "load_before": "1 1 1",
        "load_after": "1 1 1",
        "decode": {"median_ms": 500.0},
        "ray_init_s": 9.0,
        "runs": runs,
    }


def test_windows_per_song_matches_the_runtime():
    from audioconcept.data.audio import window_starts

    for seconds in (10.0, 29.1, 30.0, 180.0, 241.3):
        n = len(window_starts(int(seconds * 22050), int(29.1 * 22050), int(22.6 * 22050)))
        assert windows_per_song(seconds, 29.1, 22.6) == n


def test_summary_overhead_and_estimates():
    runs = [
        _run("local", 2, 1, 4.0, 1.0),
        _run("local", 2, 1, 4.4, 1.2, r=2),
        _run("ray", 2, 1, 3.0, 5.0),
        _run("ray", 2, 1, 3.2, 6.0, r=2),
    ]
    res = _results(runs)
    cfg = BatchBenchConfig(nodes=(1, 10), cores_per_node=16, gpu=GpuFigure(0.5, "test figure"))
    s = summarise(res, cfg)
    assert s["by_config"]["local x2"]["steady_songs_per_s"] == pytest.approx(4.2)
    o = s["ray_overhead"]["x2"]
    assert o["wall_ms_per_song"] == pytest.approx(1e3 * (1 / 3.1 - 1 / 4.2), abs=0.1)
    assert o["worker_ms_per_song"] == pytest.approx(2 * o["wall_ms_per_song"], abs=0.2)
    assert o["fixed_s_extra"] == pytest.approx(5.5 - 1.1)
    cpu = s["estimate"]["cpu"]
    assert cpu["core_s_per_song"] == pytest.approx(2 / 4.2, abs=1e-3)
    assert cpu["hours_by_nodes"]["10"] == pytest.approx(1e6 * (2 / 4.2) / 160 / 3600, abs=0.01)
    gpu = s["estimate"]["gpu"]
    # 8 windows x 0.5 ms = 4 ms of GPU per song (250 songs/s) against 16 cores x 2 songs/s of decoding
    assert gpu["gpu_ms_per_song"] == pytest.approx(4.0) and gpu["songs_per_s_per_node"] == pytest.approx(32.0)
    assert gpu["bound_by"] == "decoding on the CPUs" and gpu["source"] == "test figure"
    res["summary"] = s
    text = "\n".join(markdown(res))
    assert "| ray | 2 | 1 |" in text and "test figure" in text and "1 M songs on GPU nodes" in text


def test_bench_report_takes_batch_results_beside_the_others(tmp_path):
    from audioconcept.benchmarks.report import write_report

    res = _results([_run("local", 1, 2, 2.0, 1.0)])
    res["summary"] = summarise(res, BatchBenchConfig())
    (tmp_path / "batch.json").write_text(json.dumps(res))
    text = write_report([tmp_path / "batch.json"], tmp_path / "REPORT.md").read_text()
    assert "## Batch analysis of a library" in text and "| local | 1 | 2 |" in text


@pytest.mark.slow
def test_a_small_local_bench_runs(tmp_path):
    pytest.importorskip("pyarrow")
    res = run_batch_bench(
        BatchBenchConfig(tmp_path / "b.json", songs=4, seconds=8.0, audio_format="flac", engines=("local",), rounds=1)
    )
    doc = json.loads((tmp_path / "b.json").read_text())
    assert doc["kind"] == "batch" and len(doc["runs"]) == 2 and doc["summary"]["by_config"]
    assert all(r["full"]["songs"] == 4 and r["small"]["songs"] == 1 for r in res["runs"])
