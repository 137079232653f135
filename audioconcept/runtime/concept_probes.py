"""Concept probes on a tagger's embedding: one linear detector per concept, run as a numpy step after the graph.

A probe is a CAV-style linear direction on the graph's `embedding` output with a bias: p = sigmoid(w . e + b).
The runtime appends the probes' probabilities to the graph's tag probabilities, so that a concept of the
vocabulary (runtime.tag_concepts) can rest on its tags or on its probe, whichever validated better.

Every concept of a tag bundle may carry its validation (manifest `concepts.validation`): the status
(`validated`, `failed`, `not validated`), the source (tag or probe), and the figures it was judged on (ROC-AUC,
precision and recall at its threshold, on which data). A concept that failed validation is shown, marked, and
never called present. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audioconcept.errors import BundleError

PROBE_PREFIX = "probe:"
STATUSES = ("validated", "failed", "not validated")
STATUS_MARK = {"validated": "", "failed": "✗", "not validated": "?"}


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


@dataclass(frozen=True)
class ConceptProbes:
    """Linear probes on one graph output (the pooled embedding): (B, D) -> (B, K) probabilities."""

    names: tuple[str, ...]  # concept names; their outputs are "probe:<name>"
    weights: np.ndarray  # (K, D)
    bias: np.ndarray  # (K,)
    input: str = "embedding"

    @property
    def outputs(self) -> tuple[str, ...]:
        return tuple(PROBE_PREFIX + n for n in self.names)

    @classmethod
    def from_section(cls, p: dict | None, where: str = "manifest") -> ConceptProbes | None:
        if not p or not p.get("names"):
            return None
        w = np.asarray(p["weights"], dtype=np.float64)
        b = np.asarray(p["bias"], dtype=np.float64)
        names = tuple(str(n) for n in p["names"])
        if w.ndim != 2 or w.shape[0] != len(names) or b.shape != (len(names),):
            raise BundleError(f"{where}: concept probes: {len(names)} names, weights {w.shape}, bias {b.shape}")
        return cls(names, w, b, str(p.get("input", "embedding")))

    @classmethod
    def from_manifest(cls, m: dict) -> ConceptProbes | None:
        return cls.from_section((m.get("concepts") or {}).get("probes"), str(m.get("name", "manifest")))

    def predict(self, embedding: np.ndarray) -> np.ndarray:
        e = np.asarray(embedding, dtype=np.float64)
        if e.shape[-1] != self.weights.shape[1]:
            raise BundleError(
                f"concept probes take a {self.weights.shape[1]}-wide {self.input}; the model gave {e.shape[-1]}"
            )
        return sigmoid(e @ self.weights.T + self.bias)

    def to_section(self) -> dict:
        return {
            "input": self.input,
            "names": list(self.names),
            "weights": np.round(self.weights, 6).tolist(),
            "bias": np.round(self.bias, 6).tolist(),
        }


def validation_of(m: dict) -> dict[str, dict]:
    """concept -> its validation record (empty when the bundle carries none)."""
    v = (m.get("concepts") or {}).get("validation") or {}
    return {k: r for k, r in v.items() if isinstance(r, dict)}


def status_of(validation: dict[str, dict], name: str) -> str:
    r = validation.get(name)
    return str(r.get("status", "not validated")) if r else "not validated"


def confidence_text(record: dict | None) -> str:
    """One short line: 'validated: AUC 0.93, precision 0.90 at its threshold (held-out renders)'."""
    if not record:
        return "not validated"
    parts = []
    auc = record.get("auc")
    if auc is not None:
        parts.append(f"AUC {auc:.2f}")
    prec = record.get("precision")
    if prec is not None:
        parts.append(f"precision {prec:.2f} at its threshold")
    real = record.get("real_auc")
    if real is not None:
        parts.append(f"real-recording AUC {real:.2f}")
    data = record.get("data")
    figures = ", ".join(parts)
    return (
        f"{record.get('status', 'not validated')}"
        + (f": {figures}" if figures else "")
        + (f" ({data})" if data else "")
    )
