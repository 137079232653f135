"""Exact Shapley values of the SVM's prediction over six musical feature groups.

Interventional value function: v(S) = mean over a background set of the model's probability
for the explained class when the features of the groups in S come from the song and the rest
from the background row. Six groups make the exact value cheap: 2^6 = 64 coalitions.
Runs through the SVM's ONNX model, so it works in the torch-free runtime.
"""

from __future__ import annotations

import io
from itertools import combinations
from math import factorial
from pathlib import Path

import numpy as np

from audioconcept.data.features_csv import FEATURE_NAMES
from audioconcept.utils import atomic_write_bytes

_GROUP_PREFIXES = {
    "timbre": ("mfcc",),
    "harmony": ("chroma_stft", "harmony"),
    "rhythm": ("tempo", "perceptr"),
    "loudness": ("rms",),
    "brightness": ("spectral_centroid", "spectral_bandwidth", "rolloff"),
    "noisiness": ("zero_crossing_rate",),
}
GROUPS: dict[str, tuple[str, ...]] = {
    g: tuple(f for f in FEATURE_NAMES if f.startswith(prefixes)) for g, prefixes in _GROUP_PREFIXES.items()
}
assert sorted(f for g in GROUPS.values() for f in g) == sorted(FEATURE_NAMES)


def group_shapley(
    predict_proba, x: np.ndarray, background: np.ndarray, class_index: int
) -> tuple[dict[str, float], float, float]:
    """-> (phi per group, v(empty) = baseline, v(all) = prediction). sum(phi) == v(all) - v(empty)."""
    names = list(GROUPS)
    idx = [np.array([FEATURE_NAMES.index(f) for f in GROUPS[g]]) for g in names]
    n = len(names)
    coalitions = [frozenset(c) for r in range(n + 1) for c in combinations(range(n), r)]
    rows = []
    for coal in coalitions:
        z = background.copy()
        for g in coal:
            z[:, idx[g]] = x[idx[g]]
        rows.append(z)
    probs = predict_proba(np.concatenate(rows))[:, class_index].reshape(len(coalitions), len(background)).mean(1)
    v = dict(zip(coalitions, probs, strict=True))
    phi = {}
    for i, name in enumerate(names):
        total = 0.0
        for coal in coalitions:
            if i in coal:
                continue
            w = factorial(len(coal)) * factorial(n - len(coal) - 1) / factorial(n)
            total += w * (v[coal | {i}] - v[coal])
        phi[name] = float(total)
    return phi, float(v[frozenset()]), float(v[frozenset(range(n))])


def plot_waterfall(phi: dict[str, float], base: float, pred: float, label: str, path: Path) -> None:
    from audioconcept.concepts.figures import pyplot

    plt = pyplot("the Shapley PNG")

    items = sorted(phi.items(), key=lambda kv: abs(kv[1]))
    fig, ax = plt.subplots(figsize=(7, 3.2))
    x = base
    for i, (_name, v) in enumerate(items):
        ax.barh(i, v, left=x, color="tab:red" if v > 0 else "tab:blue")
        ax.text(x + v, i, f" {v:+.3f}", va="center", fontsize=8)
        x += v
    ax.set_yticks(range(len(items)), [k for k, _ in items])
    ax.axvline(base, color="gray", ls=":", lw=1)
    ax.axvline(pred, color="black", ls="--", lw=1)
    ax.set_xlabel(f"P({label}): baseline {base:.3f} -> song {pred:.3f}")
    ax.set_title("Exact Shapley values over feature groups")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
