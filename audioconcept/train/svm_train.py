"""Train and evaluate the SVM on a features table or on audio (features extracted and cached)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from audioconcept.data.features_csv import FEATURE_NAMES, read_features_csv
from audioconcept.data.spec import DataSpec, load_tracks, parse_data_spec
from audioconcept.models.checkpoint import CheckpointConfig, save_svm_checkpoint
from audioconcept.models.registry import get_spec
from audioconcept.models.svm import LABEL_RULE, SVMConfig, fit_svm, predict_proba_labels
from audioconcept.train.metrics import classification_metrics
from audioconcept.utils import atomic_write_json

log = logging.getLogger(__name__)


def _csv_split(spec: DataSpec, seed: int = 42):
    from sklearn.model_selection import train_test_split

    table = read_features_csv(spec.path)
    idx = np.arange(len(table.labels))
    tr, te = train_test_split(idx, test_size=0.2, stratify=table.labels, random_state=42)
    return table.X[tr], table.labels[tr], table.X[te], table.labels[te]


def _audio_split(spec: DataSpec, split: str, seed: int):
    from audioconcept.models.features import batch_features

    tl = load_tracks(spec, seed)
    tracks = tl.split(split)
    return batch_features([t.path for t in tracks]), np.array([t.label for t in tracks]), tl


def _cv_metrics(search: dict) -> dict:
    return {
        "accuracy": search["cv_accuracy"],
        "accuracy_calibrated": search["cv_accuracy_calibrated"],
        "folds": search["cv_folds"],
        "note": "accuracy: grid search's best (uncalibrated SVC); accuracy_calibrated: the final pipeline",
    }


def train_svm(data: str, out: Path, seed: int = 42, grid: bool = True, data_seed: int = 0) -> tuple[Path, dict]:
    t0 = time.time()
    spec = parse_data_spec(data)
    if spec.kind == "features-csv":
        Xtr, ytr, Xte, yte = _csv_split(spec)
        protocol = "80/20 stratified split of the features table (random_state 42)"
    else:
        Xa, ya, _ = _audio_split(spec, "train", data_seed)
        Xv, yv, _ = _audio_split(spec, "valid", data_seed)
        Xtr, ytr = np.concatenate([Xa, Xv]), np.concatenate([ya, yv])
        Xte, yte, _ = _audio_split(spec, "test", data_seed)
        protocol = "train+valid for grid search (5-fold CV), test split held out"
    pipe, search = fit_svm(Xtr, ytr, SVMConfig(seed=seed, grid=grid))
    labels = [str(c) for c in pipe.classes_]
    _, pred = predict_proba_labels(pipe, Xte)
    metrics = classification_metrics(list(yte), list(pred), labels)
    metrics["predict_vs_argmax_disagreement"] = float(np.mean(pipe.predict(Xte) != pred)) if len(yte) else 0.0
    cv = _cv_metrics(search)
    log.info(
        "svm: CV accuracy %s (calibrated %s), test accuracy %.3f (%s)",
        *(("n/a" if v is None else f"{v:.3f}") for v in (cv["accuracy"], cv["accuracy_calibrated"])),
        metrics["accuracy"],
        protocol,
    )
    ms = get_spec("svm")
    cfg = CheckpointConfig(
        arch="svm",
        labels=labels,
        window_s=ms.window_s,
        eval_chunks=1,
        arch_config={"features": list(FEATURE_NAMES), "label_rule": LABEL_RULE, **search},
        trained_on=str(spec),
        data_seed=data_seed,
        metrics={"test": metrics, "cv": cv, "protocol": protocol},
    )
    save_svm_checkpoint(out, pipe, cfg)
    run = {
        "model": "svm",
        "data": data,
        "protocol": protocol,
        "search": search,
        "test": metrics,
        "cv": cv,
        "wall_time_s": round(time.time() - t0, 2),
        "n_train": int(len(ytr)),
        "n_test": int(len(yte)),
    }
    atomic_write_json(out / "run.json", run)
    return out, run


def evaluate_svm(pipe, spec: DataSpec, split: str, seed: int = 0) -> dict:
    if spec.kind == "features-csv":
        _, _, X, y = _csv_split(spec)
    else:
        X, y, _ = _audio_split(spec, split, seed)
    _, pred = predict_proba_labels(pipe, X)
    return classification_metrics(list(y), list(pred), [str(c) for c in pipe.classes_])


__all__ = ["train_svm", "evaluate_svm", "parse_data_spec"]
