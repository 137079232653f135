"""TCAV scores (sign count and magnitude) and significance tests.

The sign count is Captum's exactly; a test cross-checks it against captum.concept.TCAV. For the
magnitude, Captum 0.9 reports the mean raw derivative along its unnormalised CAV weights, whose
scale depends on the classifier; we report the scale-free positive share of |derivative| (the
"magnitude" of Kim et al.'s TCAV code), computed from the same derivatives.
"""

from __future__ import annotations

import numpy as np


def directional_derivatives(grads: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """(n_clips,) derivative of the class logit along the CAV."""
    return grads @ direction


def tcav_sign(dd: np.ndarray) -> float:
    """Fraction of clips whose class logit increases along the CAV."""
    return float(np.mean(dd > 0)) if dd.size else float("nan")


def tcav_magnitude(dd: np.ndarray) -> float:
    """Magnitude score: positive derivative mass over total absolute mass (in [0, 1])."""
    total = np.abs(dd).sum()
    return float(dd[dd > 0].sum() / total) if total > 0 else 0.0


def significance(concept_scores: np.ndarray, random_scores: np.ndarray) -> float:
    """Two-sided Welch t-test p-value of concept-vs-random scores against random-vs-random scores."""
    from scipy.stats import ttest_ind

    a = np.asarray(concept_scores, dtype=float)
    b = np.asarray(random_scores, dtype=float)
    if a.size < 2 or b.size < 2:
        return 1.0
    if np.all(a == a[0]) and np.all(b == b[0]):
        return 0.0 if a[0] != b[0] else 1.0
    p = ttest_ind(a, b, equal_var=False).pvalue
    return float(p) if np.isfinite(p) else 1.0
