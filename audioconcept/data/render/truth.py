"""Per-window truth from note intervals: a concept is active in a window when one of its notes overlaps it."""

from __future__ import annotations

import numpy as np

from audioconcept.data.audio import window_starts

# the windows musicnn-gtzan sees (its bundle manifest: 16 kHz, window_s 2.976, hop_s 2.992);
# tests/data/test_render_truth.py checks them against the shipped manifest
MODEL_SR = 16000
MODEL_WINDOW = 47616
MODEL_HOP = 47872

PRESENT, ABSENT, UNCERTAIN = 1, 0, -1


def merge_intervals(intervals: np.ndarray) -> np.ndarray:
    """(n, 2) [start, end] intervals, sorted and merged where they overlap or touch."""
    iv = np.asarray(intervals, dtype=np.float64).reshape(-1, 2)
    iv = iv[iv[:, 1] > iv[:, 0]]
    if iv.size == 0:
        return np.zeros((0, 2))
    iv = iv[np.argsort(iv[:, 0], kind="stable")]
    out = [list(iv[0])]
    for s, e in iv[1:]:
        if s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return np.asarray(out)


def overlaps(intervals: np.ndarray, t0: float, t1: float) -> bool:
    """True when some interval [s, e] meets the window [t0, t1) in more than a point: s < t1 and e > t0."""
    iv = np.asarray(intervals).reshape(-1, 2)
    return bool(np.any((iv[:, 0] < t1) & (iv[:, 1] > t0)))


def coverage(intervals: np.ndarray, t0: float, t1: float) -> float:
    """Seconds of [t0, t1) covered by the merged intervals."""
    iv = merge_intervals(intervals)
    if iv.size == 0:
        return 0.0
    return float(np.clip(np.minimum(iv[:, 1], t1) - np.maximum(iv[:, 0], t0), 0.0, None).sum())


def model_windows(n_samples_16k: int) -> list[tuple[int, float, float]]:
    """(start sample at 16 kHz, start s, end s) of each window the default model cuts from a song of that length."""
    return [
        (s, s / MODEL_SR, (s + MODEL_WINDOW) / MODEL_SR) for s in window_starts(n_samples_16k, MODEL_WINDOW, MODEL_HOP)
    ]


def state(value: float, present_at: float, absent_at: float) -> int:
    """1 at or beyond `present_at`, 0 at or beyond `absent_at` on the other side, -1 in the band between
    (either threshold may be the larger: `present_at` > `absent_at` means "high is present")."""
    if not np.isfinite(value):
        return UNCERTAIN
    if present_at >= absent_at:
        return PRESENT if value >= present_at else ABSENT if value <= absent_at else UNCERTAIN
    return PRESENT if value <= present_at else ABSENT if value >= absent_at else UNCERTAIN


def instrument_states(stems: list[dict], has_background: bool, t0: float, t1: float) -> dict[str, tuple[int, float]]:
    """concept -> (state, seconds covered) in the window [t0, t1), from stems given as
    {"concepts": [...], "uncertain": [...], "intervals": [[start, end], ...]} (a render's notes/*.json).

    Present when a note of the concept overlaps the window; uncertain when none does but a stem of an ambiguous
    program plays there, or a real background (whose instruments are unknown) lies under the render."""
    from audioconcept.data.render.gm import INSTRUMENT_CONCEPTS

    out = {}
    for c in INSTRUMENT_CONCEPTS:
        iv = [np.asarray(s["intervals"]).reshape(-1, 2) for s in stems if c in s["concepts"]]
        cov = coverage(np.concatenate(iv), t0, t1) if iv else 0.0
        unc = [np.asarray(s["intervals"]).reshape(-1, 2) for s in stems if c in s.get("uncertain", ())]
        if cov > 0:
            st = PRESENT
        elif has_background or any(overlaps(u, t0, t1) for u in unc):
            st = UNCERTAIN
        else:
            st = ABSENT
        out[c] = (st, cov)
    return out


def record_windows(record: dict, window_s: float, hop_s: float, sr: int = 22050) -> list[dict]:
    """Instrument truth of a render (its notes/*.json) on other windows, e.g. the CNN's 29.1 s at 22 050 Hz:
    [{"start_s", "end_s", concept: state, "cover_<concept>": seconds}, ...], windows cut like the runtime's."""
    from audioconcept.data.render.gm import stem_truth

    n = int(round(record["seconds"] * sr))
    window, hop = int(round(window_s * sr)), int(round(hop_s * sr))
    stems = [stem_truth(st) for st in record["stems"]]
    rows = []
    for s in window_starts(n, window, hop):
        t0, t1 = s / sr, (s + window) / sr
        row: dict = {"start_s": round(t0, 4), "end_s": round(t1, 4)}
        for c, (st, cov) in instrument_states(stems, record.get("background") is not None, t0, t1).items():
            row[c] = st
            row[f"cover_{c}"] = round(cov, 4)
        rows.append(row)
    return rows
