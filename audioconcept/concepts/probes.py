"""Concept probes: one CAV-style linear detector per concept on a tagger's embedding, trained on windows whose
truth is exact (rendered scores), calibrated so that "present" means a measured precision.

- Split: held out by piece AND by soundfont. Test windows come from pieces no training window comes from,
  played through soundfonts no training window was played through; windows that share a test piece or a
  test soundfont with training are left out of both (`split_groups`).
- Probe: a standardised L2 logistic regression with the scaler folded into the weights, so p = sigmoid(w.e + b)
  on the raw embedding (runtime.concept_probes). Its unit direction w/|w| is the concept's CAV.
- Calibration: the threshold is chosen on out-of-fold scores of the training windows (folds by piece), as the
  highest threshold that keeps 98 % of the recall of the lowest one whose precision reaches `target_precision`
  (`threshold_for_precision`); the test then measures
  the precision and recall that this threshold gives on the held-out pieces and soundfonts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from audioconcept.errors import AudioConceptError
from audioconcept.runtime.concept_probes import ConceptProbes

log = logging.getLogger(__name__)

MIN_POSITIVES = 8  # per concept in training; fewer and no probe is fitted
KEEP_RECALL = 0.98  # a threshold keeps this share of the recall its target precision allows (threshold_for_precision)


@dataclass(frozen=True)
class ProbeSettings:
    target_precision: float = 0.9
    C: float = 0.1
    folds: int = 4  # by piece, for the out-of-fold calibration scores
    min_positives: int = MIN_POSITIVES
    seed: int = 0


@dataclass(frozen=True)
class Split:
    train: np.ndarray  # window indices
    test: np.ndarray
    test_pieces: tuple[str, ...]
    test_soundfonts: tuple[str, ...]
    calib: np.ndarray | None = None  # held-out windows that choose the threshold (None: out-of-fold on train)


def split_groups(pieces, soundfonts, test_share: float = 0.3, seed: int = 0, test_soundfonts=None) -> Split:
    """Windows -> train and test, disjoint in pieces AND soundfonts (see the module doc). `test_soundfonts`
    default: about `test_share` of the soundfonts, at least one; with one soundfont only, the split is by piece."""
    pieces, soundfonts = np.asarray(pieces).astype(str), np.asarray(soundfonts).astype(str)
    rng = np.random.default_rng(seed)
    up = np.unique(pieces)
    us = np.unique(soundfonts)
    if len(up) < 2:
        raise AudioConceptError("a held-out split needs at least 2 pieces")
    n_tp = max(1, int(round(test_share * len(up))))
    tp = set(rng.choice(up, n_tp, replace=False).tolist())
    if test_soundfonts is None:
        ts = (
            set(rng.choice(us, max(1, int(round(test_share * len(us)))), replace=False).tolist())
            if len(us) > 1
            else set()
        )
    else:
        ts = set(test_soundfonts)
    in_tp = np.isin(pieces, list(tp))
    in_ts = np.isin(soundfonts, list(ts)) if ts else np.ones(len(pieces), bool)
    test = np.flatnonzero(in_tp & in_ts)
    train = np.flatnonzero(~in_tp & (~in_ts if ts else True))
    if not len(train) or not len(test):
        raise AudioConceptError("the held-out split left no training or no test windows")
    return Split(train, test, tuple(sorted(tp)), tuple(sorted(ts)))


def fit_probe(X: np.ndarray, y: np.ndarray, C: float) -> tuple[np.ndarray, float]:
    """-> (w, b) with p = sigmoid(X w + b): standardised logistic regression, the scaler folded in."""
    from sklearn.linear_model import LogisticRegression

    X = np.asarray(X, dtype=np.float64)
    mu, sd = X.mean(0), X.std(0) + 1e-6
    clf = LogisticRegression(C=C, max_iter=5000, class_weight="balanced").fit((X - mu) / sd, np.asarray(y, int))
    w = clf.coef_[0] / sd
    return w, float(clf.intercept_[0] - w @ mu)


def roc_auc(scores: np.ndarray, truth: np.ndarray) -> float | None:
    truth = np.asarray(truth, bool)
    if truth.all() or not truth.any():
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(truth, scores))


def threshold_for_precision(
    scores: np.ndarray, truth: np.ndarray, target: float, keep_recall: float = KEEP_RECALL
) -> tuple[float, float, float]:
    """The threshold for a precision of `target` on (scores, truth) -> (threshold, precision, recall).

    The lowest threshold whose precision reaches `target` gives the most recall, R. Where the renders separate a
    concept cleanly (drums, loudness) that threshold hugs the tail of the negatives' scores, and a real recording's
    small shift tips it over (drums at 0.08 was present on rain, the sea and a solo saxophone). So the threshold is
    the highest one that still keeps `keep_recall` of R: as far from the negatives as nearly all the recall allows.
    When no threshold reaches `target`, the threshold of the best precision (ties: the lower threshold)."""
    s = np.asarray(scores, dtype=np.float64)
    t = np.asarray(truth, bool)
    order = np.argsort(-s, kind="stable")
    s_sorted, tp = s[order], np.cumsum(t[order])
    n = np.arange(1, len(s) + 1)
    # only cut between distinct scores: the last index of each run of equal scores
    last = np.r_[s_sorted[1:] != s_sorted[:-1], True]
    prec = tp / n
    rec = tp / max(int(t.sum()), 1)
    ok = np.flatnonzero(last & (prec >= target))
    if len(ok):
        i = int(ok[-1])
        i = int(np.flatnonzero(last & (rec >= keep_recall * rec[i]))[0])  # the highest cut that keeps it
    else:
        i = int(np.flatnonzero(last)[np.argmax(prec[last])])
    return float(s_sorted[i]), float(prec[i]), float(rec[i])


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (95 % at z 1.96): how firm a precision measured on n windows is
    (19 of 20 is 0.76-0.99; 1 of 1 is 0.21-1.00). None for n 0."""
    if n <= 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def precision_recall(scores: np.ndarray, truth: np.ndarray, threshold: float) -> tuple[float | None, float | None]:
    pred = np.asarray(scores) >= threshold
    truth = np.asarray(truth, bool)
    precision = float((pred & truth).sum() / pred.sum()) if pred.any() else None
    recall = float((pred & truth).sum() / truth.sum()) if truth.any() else None
    return precision, recall


def out_of_fold(X: np.ndarray, y: np.ndarray, groups: np.ndarray, cfg: ProbeSettings) -> np.ndarray:
    """Scores of every window from a probe that did not see its group (piece)."""
    from sklearn.model_selection import GroupKFold

    ug = np.unique(groups)
    k = min(cfg.folds, len(ug))
    scores = np.full(len(y), np.nan)
    if k < 2:
        return scores
    for tr, te in GroupKFold(k).split(X, y, groups):
        if y[tr].all() or not y[tr].any():
            continue
        w, b = fit_probe(X[tr], y[tr], cfg.C)
        scores[te] = X[te] @ w + b
    return scores


def cross_soundfont_scores(X, y, tr, ca, soundfonts, cfg: ProbeSettings, probe) -> tuple[np.ndarray, np.ndarray]:
    """Scores of the calibration windows, each from a probe that saw neither its piece nor its soundfont: for every
    soundfont of the calibration set, a probe fitted on the training windows of the other soundfonts. So the
    threshold is chosen under the same kind of shift that the test meets (another soundfont); with one soundfont
    only, the final probe scores them (other pieces)."""
    sf = np.asarray(soundfonts).astype(str)
    scores = np.full(len(ca), np.nan)
    kinds = np.unique(sf[ca])
    if len(np.unique(sf[tr])) < 2:
        w, b = probe
        return X[ca] @ w + b, y[ca].astype(bool)
    for s in kinds:
        t = tr[sf[tr] != s]
        yt = y[t].astype(bool)
        if yt.sum() < 2 or (~yt).sum() < 2:
            continue
        w, b = fit_probe(X[t], yt, cfg.C)
        m = sf[ca] == s
        scores[m] = X[ca[m]] @ w + b
    return scores, y[ca].astype(bool)


def train_probes(
    X: np.ndarray,
    truth: dict[str, np.ndarray],
    pieces,
    soundfonts,
    split: Split,
    cfg: ProbeSettings = ProbeSettings(),
    data: str = "held-out renders",
) -> tuple[ConceptProbes, dict[str, dict]]:
    """One probe per concept of `truth` (concept -> (n,) 0/1, NaN where unknown) -> (probes, figures per concept).

    Figures: AUC, and precision and recall at the calibrated threshold, on the held-out test windows; the
    threshold (a probability) and the precision it was chosen for."""
    X = np.asarray(X, dtype=np.float64)
    pieces = np.asarray(pieces).astype(str)
    names, W, B, figures = [], [], [], {}
    for name, y_all in truth.items():
        y_all = np.asarray(y_all, dtype=np.float64)
        tr = split.train[~np.isnan(y_all[split.train])]
        te = split.test[~np.isnan(y_all[split.test])]
        ytr, yte = y_all[tr].astype(bool), y_all[te].astype(bool)
        if ytr.sum() < cfg.min_positives or (~ytr).sum() < cfg.min_positives:
            figures[name] = {"status": "not validated", "why": f"{int(ytr.sum())} positive training windows"}
            log.info("%s: too few positives (%d), no probe", name, int(ytr.sum()))
            continue
        w, b = fit_probe(X[tr], ytr, cfg.C)
        if split.calib is not None:
            ca = split.calib[~np.isnan(y_all[split.calib])]
            cal_scores, cal_truth = cross_soundfont_scores(X, y_all, tr, ca, soundfonts, cfg, (w, b))
        else:
            cal_scores, cal_truth = out_of_fold(X[tr], ytr, pieces[tr], cfg), ytr
        known = ~np.isnan(cal_scores)
        if known.sum() and cal_truth[known].any():
            logit_thr, cal_prec, cal_rec = threshold_for_precision(
                cal_scores[known], cal_truth[known], cfg.target_precision
            )
        else:
            logit_thr, cal_prec, cal_rec = 0.0, float("nan"), float("nan")
        s_te = X[te] @ w + b
        auc = roc_auc(s_te, yte)
        prec, rec = precision_recall(s_te, yte, logit_thr)
        names.append(name)
        W.append(w)
        B.append(b)
        figures[name] = {
            "auc": _r(auc),
            "precision": _r(prec),
            "recall": _r(rec),
            "threshold": _r(float(1 / (1 + np.exp(-logit_thr)))),
            "target_precision": cfg.target_precision,
            "calibration_precision": _r(cal_prec),
            "calibration_recall": _r(cal_rec),
            "n_train": int(len(tr)),
            "n_train_positive": int(ytr.sum()),
            "n_test": int(len(te)),
            "n_test_positive": int(yte.sum()),
            "n_predicted": int((s_te >= logit_thr).sum()),  # held-out windows called present at the threshold
            "data": data,
        }
        log.info("%s: held-out AUC %s, precision %s, recall %s", name, auc, prec, rec)
    if not names:
        raise AudioConceptError("no concept had enough positive windows to train a probe")
    return ConceptProbes(tuple(names), np.stack(W), np.asarray(B)), figures


def _r(x, nd: int = 4):
    return None if x is None or (isinstance(x, float) and np.isnan(x)) else round(float(x), nd)
