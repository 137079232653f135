"""The concept head baked into exported graphs: one averaged CAV direction per concept with a
calibrated logistic threshold, applied to the pooled activations of one layer."""

from __future__ import annotations

import json
from pathlib import Path

from audioconcept.errors import AudioConceptError

CONCEPTS_FILE = "concepts.json"


def load_concept_head(folder: str | Path):
    """-> (ConceptHead, manifest section) from a folder written by `concepts learn`."""
    import torch

    from audioconcept.models.outputs import ConceptHead

    p = Path(folder) / CONCEPTS_FILE
    if not p.exists():
        raise AudioConceptError(f"{folder}: no {CONCEPTS_FILE} (run `audioconcept concepts learn` first)")
    d = json.loads(p.read_text())
    head_d = d["head"]
    head = ConceptHead(
        head_d["layer"],
        tuple(head_d["names"]),
        torch.tensor(head_d["weights"], dtype=torch.float32),
        torch.tensor(head_d["bias"], dtype=torch.float32),
    )
    thresholds = head_d.get("thresholds") or [0.5] * len(head.names)
    if len(thresholds) != len(head.names):
        raise AudioConceptError(f"{p}: {len(thresholds)} thresholds for {len(head.names)} concepts")
    meta = {
        "layer": head.layer,
        "names": list(head.names),
        "dim": int(head.weights.shape[1]),
        "thresholds": [float(t) for t in thresholds],
        "calibration": head_d.get(
            "calibration",
            "logistic regression on pooled activations, averaged over "
            "random sets; p = sigmoid(w.a + b), present when p >= 0.5",
        ),
        "frame_hop_s": head_d.get("frame_hop_s"),
        "tcav": d.get("significant_findings", []),
        "cav_accuracy": d.get("cav_accuracy", {}),
    }
    return head, meta


def head_from_manifest(manifest: dict):
    """A zero head of the right shape; its weights come from the artifact's state."""
    import torch

    from audioconcept.models.outputs import ConceptHead

    c = manifest["concepts"]
    n = len(c["names"])
    return ConceptHead(c["layer"], tuple(c["names"]), torch.zeros(n, int(c["dim"])), torch.zeros(n))
