import os

import pytest

from audioconcept.runtime.batch.inputs import SongRef, song_id, walk_library


def _touch(p, data=b"RIFF"):
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def test_folders_are_walked_recursively_and_non_audio_is_left_out(tmp_path):
    a = _touch(tmp_path / "lib" / "x" / "b.flac")
    b = _touch(tmp_path / "lib" / "a.wav")
    _touch(tmp_path / "lib" / "cover.jpg")
    lib = walk_library([str(tmp_path / "lib")])
    assert [s.path for s in lib.songs] == sorted([str(a), str(b)])
    assert lib.problems == []


def test_text_and_parquet_lists(tmp_path):
    a = _touch(tmp_path / "music" / "a.wav")
    b = _touch(tmp_path / "music" / "b.mp3")
    lst = tmp_path / "songs.m3u"
    lst.write_text(f"#EXTM3U\n\nmusic/a.wav\n{b}\nmusic/missing.ogg\n")
    lib = walk_library([str(lst)])
    assert [s.path for s in lib.songs] == [str(a), str(b), str(tmp_path / "music" / "missing.ogg")]
    missing = lib.songs[2]
    assert missing.size_bytes == -1 and missing.mtime_ns == 0  # becomes an error row, not a crash

    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"path": ["music/a.wav", str(b)], "other": [1, 2]}), tmp_path / "list.parquet")
    assert [s.path for s in walk_library([str(tmp_path / "list.parquet")]).songs] == [str(a), str(b)]
    pq.write_table(pa.table({"file": ["x"]}), tmp_path / "bad.parquet")
    from audioconcept.errors import DataSpecError

    with pytest.raises(DataSpecError, match="'path' column"):
        walk_library([str(tmp_path / "bad.parquet")])


def test_a_song_listed_twice_is_analysed_once_and_empty_inputs_are_reported(tmp_path):
    a = _touch(tmp_path / "lib" / "a.wav")
    _touch(tmp_path / "empty" / "notes.txt")
    lib = walk_library([str(tmp_path / "lib"), str(a), str(tmp_path / "lib" / "*.wav"), str(tmp_path / "empty")])
    assert [s.path for s in lib.songs] == [str(a)]
    assert lib.problems == [(str(tmp_path / "empty"), "folder holds no audio files")]


def test_song_id_is_path_size_and_mtime(tmp_path, monkeypatch):
    p = _touch(tmp_path / "a.wav")
    r1 = SongRef.of(p)
    monkeypatch.chdir(tmp_path)
    assert SongRef.of("a.wav") == r1  # relative or absolute, the same song
    assert r1.song_id == song_id(str(p), r1.size_bytes, r1.mtime_ns) and len(r1.song_id) == 20
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    r2 = SongRef.of(p)
    assert r2.song_id != r1.song_id  # a changed file is analysed again
    p.write_bytes(b"RIFF----")
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert SongRef.of(p).song_id not in (r1.song_id, r2.song_id)
