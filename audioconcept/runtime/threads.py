"""How many threads the runtime uses for what, on this host (torch-free).

The CPU path alternates two phases per batch: the numpy front end (FFT, GIL released, split into blocks) and
the ONNX body. Both get the thread count asked for (the front end at most FRONTEND_MAX_BLOCKS blocks).
onnxruntime's intra-op threads spin between runs by default; that steals the cores the front end needs next, so
spinning is off when the numpy front end feeds the graph: on a 16-core host the CNN took 16.5 ms per window with
spinning and 7.8 ms without (`AUDIOCONCEPT_ORT_SPIN=1` turns it back on).
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


# More front-end blocks than this cost more in hand-over than they save: a 29.1 s window has 1 254 frames, and on
# a 16-core Xeon its front end took 3.7 ms in 8 blocks against 6.0 ms in 16 (benchmarks/results/h200-20261126).
FRONTEND_MAX_BLOCKS = 8


def plan_threads(requested: int, numpy_frontend: bool) -> ThreadPlan:
    """`requested` 0: every usable core."""
    n = requested if requested > 0 else usable_cores()
    spin = os.environ.get("AUDIOCONCEPT_ORT_SPIN")
    spinning = spin == "1" if spin in ("0", "1") else not numpy_frontend
    return ThreadPlan(intra_op=n, frontend=min(n, FRONTEND_MAX_BLOCKS) if numpy_frontend else 1, spinning=spinning)
