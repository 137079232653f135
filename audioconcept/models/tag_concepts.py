"""A tagger's tags as named concepts: the clean vocabulary of a bundle and its presence thresholds.

A tagger's concept output holds one probability per source tag (e.g. 100 for MSD + MTT). Synonyms
share one clean concept ("MSD:female vocalists", "MTT:female", "MTT:woman", ... -> "female voice");
a concept's strength in a window is the largest probability among its source tags. Torch-free.

Thresholds are calibrated on windows of real music (`calibrate_thresholds`):
- a concept named like one of the dataset's labels (the "jazz" tag and GTZAN's jazz) gets the threshold
  that maximises its window-level F1 against that label, if that F1 reaches `min_f1` (a tag that cannot
  find its own genre, like "country" on GTZAN's country at F1 0.33, is not calibrated by it);
- every other concept is present where it is among the strongest `quantile` share of the windows (by
  default the top 10 %) and its probability is at least `floor`. On the 50 shared GTZAN clips the
  F1-optimal thresholds of the well-detected genre tags (blues, hip hop, jazz, metal, classical) sat at
  the 0.89-0.90 quantile of the windows, for labels that cover 10 % of them; the lowest of them was
  0.075, hence the floor of 0.05 below which no tag is called present.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from audioconcept.models.musicnn_tags import CONCEPTS, GENRE_NAMED, TAGS

MERGE = "max"
DEFAULT_QUANTILE = 0.9
DEFAULT_FLOOR = 0.05
DEFAULT_MIN_F1 = 0.5
# a concept that moved to a probe leaves its musicnn tags behind under "<name> (musicnn tag)" (concepts.validated)
TAG_SUFFIX = " (musicnn tag)"


def base_concept(name: str) -> str:
    """ "loud (musicnn tag)" -> "loud": a displaced tag names the same concept as its probe."""
    return name[: -len(TAG_SUFFIX)] if name.endswith(TAG_SUFFIX) else name


def tag_labels(label_info: Sequence[dict], labels: Sequence[str]) -> list[str]:
    """'SOURCE:tag' per output of a tagger checkpoint (from its label_info, else its labels)."""
    if label_info:
        return [str(i["label"]) for i in label_info]
    return list(labels)


def vocabulary(labels: Sequence[str]) -> dict:
    """The clean concepts that a tagger with these outputs ('MSD:rock', ...) can show, in vocabulary order:
    names, member output indices, category and whether the concept is genre-named."""
    unknown = [lab for lab in labels if lab not in TAGS]
    if unknown:
        raise ValueError(f"tags outside the musicnn vocabulary: {', '.join(unknown[:5])}")
    index = {lab: i for i, lab in enumerate(labels)}
    names, members, categories = [], [], []
    for concept, (category, sources) in CONCEPTS.items():
        idx = [index[s] for s in sources if s in index]
        if idx:
            names.append(concept)
            members.append(idx)
            categories.append(category)
    return {
        "names": names,
        "members": members,
        "categories": categories,
        "genre_named": [c in GENRE_NAMED for c in categories],
    }


def merge_tags(tag_probs: np.ndarray, members: Sequence[Sequence[int]]) -> np.ndarray:
    """(..., n_tags) -> (..., n_concepts): each concept's strongest source tag."""
    p = np.asarray(tag_probs)
    return np.stack([p[..., list(m)].max(axis=-1) for m in members], axis=-1)


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


def calibrate_thresholds(
    concept_probs: np.ndarray,
    names: Sequence[str],
    window_labels: Sequence[str] | None = None,
    quantile: float = DEFAULT_QUANTILE,
    floor: float = DEFAULT_FLOOR,
    min_f1: float = DEFAULT_MIN_F1,
) -> tuple[list[float], dict]:
    """-> (threshold per concept, evidence). `concept_probs`: (n_windows, n_concepts) of real music;
    `window_labels`: each window's song label, when known (e.g. GTZAN genres)."""
    x = np.asarray(concept_probs, dtype=np.float64)
    by_label = {_norm(lab): lab for lab in (window_labels or ())}
    thresholds, evidence = [], {}
    for k, name in enumerate(names):
        s = x[:, k]
        label = by_label.get(_norm(name))
        f1, f1_thr = _best_f1(s, np.asarray(window_labels) == label) if label is not None else (0.0, 0.0)
        if label is not None and f1 >= min_f1:
            thresholds.append(float(f1_thr))
            evidence[name] = {
                "rule": f"F1-optimal against the label {label!r}",
                "f1": round(f1, 3),
                "quantile": round(float(np.mean(s < f1_thr)), 3),
            }
        else:
            thresholds.append(max(float(np.quantile(s, quantile)), floor))
            evidence[name] = {"rule": f"{quantile:.2f} quantile of the windows, at least {floor}"}
            if label is not None:
                evidence[name]["label_f1"] = round(f1, 3)
        evidence[name]["threshold"] = round(thresholds[-1], 4)
    return thresholds, evidence


def _best_f1(scores: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    best_f1, best_thr = 0.0, float(scores.max()) if scores.size else 1.0
    n_true = int(truth.sum())
    for thr in np.unique(scores):
        pred = scores >= thr
        f1 = 2 * int((pred & truth).sum()) / max(int(pred.sum()) + n_true, 1)
        if f1 > best_f1:
            best_f1, best_thr = f1, float(thr)
    return best_f1, best_thr


def calibration_text(quantile: float = DEFAULT_QUANTILE, floor: float = DEFAULT_FLOOR) -> str:
    return (
        "strength = the largest probability among a concept's source tags; present when it reaches the "
        "threshold: F1-optimal against a matching dataset label where that F1 reaches 0.5, else the "
        f"{quantile:.2f} quantile of real-music windows (at least {floor})"
    )


def concepts_section(
    labels: Sequence[str], thresholds: Sequence[float] | None = None, calibration: str | None = None, **extra
) -> dict:
    """The manifest's `concepts` for a tagger: what the runtime needs to show clean concepts."""
    v = vocabulary(labels)
    thr = list(thresholds) if thresholds is not None else [DEFAULT_FLOOR] * len(v["names"])
    if len(thr) != len(v["names"]):
        raise ValueError(f"{len(thr)} thresholds for {len(v['names'])} concepts")
    return {
        "kind": "tags",
        "outputs": list(labels),
        "merge": MERGE,
        **v,
        "thresholds": [round(float(t), 5) for t in thr],
        "calibration": calibration or calibration_text(),
        "tags": [TAGS[lab].to_dict() for lab in labels],
        **extra,
    }
