import json

import numpy as np
import pytest
import soundfile as sf

from audioconcept import GTZAN_GENRES
from audioconcept.data.folder import load_folder, stratified_split
from audioconcept.data.gtzan import load_gtzan, split_list
from audioconcept.data.spec import parse_data_spec
from audioconcept.errors import DataSpecError


def test_split_lists_integrity():
    lists = {s: split_list(s) for s in ("train", "valid", "test")}
    assert {s: len(v) for s, v in lists.items()} == {"train": 443, "valid": 197, "test": 290}
    all_names = [n for v in lists.values() for n in v]
    assert len(all_names) == len(set(all_names)), "splits overlap"
    for name in all_names:
        genre, file = name.split("/")
        assert genre in GTZAN_GENRES
        assert file.startswith(genre + ".000") and file.endswith(".wav")
        assert 0 <= int(file.split(".")[1]) <= 99
    assert "jazz/jazz.00054.wav" in lists["train"]


def _make_tree(root, names, corrupt=("jazz/jazz.00054.wav",), sub="genres"):
    for name in names:
        p = root / sub / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if name in corrupt:
            p.write_bytes(b"RIFF\x00\x00\x00\x00WAVEgarbage" + bytes(100))
        else:
            sf.write(p, np.zeros(2205, np.float32) + 0.01, 22050)


@pytest.mark.parametrize("sub", ["genres", "genres_original"])
def test_gtzan_loader_skips_corrupted_file(tmp_path, sub, caplog):
    names = [
        n
        for s in ("train", "valid", "test")
        for n in split_list(s)
        if n.split(".")[1] in ("00054", "00055") or n.startswith("blues/blues.0003")
    ]
    _make_tree(tmp_path, names, sub=sub)
    tl = load_gtzan(tmp_path)
    paths = {str(t.path) for t in tl.tracks}
    assert not any(p.endswith("jazz.00054.wav") for p in paths)
    assert len(tl.skipped) == 1 and "jazz.00054.wav" in tl.skipped[0][0]
    assert len(tl.tracks) == len(names) - 1
    summary = tl.summary()
    assert summary["skipped_unreadable"][0]["path"].endswith("jazz.00054.wav")
    assert sum(summary["tracks"].values()) == len(names) - 1
    assert summary["missing_from_split_lists"] == 930 - len(names)
    assert "unreadable" in caplog.text


def test_gtzan_errors(tmp_path):
    with pytest.raises(DataSpecError):
        load_gtzan(tmp_path)
    (tmp_path / "genres" / "blues").mkdir(parents=True)
    with pytest.raises(DataSpecError, match="none of the files"):
        load_gtzan(tmp_path)


def test_stratified_split_properties():
    for n in range(3, 40):
        s = stratified_split(n, seed=n)
        assert set(s) == {"train", "valid", "test"}
        assert s == stratified_split(n, seed=n)
        assert s.count("train") >= s.count("test")


def test_folder_dataset(tmp_path):
    for lab in ("a", "b"):
        for i in range(10):
            p = tmp_path / lab / f"{i}.wav"
            p.parent.mkdir(exist_ok=True)
            sf.write(p, np.zeros(100, np.float32) + 0.1, 22050)
    (tmp_path / "a" / "notes.txt").write_text("ignored")
    tl = load_folder(tmp_path, seed=1)
    assert tl.labels == ("a", "b") and len(tl.tracks) == 20
    for split in ("train", "valid", "test"):
        assert {t.label for t in tl.split(split)} == {"a", "b"}


def test_data_spec_parsing(tmp_path):
    assert parse_data_spec(f"gtzan:{tmp_path}").kind == "gtzan"
    for bad in ("nope", f"wav:{tmp_path}", "gtzan:", "gtzan:/does/not/exist"):
        with pytest.raises(DataSpecError):
            parse_data_spec(bad)


def test_synth_tree_is_gtzan_layout(tiny_synth):
    truth = json.loads((tiny_synth / "ground_truth.json").read_text())
    assert len(truth["clips"]) == 60
    for c in truth["clips"]:
        g = c["genre"]
        assert c["path"].startswith(f"{g}/{g}.000") and (tiny_synth / "genres" / c["path"]).exists()
