"""One hour streamed (generated, faster than real time) through the default model: memory stays flat.

Run in a fresh process so that nothing else the test session allocated hides growth. The resident set is read after
every window; the first tenth of the stream (the model's arenas, the first windows' allocations) is the warm-up, and
both the resident set and the peak (VmHWM) may not grow from there to the end. A leak of one window's samples
per window (musicnn: 190 kB x 60 windows) would show as 10 MB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, resource, sys
import numpy as np
from audioconcept.runtime.model import load
from audioconcept.runtime.stream import LiveWindow

SECONDS, RATE, HOP = 3600, 44100, 60.0

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20

def peak_mb():
    # VmHWM, not ru_maxrss: on Linux ru_maxrss survives exec and would hold the pytest parent's peak
    with open("/proc/self/status") as f:
        return int(f.read().split("VmHWM:")[1].split()[0]) / 1024

def blocks(block=11025):
    # 7.3 s of a gliding tone plus noise, looped with a changing gain: 44.1 kHz stereo, so the resampler works too
    i = np.arange(int(7.3 * RATE))
    x = 0.3 * np.sin(2 * np.pi * (220 + 200 * np.sin(i / RATE / 2)) * i / RATE)
    x += 0.05 * np.random.default_rng(0).standard_normal(i.size)
    loop = np.stack([x, 0.5 * x], 1).astype(np.float32)  # not x, -x: their mono mix is silence (runtime.silence)
    t = 0
    while t < SECONDS * RATE:
        n = min(block, SECONDS * RATE - t)
        a = t % (loop.shape[0] - n)
        yield loop[a : a + n] * np.float32(0.5 + 0.05 * ((t // RATE) % 11))
        t += n

m = load("musicnn-gtzan", threads=1)
marks = []
stream = m.stream(blocks(), RATE, 2, hop_s=HOP, history=8)
for item in stream:
    if isinstance(item, LiveWindow):
        marks.append((item.end, rss_mb(), peak_mb()))
    else:
        summary = item
marks.append((summary.heard_s, rss_mb(), peak_mb()))
print(json.dumps({"marks": marks, "windows": summary.windows, "heard_s": summary.heard_s,
                  "rows_kept": len(summary.result.windows)}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads the resident set from Linux /proc")
def test_an_hour_streams_with_flat_memory():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.splitlines()[-1])
    assert res["heard_s"] == pytest.approx(3600.0)
    assert res["windows"] == 61 and res["rows_kept"] == 8
    marks = res["marks"]
    warm = next(m for m in marks if m[0] >= 360)  # after the first tenth
    end = marks[-1]
    assert end[1] - warm[1] < 3.0, f"resident set grew from {warm[1]:.1f} MB at {warm[0]:.0f} s to {end[1]:.1f} MB"
    assert end[2] - warm[2] < 3.0, f"peak grew from {warm[2]:.1f} MB at {warm[0]:.0f} s to {end[2]:.1f} MB"
