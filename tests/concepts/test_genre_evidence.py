"""The evidence for the measured concepts: the GTZAN features table's training-split tracks, per genre."""

from __future__ import annotations

import numpy as np
import pytest

from audioconcept import GTZAN_GENRES
from audioconcept.concepts.genre_evidence import (
    TABLE_MEASURES,
    TYPICAL_MIN_EFFECT,
    effect_sizes,
    fixed_p,
    table_evidence,
    table_typical,
)
from audioconcept.models.tag_concepts import base_concept
from tests.conftest import SHARED_GTZAN

TABLE = SHARED_GTZAN / "features_30_sec.csv"


def _table(path, rows):
    from audioconcept.data.features_csv import FEATURE_NAMES

    head = ";".join(["filename", "length", *FEATURE_NAMES, "label"])
    path.write_text(head + "\n" + "\n".join(";".join(map(str, r)) for r in rows) + "\n")
    return path


def test_a_genre_louder_than_the_rest_is_loud_and_not_quiet(tmp_path):
    from audioconcept.data.features_csv import FEATURE_NAMES
    from audioconcept.data.gtzan import split_list

    rng = np.random.default_rng(0)
    train = [s.split("/")[-1] for s in split_list("train")]
    test = {s.split("/")[-1] for s in split_list("test")}
    rows = []
    for name in train + sorted(test)[:40]:
        genre = name.split(".")[0]
        x = rng.uniform(0.5, 1.5, len(FEATURE_NAMES))
        if genre == "metal":
            x[FEATURE_NAMES.index("rms_mean")] += 1.0
        if name in test:  # the test split never speaks: its rows are all "classical is loud"
            x[FEATURE_NAMES.index("rms_mean")] = 100.0 if genre == "classical" else 0.0
        rows.append([name, 661794, *x, genre])
    p, n = table_evidence(_table(tmp_path / "t.csv", rows), list(GTZAN_GENRES))
    metal, classical = GTZAN_GENRES.index("metal"), GTZAN_GENRES.index("classical")
    assert n == len(train)
    assert p["loud"][metal] < 1e-6 and p["quiet"][metal] > 0.99
    assert p["loud"][classical] > 0.05
    assert set(p) == set(TABLE_MEASURES)


def test_a_displaced_tag_takes_the_evidence_of_its_concept():
    labels = ["metal", "jazz"]
    table = {"loud": np.array([1e-4, 0.9])}
    P = fixed_p(["loud (musicnn tag)", "loud", "piano"], labels, table)
    assert base_concept("loud (musicnn tag)") == "loud"
    assert P[0, 0] == P[0, 1] == 1e-4 and np.isnan(P[:, 2]).all()


def test_on_real_gtzan_metal_is_loud_and_bright_and_classical_quiet_and_harmonic():
    if not TABLE.is_file():
        pytest.skip("../shared/gtzan/features_30_sec.csv is not present")
    p, n = table_evidence(TABLE, list(GTZAN_GENRES))
    g = {lab: i for i, lab in enumerate(GTZAN_GENRES)}
    assert n > 400
    assert p["loud"][g["metal"]] < 0.01 and p["bright"][g["metal"]] < 0.01
    assert p["quiet"][g["classical"]] < 1e-6 and p["harmonic"][g["classical"]] < 1e-6
    assert p["loud"][g["classical"]] > 0.5


def test_an_effect_size_is_the_share_of_pairs_in_which_the_genre_has_more_ties_half():
    rng = np.random.default_rng(2)
    X = np.round(rng.normal(0, 1, (60, 3)), 1)  # rounded: ties happen
    y = np.array(["a", "b", "c"] * 20)
    E = effect_sizes(X, y, ["a", "b", "c", "none"])
    for g, lab in enumerate("abc"):
        inside, outside = X[y == lab], X[y != lab]
        for f in range(3):
            d = inside[:, f][:, None] - outside[:, f][None, :]
            assert E[g, f] == pytest.approx(((d > 0) + 0.5 * (d == 0)).mean())
    assert (E[3] == 0.5).all()  # a genre with no rows: no effect


def test_typical_of_a_genre_needs_a_medium_effect_on_the_table_and_one_of_the_heads_concepts(tmp_path):
    from audioconcept.data.features_csv import FEATURE_NAMES
    from audioconcept.data.gtzan import split_list

    rng = np.random.default_rng(4)
    rows = []
    for s in split_list("train"):
        name = s.split("/")[-1]
        genre = name.split(".")[0]
        x = rng.uniform(0.5, 1.5, len(FEATURE_NAMES))
        if genre == "metal":
            x[FEATURE_NAMES.index("rms_mean")] += 0.6  # louder, by a large effect
        if genre == "jazz":
            x[FEATURE_NAMES.index("rms_mean")] += 0.02  # by a negligible one
        rows.append([name, 661794, *x, genre])
    path = _table(tmp_path / "t.csv", rows)
    t = table_typical(path, list(GTZAN_GENRES), ["loud", "quiet", "piano"])
    assert set(t) == set(GTZAN_GENRES)
    assert "loud" in t["metal"] and t["metal"]["loud"] >= TYPICAL_MIN_EFFECT and "quiet" not in t["metal"]
    assert "loud" not in t["jazz"]
    assert all(set(v) <= {"loud", "quiet"} for v in t.values())  # only the head's concepts, only measured ones
    assert "loud" not in table_typical(path, list(GTZAN_GENRES), ["quiet"])["metal"]


def test_on_real_gtzan_classical_is_typically_quiet_and_harmonic_and_metal_bright():
    if not TABLE.is_file():
        pytest.skip("../shared/gtzan/features_30_sec.csv is not present")
    t = table_typical(TABLE, list(GTZAN_GENRES), list(TABLE_MEASURES))
    assert {"quiet", "harmonic"} <= set(t["classical"]) and "bright" in t["metal"] and "loud" in t["hiphop"]
    assert "loud" not in t["classical"] and "quiet" not in t["metal"]  # never both sides of a pair
    assert all(e >= TYPICAL_MIN_EFFECT for v in t.values() for e in v.values())
