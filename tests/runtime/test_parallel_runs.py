"""Parallel CLI runs never crash: 4 `audioconcept-run --model svm-gtzan` processes at once on a fresh
numba cache, 10 rounds (the reported failure: signal 11 in 1 of 16 to 1 of 40 processes; see
audioconcept/models/jit_lock.py for the cause)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioconcept import SAMPLE_RATE

ROUNDS = int(os.environ.get("AUDIOCONCEPT_PARALLEL_ROUNDS", "10"))
PROCESSES = 4


def _command() -> list[str]:
    script = Path(sys.executable).parent / "audioconcept-run"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from audioconcept.cli import run_main; run_main()"]


@pytest.mark.slow
def test_parallel_runs_on_a_fresh_cache_never_crash(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(8 * SAMPLE_RATE) / SAMPLE_RATE
    clip = tmp_path / "song.wav"
    sf.write(
        clip, (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32), SAMPLE_RATE
    )
    repo = str(Path(__file__).resolve().parents[2])
    outputs, failures = set(), []
    for r in range(ROUNDS):
        cache = tmp_path / f"numba-{r}"  # fresh each round: the condition that crashed
        env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONFAULTHANDLER": "1", "PYTHONPATH": repo}
        procs = [
            subprocess.Popen(
                [*_command(), str(clip), "--model", "svm-gtzan", "--format", "json"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(PROCESSES)
        ]
        for p in procs:
            out, err = p.communicate(timeout=900)
            if p.returncode != 0:
                failures.append(f"round {r}: exit {p.returncode}\n{err[-3000:]}")
            else:
                outputs.add(json.dumps(json.loads(out)["genres"]))
        shutil.rmtree(cache, ignore_errors=True)
    assert not failures, "\n".join(failures)
    assert len(outputs) == 1  # and every run gave the same answer
