"""Tuning offset of a recording, in fractions of a chroma bin (librosa.estimate_tuning on a power
spectrogram: parabolic-interpolated spectral peaks between 150 and 4000 Hz, histogram of their
deviation from equal temperament, 0.01-bin resolution).

The float32/float64 steps follow librosa's own, so the discrete estimate agrees with it.
"""

from __future__ import annotations

import numpy as np

from audioconcept.models.dsp.filterbanks import fft_frequencies, hz_to_octs


def _peaks(
    power: np.ndarray, sr: float, n_fft: int, fmin: float, fmax: float, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """librosa.piptrack on (frames, bins) `power`: (pitches, magnitudes) of the local peaks, flat."""
    freqs = fft_frequencies(sr, n_fft)
    in_band = np.flatnonzero((fmin <= freqs) & (freqs < fmax))
    if in_band.size == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    a, b = max(int(in_band[0]) - 1, 0), min(int(in_band[-1]) + 2, power.shape[1])
    s = power[:, a:b]  # one bin of margin each side; the edges of this block are never used
    ref = threshold * np.max(power, axis=1, keepdims=True)
    x = s * (s > ref)
    peak = np.zeros(s.shape, bool)
    peak[:, 1:-1] = (x[:, 1:-1] > x[:, :-2]) & (x[:, 1:-1] >= x[:, 2:])
    # bin 0 is never a peak (librosa's stencil edge); the band stops below Nyquist, so every
    # in-band bin has both neighbours in `s`
    lo, hi = in_band[0] - a, in_band[-1] - a + 1
    rows, cols = np.nonzero(peak[:, lo:hi])
    cols += lo
    # parabolic interpolation at the peaks (librosa's numba stencil: float64 arithmetic, float32 result)
    here, up, down = s[rows, cols], s[rows, cols + 1], s[rows, cols - 1]
    curv = (up + down) - 2 * here.astype(np.float64)
    slope = (up - down).astype(np.float64) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(np.abs(slope) >= np.abs(curv), 0.0, -slope / curv).astype(np.float32)
    pitches = ((cols + a + shift) * float(sr) / n_fft).astype(np.float32)
    mags = here + 0.5 * ((up - down) / 2.0) * shift  # np.gradient inside the band
    return pitches, mags


def estimate_tuning(
    power: np.ndarray,
    sr: float,
    n_fft: int,
    bins_per_octave: int = 12,
    resolution: float = 0.01,
    fmin: float = 150.0,
    fmax: float = 4000.0,
    threshold: float = 0.1,
) -> float:
    """Offset from A440 equal temperament, in bins (-0.5 .. 0.5), of a (frames, bins) power spectrogram."""
    pitches, mags = _peaks(power, sr, n_fft, fmin, min(fmax, sr / 2), threshold)
    voiced = pitches > 0
    floor = np.median(mags[voiced]) if voiced.any() else 0.0
    f = pitches[(mags >= floor) & voiced]
    if f.size == 0:
        return 0.0
    residual = np.mod(bins_per_octave * hz_to_octs(f), 1.0)
    residual[residual >= 0.5] -= 1.0
    counts, edges = np.histogram(residual, np.linspace(-0.5, 0.5, int(np.ceil(1.0 / resolution)) + 1))
    return float(edges[np.argmax(counts)])
