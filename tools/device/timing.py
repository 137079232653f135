"""Median wall-clock milliseconds of a call, after warm-up (shared by the device scripts)."""

from __future__ import annotations

import time

import numpy as np


def median_ms(fn, warmup: int = 5, repeats: int = 50) -> float:
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return round(float(np.median(ts)) * 1e3, 4)
