"""A batch worker gives the rows `audioconcept-run` gives, whether it streams the file (local engine) or
gets it decoded by a task (Ray engine)."""

import pytest

from audioconcept.runtime.batch.analyse import AnalysisSettings, SongAnalyser, decode
from audioconcept.runtime.batch.inputs import SongRef
from audioconcept.runtime.batch.run import model_info
from audioconcept.runtime.registry import resolve_bundle


@pytest.mark.parametrize("name", ["musicnn-gtzan", "cnn-synth"])
def test_decoded_audio_gives_the_streamed_result(name, shared_clips_dir):
    """musicnn-gtzan frames its windows with 256 samples of context on each side: the decoded path must too."""
    bundle = resolve_bundle(name)
    info, sr = model_info(bundle)
    a = SongAnalyser(AnalysisSettings(str(bundle), info, sr))
    path = str(shared_clips_dir / "metal" / "metal.00007.flac")
    ref = SongRef(path, 1, 0, "0" * 20)
    streamed = a.analyse_file(ref)
    audio, why, _ = decode(path, sr)
    assert why == "" and audio is not None
    decoded = a.analyse_audio(ref, audio)
    got, want = decoded.song, streamed.song
    assert got["status"] == "ok", got["error"]
    for key in ("genre", "n_windows", "duration_s"):
        assert got[key] == want[key], key
    assert [g["label"] for g in got["genres"]] == [g["label"] for g in want["genres"]]
    assert [g["probability"] for g in got["genres"]] == pytest.approx(
        [g["probability"] for g in want["genres"]], abs=1e-5
    )

    def flags(song):
        return {c["name"]: (c["present"], c["borderline"]) for c in song["concepts"]}

    assert flags(got) == flags(want)


def test_a_song_row_says_which_concepts_are_borderline_as_audioconcept_run_does():
    """The songs table's `borderline` flag is the runtime's `concepts_borderline` (the README's reggae excerpt has
    some: male voice and dark sit within their lossy margins)."""
    from pathlib import Path

    from audioconcept.runtime.model import load

    bundle = resolve_bundle("musicnn-gtzan")
    info, sr = model_info(bundle)
    path = str(Path(__file__).resolve().parents[2] / "fixtures" / "reggae.00006.excerpt.flac")
    row = SongAnalyser(AnalysisSettings(str(bundle), info, sr)).analyse_file(SongRef(path, 1, 0, "0" * 20)).song
    want = load(bundle).predict(path)
    assert want.concepts_borderline  # not vacuous
    assert sorted(c["name"] for c in row["concepts"] if c["borderline"]) == sorted(want.concepts_borderline)
    assert {c["name"] for c in row["concepts"] if c["present"]} == set(want.concepts_present)
