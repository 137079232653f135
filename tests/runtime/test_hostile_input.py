"""Hostile input, second round (issue 27): absurd hops, out-of-range audio, non-finite results, input order of
error entries, a per-song time limit in batch. Each ends in one error line or an error entry, never a hang, a NaN
reported as "ok", or invalid JSON."""

import csv
import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioconcept import SAMPLE_RATE
from audioconcept.data.audio import MAX_WINDOWS_PER_SECOND, iter_windows, windows_from_array
from audioconcept.errors import BundleError, InvalidHop, NonFiniteAudio
from audioconcept.runtime.bundle import read_manifest
from audioconcept.runtime.model import load
from audioconcept.runtime.registry import packaged_bundles
from tests.conftest import tone

BUNDLES = packaged_bundles()
SVM = BUNDLES["svm-gtzan"]


def _strict_json(text: str):
    """json.loads that refuses NaN and Infinity, which are not JSON."""

    def refuse(name):
        raise ValueError(f"{name} in the output")

    return json.loads(text, parse_constant=refuse)


def _run(capsys, *args) -> tuple[int, str, str]:
    from audioconcept.cli_run import main

    with pytest.raises(SystemExit) as e:
        main([*args])
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


@pytest.fixture
def huge(tmp_path) -> Path:
    """Finite float samples of 1e30: the spectrum overflows, every model used to answer NaN with exit 0."""
    p = tmp_path / "huge.wav"
    sf.write(p, (tone(3.0) * 1e30).astype(np.float32), SAMPLE_RATE, subtype="FLOAT")
    return p


@pytest.fixture
def good(tmp_path) -> Path:
    p = tmp_path / "good.wav"
    sf.write(p, tone(3.0), SAMPLE_RATE)
    return p


# ---------------------------------------------------------------- hops


@pytest.mark.parametrize("hop", ["0.000001", "1e-9", "0", "-1", "nan", "inf", "1e6"])
def test_absurd_hop_on_the_command_line_is_one_line(capsys, good, hop):
    t = time.monotonic()
    rc, _, err = _run(capsys, str(good), "--model", "svm-gtzan", f"--hop={hop}")
    assert rc == 2 and "Traceback" not in err and time.monotonic() - t < 30
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "--hop" in lines[0], err


@pytest.mark.parametrize("hop", [1e-9, 0.01, 0.0])
def test_absurd_hop_in_a_manifest_is_refused_by_the_schema(tmp_path, hop):
    import shutil

    b = tmp_path / "b"
    shutil.copytree(SVM, b)
    m = json.loads((b / "manifest.json").read_text())
    m["hop_s"] = hop
    (b / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="hop_s"):
        read_manifest(b)


def test_windows_per_second_of_audio_are_bounded(good):
    x = np.zeros(SAMPLE_RATE * 3, np.float32)
    with pytest.raises(InvalidHop, match="windows per second"):
        windows_from_array(x, 1.0, 1e-6)
    with pytest.raises(InvalidHop):
        next(iter_windows(good, 1.0, 1e-9))
    wins = windows_from_array(x, 1.0, 1.0 / MAX_WINDOWS_PER_SECOND)
    assert len(wins) <= 3 * MAX_WINDOWS_PER_SECOND + 1


def test_batch_song_over_its_time_limit_is_an_error_row(good):
    from audioconcept.runtime.batch.analyse import AnalysisSettings, SongAnalyser
    from audioconcept.runtime.batch.inputs import SongRef
    from audioconcept.runtime.batch.schema import ModelInfo

    a = SongAnalyser(AnalysisSettings(str(SVM), ModelInfo("svm", "0" * 64, "svm"), 22050, song_timeout_s=0.5))

    def stuck(*args, **kw):  # a song that never ends (as a 1e-9 hop did)
        while True:
            time.sleep(0.01)

    a.model.predict = stuck
    t = time.monotonic()
    rows = a.analyse_file(SongRef(str(good), 1, 0, "id"))
    assert time.monotonic() - t < 10
    assert not rows.ok and "per-song limit of 0.5 s" in rows.song["error"]


# ---------------------------------------------------------------- out-of-range audio, non-finite results


@pytest.mark.parametrize("name", sorted(BUNDLES))
def test_float_samples_of_1e30_are_refused_by_every_packaged_model(huge, name):
    with pytest.raises(NonFiniteAudio, match="samples reach 5e\\+29"):
        load(name).predict(huge)


def test_cli_json_never_holds_nan_and_the_song_is_an_error_entry(capsys, huge, good):
    rc, out, err = _run(capsys, str(huge), str(good), "--model", "svm-gtzan", "--format", "json")
    docs = _strict_json(out)
    assert rc == 2 and "Traceback" not in err
    assert [Path(d["path"]).name for d in docs] == ["huge.wav", "good.wav"]
    assert "error" in docs[0] and "genres" in docs[1]


def test_batch_status_of_out_of_range_audio_is_error(huge, good):
    from audioconcept.runtime.batch.analyse import AnalysisSettings, SongAnalyser
    from audioconcept.runtime.batch.inputs import SongRef
    from audioconcept.runtime.batch.schema import ModelInfo

    a = SongAnalyser(AnalysisSettings(str(SVM), ModelInfo("svm", "0" * 64, "svm"), 22050))
    bad = a.analyse_file(SongRef(str(huge), 1, 0, "h"))
    assert not bad.ok and bad.song["status"] == "error" and "samples reach" in bad.song["error"]
    ok = a.analyse_file(SongRef(str(good), 1, 0, "g"))
    assert ok.ok and all(math.isfinite(p) for p in [ok.song.get("probability", 0.0) or 0.0])


def test_a_non_finite_aggregate_is_an_error_not_a_result(good, monkeypatch):
    """A result whose numbers are not finite (made after the model, while aggregating) is refused too."""
    from audioconcept.runtime.aggregate import SongAggregator

    m = load("svm-gtzan")
    real = SongAggregator.result

    def poisoned(self, *a, **k):
        r = real(self, *a, **k)
        r.genres[0] = (r.genres[0][0], float("nan"))
        return r

    monkeypatch.setattr(SongAggregator, "result", poisoned)
    with pytest.raises(BundleError, match="not finite"):
        m.predict(good)


# ---------------------------------------------------------------- input order


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_error_entries_keep_the_input_order(capsys, tmp_path, good, fmt):
    a, c = tmp_path / "a.wav", tmp_path / "c.wav"
    sf.write(a, tone(3.0), SAMPLE_RATE)
    sf.write(c, tone(3.0, 330), SAMPLE_RATE)
    broken = tmp_path / "b.wav"
    broken.write_bytes(b"RIFF0000WAVEjunk")
    items = [str(a), str(broken), str(tmp_path / "nothing*.wav"), str(c), str(tmp_path / "missing.wav")]
    rc, out, _ = _run(capsys, *items, "--model", "svm-gtzan", "--format", fmt)
    assert rc == 2
    if fmt == "json":
        got = [d["path"] for d in _strict_json(out)]
    else:
        got = [r["path"] for r in csv.DictReader(out.strip().splitlines()) if r["window"] in ("song", "error")]
    assert got == items
