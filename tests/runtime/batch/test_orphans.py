"""kill -9 of `audioconcept batch --engine local` leaves no worker and no resource tracker alive (issue 27):
the workers die with their parent (prctl PR_SET_PDEATHSIG on Linux, a parent-PID watchdog everywhere)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@pytest.mark.slow
def test_kill_9_of_a_local_batch_leaves_no_orphan(tmp_path, library):
    pytest.importorskip("pyarrow")
    root, _, _ = library
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    cmd = [sys.executable, "-c", "from audioconcept.cli import main; main()", "batch", str(root)]
    cmd += ["--model", "svm-gtzan", "--out", str(tmp_path / "out"), "--workers", "2", "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tracked: list[int] = []
    try:
        workers: list[int] = []
        for _ in range(600):  # at most 60 s for the pool to start
            kids = _children(proc.pid)
            workers = [k for k in kids if "multiprocessing" in _cmdline(k)]
            if sum("spawn_main" in _cmdline(k) for k in workers) >= 2 or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the batch ended before its workers could be seen"
        assert sum("spawn_main" in _cmdline(k) for k in workers) >= 2, [_cmdline(k) for k in workers]
        tracked = _children(proc.pid)  # workers and the resource tracker
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(k) for k in tracked):
            time.sleep(0.2)
        left = [(k, _cmdline(k)) for k in tracked if _alive(k)]
        assert not left, left
    finally:
        if proc.poll() is None:
            proc.kill()
        for k in tracked:  # what this test started is not left behind when it fails
            if _alive(k):
                os.kill(k, signal.SIGKILL)
