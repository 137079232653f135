"""Which musical concepts each genre's songs have more of: the evidence that the validated head's reasons rest on.

A reason says "metal because loud": the genre's songs have more of the concept than other songs. Each (genre,
concept) pair is tested before its weight may live (train.probe.evidence_mask), by a one-sided Mann-Whitney U test
of "the genre's songs have more of it than all the other songs", on one of two sources:

- the measured concepts (loud, quiet, bright, dark, percussive, harmonic, fast, slow) on the GTZAN features table,
  over the tracks of the training split only (443 real GTZAN tracks, about 44 a genre; never the test split): its
  librosa RMS, spectral centroid, tempo and harmonic/percussive energies measure these concepts on real music,
  with nine times the songs of the shared clips;
- every other concept (instruments, voices) on the head's own training songs, the 50 shared clips, where the
  concept's detector gives its strength.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# concept -> (the table's measure, +1: more of the measure is more of the concept; -1: less is)
TABLE_MEASURES: dict[str, tuple[str, int]] = {
    "loud": ("rms_mean", 1),
    "quiet": ("rms_mean", -1),
    "bright": ("spectral_centroid_mean", 1),
    "dark": ("spectral_centroid_mean", -1),
    "fast": ("tempo", 1),
    "slow": ("tempo", -1),
    "percussive": ("percussive_share", 1),
    "harmonic": ("percussive_share", -1),
}
TABLE_SPLIT = "train"


def table_measures(table) -> dict[str, np.ndarray]:
    """The table's columns a concept reads, plus the percussive share of the harmonic/percussive energies (the
    variance of each separated signal: its power), as models.measured_concepts.percussive_share defines it."""
    from audioconcept.data.features_csv import FEATURE_NAMES

    col = {n: table.X[:, i] for i, n in enumerate(FEATURE_NAMES)}
    h, p = col["harmony_var"], col["perceptr_var"]
    share = np.divide(p, h + p, out=np.zeros_like(p), where=(h + p) > 0)
    return {**{m: col[m] for m, _ in TABLE_MEASURES.values() if m in col}, "percussive_share": share}


def _table_rows(path: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """-> (X (tracks, concepts in TABLE_MEASURES order, signed so that more is more of the concept), labels) of the
    table's `split` tracks."""
    from audioconcept.data.features_csv import read_features_csv
    from audioconcept.data.gtzan import split_list

    table = read_features_csv(path)
    keep_names = {Path(s).name for s in split_list(split)}
    keep = np.array([Path(f).name in keep_names for f in table.filenames])
    if not keep.any():
        from audioconcept.errors import DataSpecError

        raise DataSpecError(f"{path}: no track of the {split} split")
    measures = table_measures(table)
    X = np.column_stack([sign * measures[m][keep] for m, sign in TABLE_MEASURES.values()])
    return X, table.labels[keep]


def table_evidence(path: str | Path, labels: list[str], split: str = TABLE_SPLIT) -> tuple[dict[str, np.ndarray], int]:
    """concept -> (genres,) one-sided p-values on the table's `split` tracks, and how many tracks that is."""
    from audioconcept.train.probe import one_sided_p

    X, y = _table_rows(path, split)
    p = one_sided_p(X, y, labels)
    return {concept: p[:, j] for j, concept in enumerate(TABLE_MEASURES)}, len(y)


# "typical of a genre": its tracks have more of the measured concept than the other genres' tracks in at least this
# share of pairs (the common-language effect size, U / (n1 n2)); 0.64 is Cohen's "medium" (d = 0.5) on that scale
TYPICAL_MIN_EFFECT = 0.64
TYPICAL_RULE = (
    "a measured concept whose effect on the GTZAN features table's {tracks} training-split tracks is at least medium: "
    "the genre's tracks have more of it than the other genres' tracks in at least {min:.0%} of pairs "
    "(common-language effect size; Cohen's d 0.5)"
)


def effect_sizes(X: np.ndarray, y: np.ndarray, labels: list[str]) -> np.ndarray:
    """(G, F) common-language effect sizes: the share of (genre row, other row) pairs in which the genre's row has
    more of the feature, ties counting half: the Mann-Whitney U of the genre's rows (the statistic of the test that
    train.probe.one_sided_p takes its p-values from) over n1 n2; 0.5 where a genre has no row."""
    from scipy.stats import mannwhitneyu

    X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
    out = np.full((len(labels), X.shape[1]), 0.5)
    for g, lab in enumerate(labels):
        inside, outside = X[y == lab], X[y != lab]
        if len(inside) and len(outside):
            u = mannwhitneyu(inside, outside, alternative="greater", axis=0).statistic
            out[g] = u / (len(inside) * len(outside))
    return out


def table_typical(
    path: str | Path,
    labels: list[str],
    concepts: list[str],
    min_effect: float = TYPICAL_MIN_EFFECT,
    split: str = TABLE_SPLIT,
) -> dict[str, dict[str, float]]:
    """genre -> {measured concept: effect size} for the `concepts` (a head's: others are left out) whose effect on the
    table's `split` tracks reaches `min_effect`: the musical character of each genre that nine times the songs of the
    shared clips support, which a song that has the concept shares with the genre (runtime: a reason's "typical of")."""
    X, y = _table_rows(path, split)
    E = effect_sizes(X, y, labels)
    names = list(TABLE_MEASURES)
    return {
        lab: {c: round(float(E[g, j]), 4) for j, c in enumerate(names) if c in concepts and E[g, j] >= min_effect}
        for g, lab in enumerate(labels)
    }


def fixed_p(concepts_of: list[str], labels: list[str], table_p: dict[str, np.ndarray]) -> np.ndarray:
    """(genres, features): the table's p-value where a feature's concept is measured there, NaN elsewhere (those
    are tested on the head's own training songs)."""
    from audioconcept.models.tag_concepts import base_concept

    out = np.full((len(labels), len(concepts_of)), np.nan)
    for f, c in enumerate(concepts_of):
        p = table_p.get(base_concept(c))
        if p is not None:
            out[:, f] = p
    return out
