"""`audioconcept-run --live SOURCE`: a paced pipe, raw PCM, a sound card (a stand-in `sounddevice` module), a file at
real time, Ctrl-C, --on-change, and one-line errors for bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioconcept.data.audio import window_starts

RUN = [sys.executable, "-c", "from audioconcept.cli_run import main; main()"]
PACE = [sys.executable, "-m", "audioconcept.runtime.pace"]
ROOT = Path(__file__).resolve().parents[1]

FAKE_SOUNDDEVICE = textwrap.dedent('''
    """A stand-in for sounddevice: one fake input that plays a tone at 8x real time, then stops."""
    import os, threading, time
    import numpy as np

    class PortAudioError(Exception):
        pass

    DEVICE = {"name": "Fake Mic", "max_input_channels": 2, "default_samplerate": 16000.0}

    def query_devices(device=None, kind=None):
        if device is None and kind is None:
            return "  0 Fake Mic, ALSA (2 in, 0 out)"
        if device in (None, 0, "Fake Mic"):
            return DEVICE
        raise ValueError(f"No input device matching {device!r}")

    class InputStream:
        def __init__(self, samplerate, blocksize, device, channels, dtype, callback):
            self.rate, self.block, self.channels, self.callback = samplerate, blocksize, channels, callback
            self.active = False

        def start(self):
            self.active = True
            threading.Thread(target=self._play, daemon=True).start()

        def _play(self):
            n = int(float(os.environ.get("FAKE_SD_SECONDS", "7")) * self.rate)
            t = np.arange(n) / self.rate
            x = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for i in range(0, n, self.block):
                if not self.active:
                    return
                block = np.repeat(x[i : i + self.block, None], self.channels, axis=1)
                self.callback(block, len(block), None, None)
                time.sleep(len(block) / self.rate / 8)
            self.active = False

        def stop(self):
            self.active = False

        def close(self):
            pass
''')


def env(extra_path: Path | None = None) -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join(p for p in (str(extra_path or ""), str(ROOT), e.get("PYTHONPATH", "")) if p)
    return e


def lines_of(stdout: str) -> list[dict]:
    return [json.loads(ln) for ln in stdout.splitlines() if ln.strip()]


@pytest.fixture(scope="module")
def song(tmp_path_factory, real_excerpt) -> Path:
    """8 s of real music, 22.05 kHz mono PCM."""
    x, sr = sf.read(real_excerpt, dtype="float32")
    p = tmp_path_factory.mktemp("live") / "song.wav"
    sf.write(p, x[: 8 * sr], sr, subtype="PCM_16")
    return p


def musicnn_windows(seconds: float) -> int:
    """Windows musicnn-gtzan cuts from `seconds` of audio (its hop 2.992 s, window 2.976 s, 16 kHz)."""
    return len(window_starts(round(seconds * 16000), round(2.976 * 16000), round(2.992 * 16000)))


def test_a_paced_pipe_prints_a_line_per_window_with_stream_time_and_latency(song):
    pacer = subprocess.Popen([*PACE, str(song), "--speed", "4"], stdout=subprocess.PIPE, env=env())
    r = subprocess.run([*RUN, "--live", "-", "--format", "jsonl"], stdin=pacer.stdout, capture_output=True, text=True,
                       env=env(), timeout=120)  # fmt: skip
    pacer.wait(timeout=10)
    assert r.returncode == 0, r.stderr
    lines = lines_of(r.stdout)
    windows, summary = lines[:-1], lines[-1]
    assert [w["type"] for w in windows] == ["window"] * len(windows)
    assert summary["type"] == "summary" and not summary["interrupted"]
    assert summary["windows"] + summary["skipped"] == musicnn_windows(8.0) == len(windows) + summary["skipped"]
    for w in windows:
        assert w["end"] - w["start"] == pytest.approx(2.976, abs=1e-3)
        assert 0 < w["latency_s"] < 30 and isinstance(w["present"], list) and w["genre"] in w["probabilities"]
    assert windows[-1]["end"] == pytest.approx(8.0, abs=1e-3)
    assert summary["heard_s"] == pytest.approx(8.0, abs=1e-3)
    assert summary["song"]["genres"] and set(summary["latency_s"]) == {"median", "p95", "max"}
    assert 0 < summary["real_time_factor"] < 5 and summary["cpu_s"] > 0


def test_raw_pcm_on_stdin_faster_than_real_time_skips_and_counts(song):
    x, sr = sf.read(song, dtype="int16")
    raw = np.stack([x, x], 1).tobytes()  # 8 s at once: analysis cannot keep up, so windows are skipped
    r = subprocess.run([*RUN, "--live", "-", "--rate", str(sr), "--channels", "2", "--format", "jsonl"], input=raw,
                       capture_output=True, env=env(), timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr.decode()
    lines = lines_of(r.stdout.decode())
    summary = lines[-1]
    assert summary["windows"] == len(lines) - 1 >= 1
    assert summary["windows"] + summary["skipped"] == musicnn_windows(8.0)


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--live", "-"], b"\x13\x37garbage" * 500, "stdin: not a WAV stream"),
        (["--live", "-", "--rate", "5"], b"\0" * 1000, "sample rate 5 Hz is implausible"),
        (["--live", "-", "--rate", "22050"], b"RIFF" + b"\0" * 1000, "starts with a RIFF header, not raw PCM"),
        (["--live", "-", "--rate", "22050", "--pcm", "u8"], b"\0" * 1000, "--pcm 'u8': choose s16, s32, f32"),
        (["--live", "-", "--channels", "2"], b"\0" * 1000, "--channels is for raw PCM, which also needs --rate"),
        (["--live", "no-such-song.flac"], b"", "no-such-song.flac: no such file"),
        (["--live", "-", "--format", "csv"], b"", "--live prints jsonl or table"),
        (["--live", "-", "song.wav"], b"", "give no songs beside it"),
        (["--live", "-", "--realtime"], b"", "--realtime paces a file"),
        (["--live", "-", "--explain"], b"", "do not apply to --live"),
    ],
)
def test_bad_live_input_is_one_line_and_exit_2(args, stdin, message):
    r = subprocess.run([*RUN, *args], input=stdin, capture_output=True, env=env(), timeout=60)
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_a_sound_card_through_sounddevice(tmp_path):
    (tmp_path / "sounddevice.py").write_text(FAKE_SOUNDDEVICE)
    r = subprocess.run([*RUN, "--list-devices"], capture_output=True, text=True, env=env(tmp_path), timeout=60)
    assert r.returncode == 0 and "Fake Mic" in r.stdout
    r = subprocess.run([*RUN, "--live", "device", "--channels", "2", "--format", "jsonl"], capture_output=True,
                       text=True, env=env(tmp_path), timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = lines_of(r.stdout)
    assert lines[-1]["type"] == "summary" and lines[-1]["heard_s"] == pytest.approx(7.0, abs=0.05)
    assert lines[-1]["windows"] + lines[-1]["skipped"] == musicnn_windows(7.0)
    assert "from device (Fake Mic) (16000 Hz, 2 ch)" in r.stderr
    r = subprocess.run([*RUN, "--live", "device:USB Mic"], capture_output=True, text=True, env=env(tmp_path))
    assert r.returncode == 2 and "device:USB Mic: No input device matching 'USB Mic'" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = subprocess.run([*RUN, "--live", "device", "--channels", "4"], capture_output=True, text=True, env=env(tmp_path))
    assert r.returncode == 2 and "has 2 input channels, not 4" in r.stderr


def test_without_the_live_extra_a_sound_card_is_a_one_line_error(tmp_path):
    (tmp_path / "sounddevice.py").write_text("raise ImportError('No module named sounddevice')\n")
    for args in (["--live", "device"], ["--list-devices"]):
        r = subprocess.run([*RUN, *args], capture_output=True, text=True, env=env(tmp_path), timeout=60)
        assert r.returncode == 2 and "pip install 'audioconcept[live]'" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def default_sigint() -> None:
    """In the child: SIGINT back to its default. A shell without job control (`make test &` in a script, as some CI
    runners start jobs) starts its children with SIGINT ignored, and Python then installs no Ctrl-C handler: the
    run would rightly ignore the test's SIGINT and play its whole input."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_ctrl_c_or_kill_prints_the_summary_and_exits_0(song, sig):
    # 40 s of audio: on a loaded machine the first line may come late, and the signal must still come mid-stream
    pacer = subprocess.Popen([*PACE, str(song), "--loop", "5"], stdout=subprocess.PIPE, env=env())
    p = subprocess.Popen([*RUN, "--live", "-", "--format", "jsonl"], stdin=pacer.stdout, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env(), preexec_fn=default_sigint)  # fmt: skip
    first = p.stdout.readline()  # the first window: about 3 s of real time
    assert json.loads(first)["type"] == "window"
    time.sleep(0.2)
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    pacer.kill()
    pacer.wait()
    assert p.returncode == 0, err
    summary = lines_of(out)[-1]
    assert summary["type"] == "summary" and summary["interrupted"]
    assert 3.0 <= summary["heard_s"] < 39.0 and summary["windows"] >= 1


@pytest.mark.slow
def test_a_file_at_real_time_takes_real_time(song, tmp_path):
    x, sr = sf.read(song, dtype="float32")
    short = tmp_path / "short.wav"
    sf.write(short, x[: 4 * sr], sr)
    t = time.perf_counter()
    r = subprocess.run([*RUN, "--live", str(short), "--realtime", "--format", "jsonl"], capture_output=True,
                       text=True, env=env(), timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert time.perf_counter() - t >= 4.0
    lines = lines_of(r.stdout)
    assert lines[-1]["windows"] + lines[-1]["skipped"] == musicnn_windows(4.0)


@pytest.mark.slow
def test_on_change_prints_only_changes_and_a_table_scrolls(song, tmp_path):
    """Music, then silence, then the music again (a file read as fast as it decodes: every window analysed)."""
    x, sr = sf.read(song, dtype="float32")
    y = np.concatenate([x, np.zeros(8 * sr, np.float32), x])
    p = tmp_path / "changes.wav"
    sf.write(p, y, sr)
    r = subprocess.run([*RUN, "--live", str(p), "--format", "jsonl", "--on-change"], capture_output=True, text=True,
                       env=env(), timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = lines_of(r.stdout)
    changes, summary = lines[:-1], lines[-1]
    assert summary["windows"] == musicnn_windows(24.0) and summary["skipped"] == 0
    assert 2 <= len(changes) < summary["windows"]
    assert all(c["type"] == "change" for c in changes) and changes[0]["index"] == 0
    assert any(c["added"] or c["removed"] or c["genre_changed"] for c in changes[1:])
    r = subprocess.run([*RUN, "--live", str(p)], capture_output=True, text=True, env=env(), timeout=120)
    assert r.returncode == 0, r.stderr
    rows = r.stdout.splitlines()
    assert rows[0].split()[:3] == ["start", "end", "genre"] and "ms" in rows[1]
    tail = r.stdout.split("-- song")[-1]  # then the concepts present and the borderline ones, where there are any
    assert len(rows) == 1 + musicnn_windows(24.0) + 2 + ("concepts present" in tail) + ("-- borderline" in tail)
