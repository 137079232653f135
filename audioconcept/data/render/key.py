"""Major or minor from the notes: the Krumhansl-Kessler key profiles correlated with the duration-weighted
pitch-class histogram (Krumhansl-Schmuckler), optionally restricted to the two keys of a key signature."""

from __future__ import annotations

import numpy as np

MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def pitch_class_durations(pitches: np.ndarray, durations: np.ndarray) -> np.ndarray:
    hist = np.zeros(12)
    np.add.at(hist, np.asarray(pitches, dtype=int) % 12, np.asarray(durations, dtype=float))
    return hist


def key_correlations(hist: np.ndarray) -> np.ndarray:
    """(2, 12): Pearson correlation of the histogram with the major (row 0) and minor (row 1) profile of each tonic."""
    out = np.zeros((2, 12))
    if not np.any(hist > 0) or np.std(hist) == 0:
        return out
    for m, prof in enumerate((MAJOR_PROFILE, MINOR_PROFILE)):
        for tonic in range(12):
            out[m, tonic] = np.corrcoef(hist, np.roll(prof, tonic))[0, 1]
    return out


def estimate_key(hist: np.ndarray, sharps: int | None = None) -> tuple[int, str, float]:
    """(tonic pitch class, "major" | "minor", correlation). With `sharps` (a key signature, flats negative),
    only its major key and its relative minor compete."""
    corr = key_correlations(hist)
    if sharps is not None:
        major_tonic = (7 * sharps) % 12
        minor_tonic = (major_tonic + 9) % 12
        if corr[0, major_tonic] >= corr[1, minor_tonic]:
            return major_tonic, "major", float(corr[0, major_tonic])
        return minor_tonic, "minor", float(corr[1, minor_tonic])
    m, tonic = np.unravel_index(int(np.argmax(corr)), corr.shape)
    return int(tonic), ("major", "minor")[int(m)], float(corr[m, tonic])
