"""libmpg123's notes about frames it conceals stay off the terminal; every other line on the C stderr still shows."""

import subprocess
import sys
import textwrap

import pytest

NOTE = "part2_3_length"


def _stderr(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True, timeout=120
    )


MAKE_MP3 = """
    import sys
    import numpy as np, soundfile as sf
    rng = np.random.default_rng(0)
    sf.write(sys.argv[1], (rng.standard_normal(22050 * 12) * 0.3).astype("float32"), 22050, format="MP3")
"""


def test_an_mp3_streams_without_libmpg123_notes(tmp_path):
    mp3 = str(tmp_path / "noise.mp3")
    made = _stderr(MAKE_MP3, mp3)
    if made.returncode:
        pytest.skip(f"this libsndfile cannot write MP3: {made.stderr.strip()[-200:]}")
    raw = _stderr(
        """
        import sys, soundfile as sf
        with sf.SoundFile(sys.argv[1]) as f:
            while len(f.read(4096)):
                pass
        """,
        mp3,
    )
    if NOTE not in raw.stderr:
        pytest.skip("this libmpg123 conceals the frames of this MP3 silently")
    ours = _stderr(
        """
        import sys
        from audioconcept.data.audio import iter_windows, load_audio
        n = sum(1 for _ in iter_windows(sys.argv[1], 3.0, sr=16000, block_seconds=4096 / 22050))
        x = load_audio(sys.argv[1], sr=16000)
        print(n, x.size)
        """,
        mp3,
    )
    assert ours.returncode == 0, ours.stderr
    assert NOTE not in ours.stderr and ours.stdout.split()[0] == "4"


def test_other_lines_on_the_c_stderr_still_show():
    r = _stderr(
        """
        import os, threading
        from audioconcept.data.decoder_noise import quiet_decoder

        def decode(i):
            with quiet_decoder():
                os.write(2, f"real error {i}\\n".encode())
                os.write(2, b"[src/libmpg123/layer3.c:INT123_do_layer3():1774] error: part2_3_length (1024) "
                            b"too large for available bit count (936)\\n")

        threads = [threading.Thread(target=decode, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with quiet_decoder():
            with quiet_decoder():
                os.write(2, b"nested error\\n")
        os.write(2, b"after\\n")
        """
    )
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert sorted(x for x in lines if x.startswith("real error")) == [f"real error {i}" for i in range(4)]
    assert "nested error" in lines and lines[-1] == "after" and NOTE not in r.stderr
