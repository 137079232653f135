"""Concepts that cannot both sound at one moment: loud and quiet, bright and dark, fast and slow, voice and
instrumental, major and minor.

Each concept has its own threshold, so both sides of such a pair can cross theirs in the same window: the loud
probe's threshold is low and the quiet probe's high; musicnn's own "loud" tag may fire where our quiet probe does. A
musician rejects "loud and quiet" at one moment. So at each moment (a window, a timeline cell) where both sides are
above their thresholds, only the side whose strongest member is further above its threshold stays present; the
distance is in log-odds, the scale of a logistic probe and of a tagger's sigmoid, so that thresholds of 0.02 and 0.45
compare. Strengths are never changed: what the model says is kept, only presence and spans follow the rule.

Percussive and harmonic are not opposites (a band has both), nor are a female and a male voice (a duet).

A bundle may list its own pairs in `concepts.exclusive` ([[side A names], [side B names]], ...); otherwise they come
from `OPPOSITES` by name (case, "_" and "-" ignored), and only the names the bundle has count.
"""

from __future__ import annotations

import numpy as np

# (side A, side B): names as the concepts are called (musicnn's tags keep their own names in the default bundle)
OPPOSITES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("loud", "loud (musicnn tag)"), ("quiet", "soft", "quiet (musicnn tag)")),
    (("bright",), ("dark",)),
    (("fast", "fast tempo", "fast (musicnn tag)"), ("slow", "slow tempo", "slow (musicnn tag)")),
    (("vocals", "female voice", "male voice", "choir", "choir (musicnn tag)", "singing"), ("instrumental",)),
    (("major", "major mode"), ("minor", "minor mode")),
)
# log-odds are taken of probabilities clipped to [EPS, 1 - EPS]: a threshold of 0 or 1 stays finite
EPS = 1e-6

Groups = tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]


def _key(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").replace("-", " ").split())


def exclusive_groups(names: list[str] | tuple[str, ...], pairs=None) -> Groups:
    """Concept indices of each pair of opposite sides that the bundle has on both sides."""
    index = {_key(n): k for k, n in enumerate(names)}
    out = []
    for a, b in OPPOSITES if pairs is None else pairs:
        ia = tuple(sorted({index[_key(n)] for n in a if _key(n) in index}))
        ib = tuple(sorted({index[_key(n)] for n in b if _key(n) in index}))
        if ia and ib and not set(ia) & set(ib):
            out.append((ia, ib))
    return tuple(out)


def groups_from_manifest(m: dict) -> Groups:
    """The bundle's `concepts.exclusive` where it has one, else `OPPOSITES` by name."""
    c = m.get("concepts") or {}
    names = list(c.get("names") or ())
    given = c.get("exclusive")
    return exclusive_groups(names, given if given is not None else None)


def opposites_of(k: int, groups: Groups) -> tuple[int, ...]:
    """The concepts on the other side of every pair that concept `k` is on."""
    return tuple(j for a, b in groups for j in (b if k in a else a if k in b else ()))


def groups_as_names(names: list[str] | tuple[str, ...], groups: Groups) -> list[list[list[str]]]:
    """The pairs as the manifest writes them (`concepts.exclusive`): [[side A names], [side B names]], ..."""
    return [[[names[i] for i in a], [names[i] for i in b]] for a, b in groups]


def log_odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def present_mask(values: np.ndarray, thresholds, groups: Groups, allowed=None) -> np.ndarray:
    """(K, N) concept strengths at N moments -> (K, N) bool: above its threshold, allowed (a concept that failed
    validation is never present, and so never silences its opposite), and not outweighed by its opposite at that
    moment. NaN (no window covers the moment) is never present. Ties keep side A."""
    v = np.asarray(values, dtype=np.float64)
    thr = np.asarray(thresholds, dtype=np.float64).reshape(-1, *([1] * (v.ndim - 1)))
    on = np.nan_to_num(v, nan=-np.inf) >= thr
    if allowed is not None:
        on &= np.asarray(allowed, dtype=bool).reshape(thr.shape)
    if not groups or v.size == 0:
        return on
    margin = np.where(on, log_odds(np.nan_to_num(v, nan=0.0)) - log_odds(thr), -np.inf)
    out = on.copy()
    for a, b in groups:
        ma, mb = margin[list(a)].max(axis=0), margin[list(b)].max(axis=0)
        both = np.isfinite(ma) & np.isfinite(mb)
        out[list(b)] &= ~(both & (ma >= mb))
        out[list(a)] &= ~(both & (ma < mb))
    return out
