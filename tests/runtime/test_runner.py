"""Many songs in one call: inputs expand in order, and one bad song never stops the rest."""

from __future__ import annotations

from pathlib import Path

from audioconcept.errors import UndecodableAudio
from audioconcept.runtime.runner import expand_inputs, run_files


def test_expand_folders_globs_and_files_in_order(tmp_path, wav_file):
    (tmp_path / "lib" / "sub").mkdir(parents=True)
    a = wav_file(1.0, name="lib/b.wav")
    b = wav_file(1.0, name="lib/sub/a.flac")
    (tmp_path / "lib" / "notes.txt").write_text("not audio")
    (tmp_path / "empty").mkdir()
    files, errors = expand_inputs(
        [str(tmp_path / "lib"), str(tmp_path / "lib" / "*.wav"), str(tmp_path / "empty"), str(tmp_path / "*.ogg")]
    )
    assert files == [a, b, a]
    assert [e[1] for e in errors] == ["folder holds no audio files", "pattern matched no files"]
    assert expand_inputs(["missing.wav"]) == ([Path("missing.wav")], [])  # decoding says why, per song


def test_run_files_keeps_going_and_counts_failures():
    seen, errors = [], []

    def predict(p: Path):
        if p.name == "bad.wav":
            raise UndecodableAudio(f"{p}: decoding failed")
        return p.name

    results, failed = run_files(
        predict, [Path("a.wav"), Path("bad.wav"), Path("c.wav")], seen.append, lambda f, why: errors.append(why)
    )
    assert results == ["a.wav", "c.wav"] == seen
    assert failed == 1 and errors == ["bad.wav: decoding failed"]
