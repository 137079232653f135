"""Concept activation vectors: a logistic regression separating concept from random activations."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CAV:
    concept: str
    random_set: str
    layer: str
    direction: np.ndarray  # unit vector in activation space (points towards the concept)
    weights: np.ndarray  # logistic weights in raw activation space (standardisation folded in)
    bias: float
    accuracy: float  # held-out accuracy


def train_cav(
    pos: np.ndarray, neg: np.ndarray, concept: str, random_set: str, layer: str, seed: int = 0, test_size: float = 0.33
) -> CAV:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    X = np.concatenate([pos, neg]).astype(np.float64)
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    mu = X.mean(0)
    sd = X.std(0) + 1e-6
    Z = (X - mu) / sd
    strat = y if min(len(pos), len(neg)) >= 2 else None
    Ztr, Zte, ytr, yte = train_test_split(Z, y, test_size=test_size, random_state=seed, stratify=strat)
    clf = LogisticRegression(C=1.0, max_iter=2000)
    clf.fit(Ztr, ytr)
    acc = float(clf.score(Zte, yte)) if len(yte) else float("nan")
    clf.fit(Z, y)  # final direction from every clip
    w = clf.coef_[0] / sd
    b = float(clf.intercept_[0] - np.dot(clf.coef_[0], mu / sd))
    direction = w / (np.linalg.norm(w) + 1e-12)
    return CAV(concept, random_set, layer, direction, w, b, acc)
