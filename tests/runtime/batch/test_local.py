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
