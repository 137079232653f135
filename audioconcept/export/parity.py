"""The parity gate: every artifact against the eager model on real clips through real preprocessing."""

from __future__ import annotations

import numpy as np

from audioconcept.errors import ExportError
from audioconcept.runtime.formats import Gate


def compare(reference: np.ndarray, candidate: np.ndarray, gate: Gate, what: str, strict: bool = True) -> dict:
    """Logit comparison; raises ExportError when the gate fails (with strict=False, records why instead)."""
    reference = np.asarray(reference, dtype=np.float64)
    candidate = np.asarray(candidate, dtype=np.float64)
    if reference.shape != candidate.shape:
        raise ExportError(f"parity gate: {what} returned shape {candidate.shape}, expected {reference.shape}")
    if not np.isfinite(candidate).all():
        raise ExportError(f"parity gate: {what} returned NaN or Inf")
    diff = np.abs(reference - candidate)
    agree = float(np.mean(reference.argmax(-1) == candidate.argmax(-1)))
    res = {
        "n_clips": int(reference.shape[0]),
        "max_abs_logit_diff": float(diff.max()),
        "mean_abs_logit_diff": float(diff.mean()),
        "top1_agreement": agree,
        "tolerance": gate.max_abs_logit,
        "min_top1_agreement": gate.min_top1_agreement,
    }
    failed = (gate.max_abs_logit is not None and diff.max() > gate.max_abs_logit) or agree < gate.min_top1_agreement
    res["passed"] = not failed
    if failed:
        why = (
            f"parity gate failed for {what}: max |dlogit| {diff.max():.3g} (limit {gate.max_abs_logit}), "
            f"top-1 agreement {agree:.3f} (limit {gate.min_top1_agreement}) on {reference.shape[0]} clips"
        )
        if strict:
            raise ExportError(why)
        res["failure"] = why
    return res
