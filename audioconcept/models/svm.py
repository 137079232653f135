"""SVM genre classifier: StandardScaler + SVC over the 57 GTZAN features, with the original grid.

Reported label: argmax of the calibrated probabilities (not SVC.predict, which disagrees on
a few percent of rows), so the label always matches the probabilities shown beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PARAM_GRID = {
    "svc__C": [0.1, 1, 10, 100],
    "svc__kernel": ["linear", "rbf"],
    "svc__gamma": ["scale", "auto", 0.1, 5e-3, 0.01, 1],
}
LABEL_RULE = "argmax(probabilities)"


@dataclass(frozen=True)
class SVMConfig:
    cv: int = 5
    seed: int = 42
    n_jobs: int = -1
    grid: bool = True


def make_pipeline(
    C: float = 10.0, kernel: str = "rbf", gamma: float | str = "scale", seed: int = 42, probability: bool = True
):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return Pipeline(
        [
            ("scaler", StandardScaler()),
            ("svc", SVC(C=C, kernel=kernel, gamma=gamma, probability=probability, random_state=seed)),
        ]
    )


def fit_svm(X: np.ndarray, y: np.ndarray, cfg: SVMConfig = SVMConfig()):
    """Grid search (5-fold CV, no probability calibration), then refit the best with probabilities."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    params: dict = {"C": 10.0, "kernel": "rbf", "gamma": "scale"}
    cv_score = None
    n_min = int(np.min(np.unique(y, return_counts=True)[1]))
    folds = min(cfg.cv, n_min)
    if cfg.grid and folds >= 2:
        search = GridSearchCV(
            make_pipeline(seed=cfg.seed, probability=False),
            PARAM_GRID,
            cv=StratifiedKFold(folds, shuffle=True, random_state=cfg.seed),
            n_jobs=cfg.n_jobs,
        )
        search.fit(X, y)
        params = {k.removeprefix("svc__"): v for k, v in search.best_params_.items()}
        cv_score = float(search.best_score_)
    pipe = make_pipeline(seed=cfg.seed, **params)
    pipe.fit(X, y)
    return pipe, {"best_params": params, "cv_accuracy": cv_score, "cv_folds": folds}


def predict_proba_labels(pipe, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    proba = pipe.predict_proba(X)
    return proba, pipe.classes_[np.argmax(proba, axis=1)]
