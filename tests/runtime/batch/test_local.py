import os

import pytest

from audioconcept.runtime.batch.local import plan_local, thread_env


def test_processes_times_threads_is_the_cores():
    assert plan_local(cores=16) == plan_local(16, 1, cores=16)
    assert plan_local(4, cores=16).threads == 4
    assert plan_local(3, cores=16).threads == 5
    assert plan_local(32, cores=16).threads == 1
    assert plan_local(2, 3, cores=16).threads == 3  # asked for explicitly


def test_thread_env_is_restored(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    with thread_env(2):
        assert os.environ["OMP_NUM_THREADS"] == os.environ["MKL_NUM_THREADS"] == "2"
    assert os.environ["OMP_NUM_THREADS"] == "7" and "MKL_NUM_THREADS" not in os.environ


@pytest.mark.slow
def test_local_engine_resumes_without_duplicates(tmp_path, library):
    pytest.importorskip("pyarrow")
    from audioconcept.cli import main
    from audioconcept.runtime.batch.store import read_table

    root, songs, corrupt = library
    out = tmp_path / "out"
    first = [str(p) for p in songs[:4]]
    main(["batch", *first, "--model", "cnn-synth", "--out", str(out), "--workers", "2", "--no-progress"])
    assert read_table(out).num_rows == 4
    with pytest.raises(SystemExit) as e:  # the corrupt file fails: exit 1
        main(["batch", *first, str(songs[4]), str(corrupt), "--model", "cnn-synth", "--out", str(out), "--no-progress"])
    assert e.value.code == 1
    t = read_table(out)
    ids = t.column("song_id").to_pylist()
    assert len(ids) == len(set(ids)) == 6
    # a re-run with nothing left to do still says that a song failed, until --retry-errors fixes it
    with pytest.raises(SystemExit) as e:
        main(["batch", str(corrupt), "--model", "cnn-synth", "--out", str(out), "--no-progress"])
    assert e.value.code == 1
    corrupt.rename(corrupt.with_suffix(".bak"))
    try:
        import shutil

        shutil.copy(songs[0], corrupt)
        # the file changed, so it has a new id and is analysed; the old error row stays for the old file
        main(["batch", str(corrupt), "--model", "cnn-synth", "--out", str(out), "--no-progress"])
    finally:
        corrupt.unlink()
        corrupt.with_suffix(".bak").rename(corrupt)
    assert read_table(out).num_rows == 7


def crash_on_marked_files(ref):
    """Runs in a pool worker: dies like a decoder crash on files named crash*, else the real analysis."""
    from pathlib import Path

    from audioconcept.runtime.batch import local

    if Path(ref.path).name.startswith("crash"):
        os._exit(139)
    return local._work(ref)


@pytest.mark.slow
def test_a_worker_that_dies_costs_only_its_own_song(tmp_path, library):
    import shutil

    from audioconcept.runtime.batch.analyse import AnalysisSettings
    from audioconcept.runtime.batch.inputs import SongRef
    from audioconcept.runtime.batch.local import CRASHED, LocalPlan, run_local
    from audioconcept.runtime.batch.run import model_info
    from audioconcept.runtime.registry import resolve_bundle

    _, songs, _ = library
    paths = [shutil.copy(p, tmp_path / f"{i}{p.suffix}") for i, p in enumerate(songs[:5])]
    paths.insert(2, shutil.copy(songs[5], tmp_path / "crash.wav"))
    bundle = resolve_bundle("cnn-synth")
    info, sr = model_info(bundle)
    rows = []
    run_local([SongRef.of(p) for p in paths], AnalysisSettings(str(bundle), info, sr), LocalPlan(2, 1), rows.append,
              crash_on_marked_files)  # fmt: skip
    by_path = {r.song["path"]: r for r in rows}
    assert len(rows) == len(by_path) == 6
    assert by_path[str(tmp_path / "crash.wav")].song["error"] == CRASHED
    assert all(r.ok for p, r in by_path.items() if not p.endswith("crash.wav"))
