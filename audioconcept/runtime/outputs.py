"""What every backend returns for a batch of windows (torch-free)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Outputs:
    logits: np.ndarray  # (B, C); for the SVM, log-probabilities
    probabilities: np.ndarray  # (B, C)
    embedding: np.ndarray | None = None
    concepts: np.ndarray | None = None  # (B, K)
    concept_frames: np.ndarray | None = None  # (B, K, T)
