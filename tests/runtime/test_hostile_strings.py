"""Strings a file supplies (a manifest's name, labels and concept names, a file name) reach the terminal without
control characters or escape sequences (issue 27): in the table, in CSV, and in one-line errors."""

import json
import shutil

import pytest
import soundfile as sf

from audioconcept import SAMPLE_RATE
from audioconcept.runtime.registry import packaged_bundles
from audioconcept.utils import printable
from tests.conftest import tone

SVM = packaged_bundles()["svm-gtzan"]
ESC = "\x1b[2J\x1b]0;pwned\x07\x1b[31m"
IN_NAME = "\x1b]0;pwned\x07\x1bc\r"  # no '[' in a file name: the runner would take it for a glob


def test_printable_drops_escape_sequences_and_control_characters():
    assert printable(f"jazz{ESC}\r\x9b\x00!") == "jazz!"
    assert printable("a\tb\nc") == "a b c"
    assert printable("Beyoncé — ♪") == "Beyoncé — ♪"


@pytest.fixture
def hostile_bundle(tmp_path):
    b = tmp_path / "b"
    shutil.copytree(SVM, b)
    m = json.loads((b / "manifest.json").read_text())
    m["name"] = f"evil{ESC}"
    m["trained_on"] = f"x{ESC}"
    m["labels"] = [f"{lab}{ESC}[red]" for lab in m["labels"]]
    (b / "manifest.json").write_text(json.dumps(m))
    return b


@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_manifest_strings_reach_the_terminal_clean(capsys, tmp_path, hostile_bundle, fmt):
    from audioconcept.cli_run import main

    song = tmp_path / f"song{IN_NAME}.wav"
    sf.write(song, tone(3.0), SAMPLE_RATE)
    missing = tmp_path / f"gone{IN_NAME}.wav"
    with pytest.raises(SystemExit):
        main([str(song), str(missing), "--model", str(hostile_bundle), "--format", fmt])
    out = capsys.readouterr()
    for stream in (out.out, out.err):
        assert "\x1b" not in stream and "\x07" not in stream, repr(stream[:500])
    assert "evil" in out.err and "gone" in out.err  # the model line and the error line, cleaned
    assert "[red]" in out.out  # rich markup in a label is shown as text, not applied
