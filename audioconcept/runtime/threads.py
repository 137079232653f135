"""How many threads the runtime uses for what, on this host (torch-free).

The CPU path alternates two phases per batch: the numpy front end (FFT, GIL released, split into blocks) and
the ONNX body. Both get the same thread count. onnxruntime's intra-op threads spin between runs by default;
that steals the cores the front end needs next, so spinning is off when the numpy front end feeds the graph
(measured in `audioconcept bench`; `AUDIOCONCEPT_ORT_SPIN=1` turns it back on).
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def usable_cores() -> int:
    """Cores this process may run on (affinity and cgroup-pinned CPU sets respected where the OS says)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ThreadPlan:
    intra_op: int  # onnxruntime intra-op threads
    frontend: int  # numpy front-end blocks computed at once
    spinning: bool  # onnxruntime's intra-op threads busy-wait between runs


def plan_threads(requested: int, numpy_frontend: bool) -> ThreadPlan:
    """`requested` 0: every usable core."""
    n = requested if requested > 0 else usable_cores()
    spin = os.environ.get("AUDIOCONCEPT_ORT_SPIN")
    spinning = spin == "1" if spin in ("0", "1") else not numpy_frontend
    return ThreadPlan(intra_op=n, frontend=n if numpy_frontend else 1, spinning=spinning)
