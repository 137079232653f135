"""SVM genre classifier over the 57 GTZAN features.

Pipeline: StandardScaler -> PowerTransformer (Yeo-Johnson, standardised) -> RBF SVC, with
probabilities from CalibratedClassifierCV (one-vs-rest sigmoid on the SVC's decision values,
fitted on cross-validated decisions; one SVC refitted on all training rows). The variance
features are heavy-tailed: the power transform lifts 5-fold CV accuracy on the real table by
about 2 points; scaling first keeps its exponents moderate (|lambda| < 2) so that songs outside
the training range do not blow up. Reported label: argmax of the calibrated probabilities.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass

import numpy as np

from audioconcept.errors import DataSpecError

PARAM_GRID = {
    "svc__C": [1, 3, 10, 30, 100],
    "svc__gamma": ["scale", 0.003, 0.01, 0.03],
    "svc__class_weight": [None, "balanced"],
}
DEFAULT_PARAMS = {"C": 30.0, "gamma": 0.01, "class_weight": None}
LABEL_RULE = "argmax(probabilities)"


@dataclass(frozen=True)
class SVMConfig:
    cv: int = 5
    seed: int = 42
    n_jobs: int = -1
    grid: bool = True
    calibration: str = "sigmoid"


def make_pipeline(
    C: float = 30.0,
    gamma: float | str = 0.01,
    class_weight: str | None = None,
    seed: int = 42,
    calibration_folds: int | None = 5,
    calibration: str = "sigmoid",
    memory: str | None = None,
):
    """The SVM pipeline; `calibration_folds=None` leaves the SVC uncalibrated (for the grid search,
    which caches the fitted transforms in `memory`)."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import PowerTransformer, StandardScaler
    from sklearn.svm import SVC

    svc = SVC(C=C, kernel="rbf", gamma=gamma, class_weight=class_weight, random_state=seed)
    steps = [("scaler", StandardScaler()), ("power", PowerTransformer())]
    if calibration_folds is None:
        return Pipeline([*steps, ("svc", svc)], memory=memory)
    from sklearn.calibration import CalibratedClassifierCV

    cal = CalibratedClassifierCV(svc, method=calibration, cv=calibration_folds, ensemble=False)
    return Pipeline([*steps, ("svm", cal)])


def fit_svm(X: np.ndarray, y: np.ndarray, cfg: SVMConfig = SVMConfig()) -> tuple:
    """Grid search over the uncalibrated SVC (5-fold CV), then the calibrated refit on all rows.

    Returns (pipeline, search): search holds the chosen parameters and both CV accuracies
    (None without the grid search)."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score

    n_min = int(np.min(np.unique(y, return_counts=True)[1]))
    folds = min(cfg.cv, n_min)
    if folds < 2:
        raise DataSpecError("the SVM needs at least 2 training examples of every genre")
    cv = StratifiedKFold(folds, shuffle=True, random_state=cfg.seed)
    params: dict = dict(DEFAULT_PARAMS)
    cv_score = None
    if cfg.grid:
        with tempfile.TemporaryDirectory(prefix="svm-grid-") as cache:
            search = GridSearchCV(
                make_pipeline(seed=cfg.seed, calibration_folds=None, memory=cache), PARAM_GRID, cv=cv, n_jobs=cfg.n_jobs
            )
            search.fit(X, y)
        params = {k.removeprefix("svc__"): v for k, v in search.best_params_.items()}
        cv_score = float(search.best_score_)
    inner = min(cfg.cv, max(2, n_min * (folds - 1) // folds))
    pipe = make_pipeline(**params, seed=cfg.seed, calibration_folds=inner, calibration=cfg.calibration)
    # the calibrated pipeline's own CV figure costs five more fits: only with the grid search
    cv_calibrated = float(np.mean(cross_val_score(pipe, X, y, cv=cv))) if cfg.grid else None
    pipe.fit(X, y)
    return pipe, {
        "best_params": params,
        "cv_accuracy": cv_score,
        "cv_accuracy_calibrated": cv_calibrated,
        "cv_folds": folds,
        "calibration": f"CalibratedClassifierCV(method={cfg.calibration!r}, cv={inner}, ensemble=False)",
    }


def predict_proba_labels(pipe, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    proba = pipe.predict_proba(X)
    return proba, pipe.classes_[np.argmax(proba, axis=1)]
