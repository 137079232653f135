"""--engine ray on a local Ray (CI has no cluster): one Ray session shared by the module's tests."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from audioconcept.errors import BackendUnavailable
from audioconcept.runtime.batch.ray_engine import DECODE_CPUS, plan_ray


def test_plan_sizes_the_actor_pool_from_the_cluster():
    p = plan_ray({"CPU": 2.0})
    assert (p.workers, p.device, p.actor_gpus, p.threads) == (1, "cpu", 0.0, 1)
    two = plan_ray({"CPU": 2.0}, workers=2)
    assert two.workers * two.actor_cpus + DECODE_CPUS <= 2.0  # decoding still gets a CPU
    assert plan_ray({"CPU": 64.0}).workers == 51  # 80 % of the CPUs; the rest decode
    big = plan_ray({"CPU": 64.0}, threads=2)
    assert (big.workers, big.threads, big.actor_cpus) == (25, 2, 2.0)
    gpu = plan_ray({"CPU": 16.0, "GPU": 4.0})
    assert (gpu.workers, gpu.device, gpu.actor_gpus) == (4, "cuda", 1.0)
    assert plan_ray({"CPU": 16.0, "GPU": 4.0}, device="cpu").device == "cpu"
    assert plan_ray({"CPU": 16.0, "GPU": 1.0}, workers=2).actor_gpus == 0.5
    with pytest.raises(BackendUnavailable, match="no GPU"):
        plan_ray({"CPU": 8.0}, device="cuda")


@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray")
    pytest.importorskip("pyarrow")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _batch(*args) -> int:
    from audioconcept.cli import main

    try:
        main(["batch", *map(str, args), "--model", "cnn-synth", "--no-progress"])
    except SystemExit as e:
        return int(e.code or 0)
    return 0


@pytest.fixture(scope="module")
def ray_out(ray_session, library, tmp_path_factory):
    root, _, _ = library
    out = tmp_path_factory.mktemp("ray") / "out"
    rc = _batch(root, "--out", out, "--engine", "ray", "--workers", "2")
    return out, rc


@pytest.mark.slow
def test_ray_writes_every_song_and_an_error_row_for_the_corrupt_file(ray_out, library):
    import pyarrow.parquet as pq

    from audioconcept.runtime.batch import schema

    out, rc = ray_out
    _, songs, corrupt = library
    assert rc == 1  # the corrupt file failed
    s = pq.read_table(out / "songs")
    w = pq.read_table(out / "windows")
    assert s.schema.equals(schema.songs_schema(), check_metadata=False)
    assert w.schema.equals(schema.windows_schema(), check_metadata=False)
    rows = {r["path"]: r for r in s.to_pylist()}
    assert set(rows) == {str(p) for p in songs} | {str(corrupt)}
    bad = rows[str(corrupt)]
    assert bad["status"] == "error" and "\n" not in bad["error"] and "corrupt.flac" in bad["error"]
    assert bad["n_windows"] == 0 and bad["genre"] is None
    from audioconcept.runtime.bundle import read_manifest
    from audioconcept.runtime.registry import resolve_bundle

    names = read_manifest(resolve_bundle("cnn-synth"))["concepts"]["names"]
    per_song = {}
    for sid in w.column("song_id").to_pylist():
        per_song[sid] = per_song.get(sid, 0) + 1
    for p in songs:
        r = rows[str(p)]
        assert r["status"] == "ok" and r["error"] is None, r
        assert r["n_windows"] == per_song[r["song_id"]] >= 1
        assert len(r["genres"]) == 3 and r["genre"] == r["genres"][0]["label"]
        present = {c["name"] for c in r["concepts"] if c["present"]}
        assert [c["name"] for c in r["concepts"]] == names and {sp["concept"] for sp in r["concept_spans"]} <= present
        assert r["model"] == "cnn-synth" and len(r["model_sha256"]) == 64 and r["device"] == "cpu"
        i = int(p.stem.removeprefix("track"))
        assert r["duration_s"] == pytest.approx((4.0, 12.0, 31.0, 40.0, 7.5)[i % 5], abs=0.01)
    hosts = {r["host"] for r in rows.values()}
    assert len(hosts) == 2  # two actors, one model session each
    # the documented schema names every column, in the module docstring and the manual's batch page
    manual = (Path(__file__).parents[3] / "docs" / "batch.md").read_text()
    for f in list(schema.songs_schema()) + list(schema.windows_schema()):
        assert f"``{f.name}``" in schema.__doc__ and f"`{f.name}`" in manual, f.name


@pytest.mark.slow
def test_local_and_ray_give_the_same_genres(ray_out, library, tmp_path):
    from audioconcept.runtime.batch.store import read_table

    out, _ = ray_out
    root, _, _ = library
    assert _batch(root, "--out", tmp_path / "local", "--engine", "local", "--workers", "2") == 1
    ray_rows = {r["song_id"]: r for r in read_table(out).to_pylist()}
    local_rows = {r["song_id"]: r for r in read_table(tmp_path / "local").to_pylist()}
    assert set(ray_rows) == set(local_rows) and len(ray_rows) == 31
    for sid, a in local_rows.items():
        b = ray_rows[sid]
        assert a["status"] == b["status"]
        assert [g["label"] for g in a["genres"]] == [g["label"] for g in b["genres"]]
        for ga, gb in zip(a["genres"], b["genres"], strict=True):
            assert ga["probability"] == pytest.approx(gb["probability"], abs=1e-5)
        spans = [[(sp["concept"], round(sp["start_s"], 2), round(sp["end_s"], 2)) for sp in r["concept_spans"]]
                 for r in (a, b)]  # fmt: skip
        assert spans[0] == spans[1]


@pytest.mark.slow
def test_a_killed_run_completes_on_rerun_with_no_duplicates(ray_session, library, tmp_path):
    from audioconcept.runtime.batch.store import read_table

    root, songs, _ = library
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "audioconcept.cli", "batch", str(root), "--model", "cnn-synth", "--out", str(out),
           "--workers", "1", "--part-songs", "2", "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not list((out / "songs").glob("part-*.parquet")):
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the run and its worker processes, mid-batch
        proc.wait()
    before = read_table(out).num_rows
    assert 2 <= before < 31
    assert _batch(root, "--out", out, "--engine", "ray", "--workers", "1") == 1
    s, w = read_table(out), read_table(out, "windows")
    ids = s.column("song_id").to_pylist()
    assert len(ids) == len(set(ids)) == 31
    keys = list(zip(w.column("song_id").to_pylist(), w.column("window").to_pylist(), strict=True))
    assert len(keys) == len(set(keys))
    assert sum(r["n_windows"] for r in s.to_pylist()) == w.num_rows
