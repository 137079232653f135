"""Out of distribution: how far a song is from the music the genre head was trained on (torch-free).

A song's point is the mean of its windows' embeddings (the graph's `embedding` output), standardised with the
training songs' mean and spread. Its distance is the root-mean-square difference to its `k` nearest training
songs, averaged. The threshold is the largest leave-one-out distance among the training songs themselves: a song
farther than that is farther from the training music than any training song is from the others, and the genre
answer becomes "other / none of these" (the genre probabilities are still reported).

Manifest section `ood`: input, k, mean, scale, train (the standardised training points), threshold, trained_on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audioconcept.errors import BundleError

OTHER = "other / none of these"


@dataclass(frozen=True)
class DistanceToTraining:
    mean: np.ndarray  # (D,)
    scale: np.ndarray  # (D,)
    train: np.ndarray  # (N, D) standardised training songs
    threshold: float
    k: int = 3
    input: str = "embedding"
    trained_on: str = ""

    @classmethod
    def fit(cls, songs: np.ndarray, k: int = 3, trained_on: str = "") -> DistanceToTraining:
        e = np.asarray(songs, dtype=np.float64)
        if len(e) <= k:
            raise ValueError(f"a distance to the training data needs more than k={k} training songs")
        mean, scale = e.mean(0), e.std(0) + 1e-6
        z = (e - mean) / scale
        loo = [_knn(z[i], np.delete(z, i, axis=0), k) for i in range(len(z))]
        return cls(mean, scale, z, float(max(loo)), k, trained_on=trained_on)

    @classmethod
    def from_manifest(cls, m: dict) -> DistanceToTraining | None:
        o = m.get("ood")
        if not o:
            return None
        train = np.asarray(o["train"], dtype=np.float64)
        mean, scale = np.asarray(o["mean"], dtype=np.float64), np.asarray(o["scale"], dtype=np.float64)
        if train.ndim != 2 or train.shape[1] != mean.shape[0] or scale.shape != mean.shape:
            raise BundleError(f"{m.get('name')}: ood: train {train.shape}, mean {mean.shape}, scale {scale.shape}")
        return cls(
            mean,
            scale,
            train,
            float(o["threshold"]),
            int(o.get("k", 3)),
            o.get("input", "embedding"),
            o.get("trained_on", ""),
        )

    def distance(self, window_embeddings: np.ndarray) -> float:
        e = np.asarray(window_embeddings, dtype=np.float64).reshape(-1, self.mean.shape[0]).mean(0)
        return _knn((e - self.mean) / self.scale, self.train, self.k)

    def judge(self, window_embeddings: np.ndarray) -> dict:
        d = self.distance(window_embeddings)
        return {
            "distance": round(d, 4),
            "threshold": round(self.threshold, 4),
            "outside": bool(d > self.threshold),
            "method": f"distance to the {self.k} nearest training songs (standardised embedding); the threshold is "
            "the largest leave-one-out distance among the training songs",
        }

    def to_section(self, decimals: int = 3) -> dict:
        return {
            "input": self.input,
            "k": self.k,
            "mean": np.round(self.mean, 6).tolist(),
            "scale": np.round(self.scale, 6).tolist(),
            "train": np.round(self.train, decimals).tolist(),
            "threshold": round(self.threshold, 6),
            "trained_on": self.trained_on,
            "method": "rms distance of a song's mean embedding (standardised) to its k nearest training songs; "
            "outside when above the largest leave-one-out distance of the training songs",
        }


def _knn(z: np.ndarray, train: np.ndarray, k: int) -> float:
    d = np.sqrt(((train - z) ** 2).mean(axis=1))
    return float(np.sort(d)[: min(k, len(d))].mean())
