"""Near silence: a window with no music in it has no genre and no concept to report.

A model still answers on digital silence, dither or a faint hiss: musicnn-gtzan calls it classical because it is
quiet, so a song with a silent intro, a gap or a hidden track had its genres pulled towards classical and its
timeline filled with "classical because quiet" where nothing plays. A window whose level (RMS over every sample the
model sees, in dBFS) is under `SILENCE_DBFS` is marked `silent`: its row keeps what the model said, but it counts in
neither the song's genres, its concepts, their spans, its reasons nor its distance to training. The floor sits 10 dB
under the measured concepts' audibility floor (models.measured_concepts.AUDIBLE_FLOOR_LUFS, -50 LUFS, integrated
over the window), so quiet music (-45 LUFS and up) is never taken for silence. The page computes the same level
(web/site/aggregate.js)."""

from __future__ import annotations

import numpy as np

SILENCE_DBFS = -60.0


def level_dbfs(samples: np.ndarray) -> float:
    """RMS level of `samples` in dB relative to full scale (a full-scale square wave: 0); -inf for digital silence."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        return float("-inf")
    ms = float(np.mean(np.square(x)))
    return 10.0 * np.log10(ms) if ms > 0 else float("-inf")


def is_silent(samples: np.ndarray, floor_dbfs: float = SILENCE_DBFS) -> bool:
    return level_dbfs(samples) < floor_dbfs
