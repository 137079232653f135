from datetime import datetime, timezone

import pytest

pa = pytest.importorskip("pyarrow")

from audioconcept.errors import BatchError  # noqa: E402
from audioconcept.runtime.batch.inputs import SongRef  # noqa: E402
from audioconcept.runtime.batch.schema import (  # noqa: E402
    ModelInfo,
    SongRows,
    error_rows,
    songs_schema,
    windows_schema,
)
from audioconcept.runtime.batch.store import ResultStore, read_table  # noqa: E402

INFO = ModelInfo("m", "ab" * 32, "cnn", "onnx", "cpu")


def _ok(i: int, n_windows: int = 2) -> SongRows:
    ref = SongRef(f"/music/{i}.wav", 100 + i, 7, f"{i:020d}")
    song = error_rows(ref, "x", INFO).song | {
        "status": "ok",
        "error": None,
        "duration_s": 30.0,
        "n_windows": n_windows,
        "genre": "rock",
        "genre_probability": 0.5,
        "genres": [{"label": "rock", "probability": 0.5}],
        "concepts": [{"name": "drums", "strength": 0.9, "present": True, "borderline": False}],
        "concept_spans": [{"concept": "drums", "start_s": 0.0, "end_s": 3.0, "strength": 0.9}],
        "analysed_at": datetime.now(timezone.utc),
        "elapsed_ms": 1.0,
    }
    windows = [
        {
            "song_id": ref.song_id,
            "path": ref.path,
            "window": k,
            "start_s": 0.0,
            "end_s": 29.1,
            "genre": "rock",
            "probability": 0.5,
            "probabilities": [{"label": "rock", "probability": 0.5}],
            "concepts": [],
        }
        for k in range(n_windows)
    ]
    return SongRows(song, windows)


def test_parts_read_back_with_the_documented_schema(tmp_path):
    with ResultStore(tmp_path / "out", INFO, part_songs=2) as st:
        for i in range(5):
            st.add(_ok(i))
        st.add(error_rows(SongRef("/music/bad.mp3", 3, 1, "f" * 20), "bad.mp3: not decodable\nsecond line", INFO))
    songs, windows = read_table(tmp_path / "out", "songs"), read_table(tmp_path / "out", "windows")
    assert songs.schema.equals(songs_schema()) and windows.schema.equals(windows_schema())
    assert songs.num_rows == 6 and windows.num_rows == 10
    assert len(list((tmp_path / "out" / "songs").glob("part-*.parquet"))) == 3  # 2 + 2 + (1 ok + 1 error)
    bad = [r for r in songs.to_pylist() if r["status"] == "error"]
    assert bad[0]["error"] == "bad.mp3: not decodable" and bad[0]["genres"] == []
    # a plain reader (no audioconcept) sees the same columns
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "out" / "songs").num_rows == 6


def test_a_kill_between_the_two_renames_leaves_nothing_behind(tmp_path):
    out = tmp_path / "out"
    with ResultStore(out, INFO, part_songs=10) as st:
        st.add(_ok(0))
    # what a run killed mid-commit leaves: a windows part whose songs part never landed, and a temporary file
    (out / "windows" / "part-x-000001.parquet").write_bytes((next((out / "windows").glob("part-*"))).read_bytes())
    (out / "songs" / ".part-x-000002.parquet.123.tmp").write_bytes(b"partial")
    with ResultStore(out, INFO) as st:
        assert set(st.done()) == {f"{0:020d}"}
    assert not (out / "windows" / "part-x-000001.parquet").exists()
    assert not list((out / "songs").glob(".part-*"))
    assert read_table(out, "windows").num_rows == 2


def test_one_writer_at_a_time_and_one_model_per_folder(tmp_path):
    out = tmp_path / "out"
    with ResultStore(out, INFO), pytest.raises(BatchError, match="another batch run"):
        ResultStore(out, INFO)
    other = ModelInfo("m2", "cd" * 32, "cnn")
    with pytest.raises(BatchError, match="holds results of model m"):
        ResultStore(out, other)
    (tmp_path / "file").write_text("x")
    with pytest.raises(BatchError, match="not a folder"):
        ResultStore(tmp_path / "file", INFO)


def test_retrying_errors_replaces_their_rows(tmp_path):
    out = tmp_path / "out"
    bad = SongRef("/music/bad.wav", 3, 1, "e" * 20)
    with ResultStore(out, INFO, part_songs=2) as st:
        st.add(_ok(0))
        st.add(error_rows(bad, "flaky network drive", INFO))
        assert st.done() == {f"{0:020d}": "ok", "e" * 20: "error"}
        assert st.done(retry_errors=True) == {f"{0:020d}": "ok"}
        assert st.drop_errors(["e" * 20]) == 1
        st.add(SongRows(_ok(9).song | {"song_id": "e" * 20, "path": bad.path}, []))
    songs = read_table(out, "songs")
    assert sorted(songs.column("song_id").to_pylist()) == sorted([f"{0:020d}", "e" * 20])
    assert set(songs.column("status").to_pylist()) == {"ok"}


@pytest.mark.parametrize("table", ["songs", "windows"])
def test_a_corrupted_part_is_set_aside_and_its_songs_are_analysed_again(tmp_path, caplog, table):
    with ResultStore(tmp_path, INFO, part_songs=2) as s:
        for i in range(4):
            s.add(_ok(i))
    parts = sorted((tmp_path / table).glob("part-*.parquet"))
    assert len(parts) == 2
    bad = parts[0]
    bad.write_bytes(bad.read_bytes()[: len(bad.read_bytes()) // 2] + b"garbage")  # truncated, then junk
    with caplog.at_level("WARNING"), ResultStore(tmp_path, INFO) as s:
        done = s.done()
    assert len(done) == 2  # the two songs of the bad part are not done: the next run analyses them again
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "unreadable part" in warnings[0].getMessage()
    assert (tmp_path / "set-aside" / "songs" / bad.name).exists()
    assert (tmp_path / "set-aside" / "windows" / bad.name).exists()
    assert read_table(tmp_path).num_rows == 2 and read_table(tmp_path, "windows").num_rows == 4
