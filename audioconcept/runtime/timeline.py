"""Concept timelines: frame-level concept probabilities of overlapping windows -> spans in seconds."""

from __future__ import annotations

import numpy as np

from audioconcept.runtime.result import ConceptSpan


def frames_to_grid(
    windows: list[tuple[float, float, np.ndarray]], duration: float, resolution: float
) -> tuple[np.ndarray, np.ndarray]:
    """Average (K, T) frame probabilities of windows [start, end) onto a common time grid.

    -> (grid centre times (G,), probabilities (K, G)); NaN where no window covers the grid cell.
    """
    if not windows:
        return np.zeros(0), np.zeros((0, 0))
    k = windows[0][2].shape[0]
    g = max(1, int(np.ceil(duration / resolution)))
    acc = np.zeros((k, g))
    cnt = np.zeros(g)
    centres = (np.arange(g) + 0.5) * resolution
    for start, end, frames in windows:
        t = frames.shape[-1]
        edges = start + (end - start) * np.arange(t + 1) / t
        idx = np.clip(np.searchsorted(edges, centres, side="right") - 1, 0, t - 1)
        inside = (centres >= start) & (centres < min(end, duration + 1e-9))
        acc[:, inside] += frames[:, idx[inside]]
        cnt[inside] += 1
    with np.errstate(invalid="ignore"):
        probs = acc / cnt[None, :]
    probs[:, cnt == 0] = np.nan
    return centres, probs


def smooth_grid(probs: np.ndarray, resolution: float, seconds: float = 4.0) -> np.ndarray:
    """Moving average over `seconds` along time (NaN-aware): frame-level CAV scores are noisy,
    concepts in music last for bars, not frames. NaN cells stay NaN and count for nothing."""
    k = max(1, int(round(seconds / resolution)))
    if k == 1 or probs.size == 0:
        return probs
    valid = np.isfinite(probs)
    x = np.where(valid, probs, 0.0)
    kernel = np.ones(k)
    n = probs.shape[-1]
    lo = (k - 1) // 2

    def moving_sum(r: np.ndarray) -> np.ndarray:
        # the centred part of the full convolution: np.convolve(mode="same") returns max(n, k) values,
        # so a grid shorter than the kernel (a song shorter than `seconds`) would come back too long
        return np.convolve(r, kernel, mode="full")[lo : lo + n]

    num = np.apply_along_axis(moving_sum, -1, x)
    den = np.apply_along_axis(moving_sum, -1, valid.astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    out[~valid] = np.nan
    return out


def smoothing_s(frame_s: float, seconds: float) -> float:
    """How long the timeline smooths over: `seconds`, where that spans 1.5 frames or more (a frame lasts a window's
    length over its frames); 0 (none) for a bundle whose one frame per window lasts most of `seconds` (musicnn: one
    3 s value per window), which is already as smooth as a window."""
    return 0.0 if seconds / max(frame_s, 1e-9) < 1.5 else seconds


def vote_grid(on: np.ndarray, valid: np.ndarray, resolution: float, seconds: float) -> np.ndarray:
    """(K, G) presence per grid cell -> (K, G) presence that holds in more than half of the covered cells of the
    `seconds` around each cell (smooth_grid's window).

    The rule is applied to each cell's own value first and smoothed afterwards: a threshold chosen on window values
    (0.02 for one probe, 0.999 for another) does not carry over to a moving average of them, which would spread a
    low-threshold concept over its neighbours and erase a high-threshold one. A strict majority keeps opposite
    concepts apart: two concepts never present in the same cell can never both hold more than half of a window."""
    x = np.where(np.asarray(valid, dtype=bool)[None, :], np.asarray(on, dtype=float), np.nan)
    return np.nan_to_num(smooth_grid(x, resolution, seconds), nan=0.0) > 0.5


def spans_from_grid(
    names: list[str],
    centres: np.ndarray,
    probs: np.ndarray,
    resolution: float,
    thresholds: list[float] | float = 0.5,
    min_len: float = 0.0,
    max_gap: float = 0.0,
    duration: float | None = None,
    on: np.ndarray | None = None,
) -> list[ConceptSpan]:
    """Contiguous above-threshold regions per concept, gaps up to `max_gap` s bridged; ends are
    clipped to `duration` (the last grid cell may reach past the song's end). `on` (K, G), where given, says
    which cells are present instead of the thresholds (runtime.opposites: an opposite concept may silence a cell)."""
    out: list[ConceptSpan] = []
    thr = thresholds if isinstance(thresholds, list) else [thresholds] * len(names)
    for i, name in enumerate(names):
        cells = np.nan_to_num(probs[i], nan=0.0) >= thr[i] if on is None else on[i]
        runs: list[list[int]] = []
        for j in np.flatnonzero(cells):
            if runs and (j - runs[-1][1]) * resolution <= max_gap + resolution + 1e-9:
                runs[-1][1] = j
            else:
                runs.append([j, j])
        for a, b in runs:
            start, end = centres[a] - resolution / 2, centres[b] + resolution / 2
            if duration is not None:
                end = min(end, duration)
            if end - start >= min_len:
                out.append(
                    ConceptSpan(
                        name,
                        round(float(start), 3),
                        round(float(end), 3),
                        round(float(np.nanmean(probs[i, a : b + 1])), 4),
                    )
                )
    return out


def spans_from_windows(
    names: list[str],
    windows: list[tuple[float, float, np.ndarray, np.ndarray]],
    wanted: list[str],
    max_gap: float = 0.0,
    duration: float | None = None,
) -> list[ConceptSpan]:
    """Spans at window resolution for the concepts in `wanted`: the windows (start, end, present (K,), strength (K,))
    where each is present, merged where they overlap or lie within `max_gap` s. For a concept present in a window
    whose frames never cross its threshold (a window-level tag): it is present, so it is somewhere."""
    out: list[ConceptSpan] = []
    for k, name in enumerate(names):
        if name not in wanted:
            continue
        runs: list[list] = []
        for start, end, _on, value in sorted((w for w in windows if w[2][k]), key=lambda w: w[0]):
            if runs and start <= runs[-1][1] + max_gap + 1e-9:
                runs[-1][1] = max(runs[-1][1], end)
                runs[-1][2].append(float(value[k]))
            else:
                runs.append([start, end, [float(value[k])]])
        for start, end, values in runs:
            end = min(end, duration) if duration is not None else end
            strength = round(float(np.mean(values)), 4)
            out.append(ConceptSpan(name, round(float(start), 3), round(float(end), 3), strength))
    return out


def clip_span(span: ConceptSpan, others: list[ConceptSpan]) -> list[ConceptSpan]:
    """`span` less the time the `others` cover (0, 1 or more pieces, in order; slivers under 10 ms dropped)."""
    pieces = [(span.start, span.end)]
    for o in others:
        pieces = [p for a, b in pieces for p in ((a, min(b, o.start)), (max(a, o.end), b)) if p[1] - p[0] > 0.01]
    return [ConceptSpan(span.concept, round(a, 3), round(b, 3), span.strength) for a, b in sorted(pieces)]
