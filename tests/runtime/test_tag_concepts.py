"""A tag bundle in the song pipeline: tags merged into clean concepts, genre logits split exactly into named
contributions, and a second head applied in numpy (--head)."""

import numpy as np
import pytest

from audioconcept.data.audio import Window
from audioconcept.errors import AudioConceptError
from audioconcept.models.musicnn_tags import MSD_TAGS, MTT_TAGS, TAGS
from audioconcept.models.tag_concepts import concepts_section
from audioconcept.runtime.aggregate import SongAggregator, SongSettings, softmax
from audioconcept.runtime.tag_concepts import GenreHead, TagVocabulary, describe, signed

TAG_LABELS = [f"MSD:{t}" for t in MSD_TAGS] + [f"MTT:{t}" for t in MTT_TAGS]
GENRES = ["jazz", "metal", "pop"]


def _head(rng, features: list[str]) -> dict:
    w = rng.normal(0, 3, (len(GENRES), len(features)))
    ref = rng.uniform(0, 0.3, len(features))
    intercept = rng.normal(0, 1, len(GENRES))
    return {
        "input": "tags",
        "features": features,
        "weights": w.tolist(),
        "bias": (intercept - w @ ref).tolist(),
        "intercept": intercept.tolist(),
        "reference": ref.tolist(),
    }


@pytest.fixture
def manifest():
    rng = np.random.default_rng(0)
    musical = [t for t in TAG_LABELS if not TAGS[t].genre_named]
    return {
        "name": "tagprobe",
        "labels": GENRES,
        "window_s": 2.976,
        "concepts": concepts_section(TAG_LABELS, [0.2] * 73),
        "genre_heads": {
            "in_graph": "all-tags",
            "heads": {"all-tags": _head(rng, TAG_LABELS), "musical": _head(rng, musical)},
        },
    }


def _windows(n: int) -> list[Window]:
    return [Window(i, 2.992 * i, 2.992 * i + 2.976, np.full(10, 0.1, np.float32), 10) for i in range(n)]


def test_contributions_add_up_to_the_logits_per_window_and_per_song(manifest):
    rng = np.random.default_rng(1)
    head = GenreHead.from_manifest(manifest)
    tags = rng.uniform(0, 1, (6, 100))
    logits = head.logits(tags)
    c = head.contributions(tags)  # (6, G, K)
    assert c.shape == (6, 3, 73)
    np.testing.assert_allclose(head.intercept + c.sum(-1), logits, atol=1e-10)
    # a song's logits are the mean of its windows': so are its contributions
    e = head.explain(tags.mean(0), "pop")
    assert e["logit"] == pytest.approx(logits.mean(0)[2], abs=1e-5)
    both = e["contributions"] + e["similar_to"] + e["failed"]
    assert e["intercept"] + sum(x["value"] for x in both) == pytest.approx(e["logit"], abs=1e-4)
    # musical concepts are the reasons; genre-, style- and era-named ones are kept apart, as "similar to"
    assert not any(x["genre_named"] for x in e["contributions"])
    assert all(x["genre_named"] for x in e["similar_to"])
    named = {x["concept"]: x["genre_named"] for x in both}
    assert named["jazz"] and not named["piano"]
    assert describe(e).startswith("pop: ")


def test_the_song_pipeline_shows_clean_concepts_keeps_source_tags_and_explains(manifest):
    rng = np.random.default_rng(2)
    settings = SongSettings.from_manifest(manifest)
    agg = SongAggregator(settings)
    tags = rng.uniform(0, 0.1, (4, 100))
    tags[:, TAG_LABELS.index("MTT:woman")] = 0.9  # one source tag of "female voice"
    logits = settings.head.logits(tags)
    agg.add(_windows(4), logits, softmax(logits), tags, tags[..., None])
    r = agg.result("song.wav", "m", "musicnn-probe", "", "onnx", "cpu", top_k=3)
    assert len(r.concepts) == 73 and r.concepts["female voice"] == pytest.approx(0.9)
    assert "female voice" in r.concepts_present and any(s.concept == "female voice" for s in r.concept_spans)
    assert r.tags["MTT:woman"] == pytest.approx(0.9) and len(r.windows[0].tags) == 100
    assert r.explanation["head"] == "all-tags" and [g["genre"] for g in r.explanation["genres"]] == [
        g for g, _ in r.genres
    ]
    for g in r.explanation["genres"]:
        k = GENRES.index(g["genre"])
        assert g["logit"] == pytest.approx(logits.mean(0)[k], abs=1e-5)
    assert r.windows[0].explanation and len(r.windows[0].explanation) == settings.top_contributions
    d = r.to_dict()
    assert d["tags"] and d["windows"][0]["explanation"][0]["concept"]


def test_a_second_head_runs_in_numpy_on_the_graph_tags(manifest):
    rng = np.random.default_rng(3)
    tags = rng.uniform(0, 1, (3, 100))
    graph_logits = GenreHead.from_manifest(manifest).logits(tags)
    s = SongSettings.from_manifest(manifest, head="musical")
    assert s.head.name == "musical" and not s.head.in_graph
    agg = SongAggregator(s)
    agg.add(_windows(3), graph_logits, softmax(graph_logits), tags, tags[..., None])
    r = agg.result("song.wav", "m", "musicnn-probe", "", "onnx", "cpu", top_k=3)
    want = softmax(s.head.logits(tags).mean(0))
    np.testing.assert_allclose(sorted(p for _, p in r.genres), sorted(want), atol=1e-9)
    assert r.explanation["head"] == "musical"
    assert not any(c["genre_named"] for g in r.explanation["genres"] for c in g["contributions"])
    with pytest.raises(AudioConceptError, match="choose from all-tags, musical"):
        SongSettings.from_manifest(manifest, head="everything")
    with pytest.raises(AudioConceptError, match="no genre heads"):
        SongSettings.from_manifest({"name": "cnn", "labels": GENRES, "window_s": 1.0}, head="musical")


def test_a_bare_tagger_ranks_tags_by_mean_probability():
    m = {
        "name": "t",
        "labels": TAG_LABELS,
        "window_s": 2.976,
        "multi_label": True,
        "concepts": concepts_section(TAG_LABELS),
    }
    s = SongSettings.from_manifest(m)
    assert s.multi_label and s.head is None and isinstance(s.tags, TagVocabulary)
    logits = np.full((2, 100), -5.0)
    logits[0, 3], logits[1, 7] = 4.0, 1.0
    p = 1 / (1 + np.exp(-logits))
    agg = SongAggregator(s)
    agg.add(_windows(2), logits, p, p, p[..., None])
    r = agg.result("s.wav", "t", "musicnn-ensemble", "", "onnx", "cpu", top_k=2)
    assert [g for g, _ in r.genres] == [TAG_LABELS[3], TAG_LABELS[7]]
    assert r.genres[0][1] == pytest.approx(p[:, 3].mean())


def _nonnegative_logodds_head(rng, features: list[str]) -> dict:
    h = _head(rng, features)
    w = np.abs(np.asarray(h["weights"]))
    ref = rng.normal(-3, 1, len(features))  # log-odds of small probabilities
    intercept = np.asarray(h["intercept"])
    return {
        **h,
        "weights": w.tolist(),
        "bias": (intercept - w @ ref).tolist(),
        "reference": ref.tolist(),
        "transform": "logodds",
        "nonnegative": True,
        "accuracy": {"cv": {"accuracy": 0.78, "std": 0.02}},
    }


@pytest.fixture
def reasons_manifest(manifest):
    rng = np.random.default_rng(5)
    musical = [t for t in TAG_LABELS if not TAGS[t].genre_named][:20]
    gh = manifest["genre_heads"]
    return {
        **manifest,
        "genre_heads": {
            **gh,
            "reasons": "validated",
            "heads": {**gh["heads"], "validated": _nonnegative_logodds_head(rng, musical)},
        },
    }


def test_a_logodds_head_reads_log_odds_and_a_song_is_the_mean_of_its_windows(reasons_manifest):
    rng = np.random.default_rng(6)
    head = GenreHead.from_manifest(reasons_manifest, "validated")
    assert head.transform == "logodds" and head.accuracy == pytest.approx(0.78)
    tags = rng.uniform(0, 1, (5, 100))
    tags[0, head.features[0]] = 1.0  # clipped, not infinite
    x = head.inputs(tags)
    p = np.clip(tags[:, head.features], 1e-4, 1 - 1e-4)
    np.testing.assert_allclose(x, np.log(p / (1 - p)), atol=1e-9)
    logits = head.logits(tags)
    assert np.isfinite(logits).all()
    np.testing.assert_allclose(head.intercept + head.contributions(tags).sum(-1), logits, atol=1e-9)
    # a song: the mean of its windows' inputs, so its logits are the mean of its windows' logits, exactly
    np.testing.assert_allclose(head.logits(tags, song=True), logits.mean(0), atol=1e-9)
    e = head.explain(tags, "metal", song=True)
    assert e["logit"] == pytest.approx(logits.mean(0)[1], abs=1e-5)
    # the strongest support first; with non-negative weights a reason is always "more" of a concept
    values = [c["value"] for c in e["contributions"]]
    assert values == sorted(values, reverse=True)
    assert all(c["direction"] == "more" for c in e["contributions"] if c["value"] > 0)


def test_the_reasons_head_explains_the_genres_that_the_default_head_chose(reasons_manifest):
    rng = np.random.default_rng(7)
    s = SongSettings.from_manifest(reasons_manifest)
    assert s.head.name == "all-tags" and s.reasons.name == "validated"
    tags = rng.uniform(0, 0.3, (4, 100))
    logits = s.head.logits(tags)
    agg = SongAggregator(s)
    agg.add(_windows(4), logits, softmax(logits), tags, tags[..., None])
    r = agg.result("song.wav", "m", "musicnn-probe", "", "onnx", "cpu", top_k=3)
    ex = r.explanation
    assert ex["head"] == "validated" and ex["genres_from"] == "all-tags" and ex["reasons_accuracy"] == 0.78
    assert [g["genre"] for g in ex["genres"]] == [g for g, _ in r.genres]  # the chosen genres, in their order
    own = GENRES[int(np.argmax(s.reasons.logits(tags).mean(0)))]
    assert ex["reasons_genre"] == own and ex["agrees"] == (own == r.genres[0][0])
    for g in ex["genres"]:  # the reasons head's own logits, split exactly
        assert g["logit"] == pytest.approx(s.reasons.logits(tags).mean(0)[GENRES.index(g["genre"])], abs=1e-5)
    # every window's reasons are the reasons head's too
    here = s.present_at(s.tags.merge(tags).T)[:, 0]  # the concepts present in the first window
    w0 = s.reasons.explain(tags[0], r.windows[0].genre, s.top_contributions, present=here)["contributions"]
    assert r.windows[0].explanation == w0 and all("present" in c for c in w0)
    # --head chooses the head of both the genres and the reasons
    s2 = SongSettings.from_manifest(reasons_manifest, head="musical")
    assert s2.head.name == s2.reasons.name == "musical"
    bad = {**reasons_manifest, "genre_heads": {**reasons_manifest["genre_heads"], "reasons": "nope"}}
    with pytest.raises(AudioConceptError, match="genre_heads.reasons names 'nope', not one"):
        SongSettings.from_manifest(bad)


def test_a_reason_is_a_concept_present_that_speaks_for_the_genre(reasons_manifest):
    rng = np.random.default_rng(8)
    head = GenreHead.from_manifest(reasons_manifest, "validated")
    tags = rng.uniform(0, 1, (3, 100))
    names = head.vocabulary.names
    full = head.explain(tags, "metal", song=True)
    support = [c["concept"] for c in full["contributions"] if c["value"] > 0]
    assert len(support) >= 3
    # the strongest supporter is absent from the song, the third one present: the present one leads
    present = np.array([n == support[2] for n in names])
    e = head.explain(tags, "metal", song=True, present=present)
    assert e["contributions"][0]["concept"] == support[2] and e["contributions"][0]["present"]
    assert sorted(c["concept"] for c in e["contributions"]) == sorted(c["concept"] for c in full["contributions"])
    assert e["logit"] == full["logit"]  # the same split, in another order
    assert describe(e, 5).split(": ", 1)[1].startswith(f"{support[2]} +")
    assert "," not in describe(e, 5)  # only the one reason: the others are not present
    nothing = head.explain(tags, "metal", song=True, present=np.zeros(len(names), bool))
    assert describe(nothing) == "metal: no concept present speaks for it"
    # no reason, but a concept that would speak for the genre is borderline in the song: it is named as such
    near = describe(nothing, 5, borderline={support[1], "not a reason anywhere"})
    value = next(c["value"] for c in nothing["contributions"] if c["concept"] == support[1])
    assert near == f"metal: no concept present speaks for it (borderline: {support[1]} {signed(value)})"
    assert describe(e, 5, borderline={support[1]}) == describe(e, 5)  # a song with a reason says only that


def test_a_contribution_that_rounds_to_nothing_is_never_minus_zero():
    from audioconcept.runtime.tag_concepts import describe_contributions, signed

    assert [signed(v) for v in (0.613, -0.4, -0.001, 0.004, 0.0)] == ["+0.61", "-0.40", "0.00", "0.00", "0.00"]
    rows = [{"concept": "guitar", "value": -0.003, "genre_named": False, "direction": "less"}]
    assert describe_contributions(rows) == "less guitar 0.00"


def test_a_share_too_small_to_show_is_no_reason_here_or_on_the_page():
    """A present concept whose contribution shows as "+0.00" (under REASON_MIN) is no reason: the table once read
    "blues: male voice +1.11, dark 0.00". The web page's two scripts keep the same bound."""
    import re
    from pathlib import Path

    import audioconcept.runtime as rt
    from audioconcept.runtime.tag_concepts import REASON_MIN, describe_contributions, reasons_of, signed

    rows = [
        {"concept": "male voice", "value": 1.11, "present": True, "genre_named": False, "direction": "more"},
        {"concept": "dark", "value": REASON_MIN / 3, "present": True, "genre_named": False, "direction": "more"},
        {"concept": "bright", "value": REASON_MIN, "present": True, "genre_named": False, "direction": "more"},
    ]
    assert [c["concept"] for c in reasons_of(rows)] == ["male voice", "bright"]
    assert describe_contributions(rows, reasons=True) == "male voice +1.11, bright +0.01"
    assert signed(REASON_MIN / 3) == "0.00" and signed(REASON_MIN) != "0.00"
    web = Path(rt.__file__).parent / "web"
    for js in (web / "view.js", web / "site" / "aggregate.js"):
        m = re.search(r"const REASON_MIN = ([0-9.e-]+);", js.read_text())
        assert m and float(m.group(1)) == REASON_MIN, js
    from audioconcept.models.tag_concepts import TAG_SUFFIX

    m = re.search(r'const TAG_SUFFIX = "([^"]+)";', (web / "site" / "aggregate.js").read_text())
    assert m and m.group(1) == TAG_SUFFIX


def _displaced_manifest(tag_status: dict[str, str]) -> dict:
    """Two concepts that moved to their probes, each with its displaced musicnn tag (status per concept)."""
    names = ["strings", "strings (musicnn tag)", "loud", "loud (musicnn tag)", "dark"]
    outputs = ["probe:strings", "MTT:strings", "probe:loud", "MTT:loud", "probe:dark"]
    w = np.array([[0.5, 0.4, 0.3, 0.2, 0.1], [0.1, 0.2, 0.6, 0.7, 0.0]])
    ref = np.full(5, 0.2)
    return {
        "name": "fold",
        "labels": ["classical", "metal"],
        "window_s": 3.0,
        "concepts": {
            "kind": "tags",
            "outputs": outputs,
            "names": names,
            "members": [[i] for i in range(5)],
            "genre_named": [False] * 5,
            "thresholds": [0.5] * 5,
            "validation": {n: {"status": tag_status.get(n, "validated")} for n in names},
        },
        "genre_heads": {
            "in_graph": "v",
            "heads": {
                "v": {
                    "input": "tags",
                    "features": outputs,
                    "weights": w.tolist(),
                    "bias": (-w @ ref).tolist(),
                    "intercept": [0.0, 0.0],
                    "reference": ref.tolist(),
                }  # fmt: skip
            },
        },
    }


def test_a_concept_and_its_displaced_tag_are_one_reason_unless_a_detector_failed():
    """Where a concept moved to its probe and its musicnn tag validated too, the reasons gave one idea twice
    ("strings +1.38 ... strings (musicnn tag) +1.12"): the two are one reason, with the sum of both
    contributions, present where either detector hears it. A tag that failed keeps its own row in `failed`."""
    m = _displaced_manifest({"loud (musicnn tag)": "failed"})
    head = GenreHead.from_manifest(m)
    assert head.vocabulary.folded == {1: 0}  # strings' tag folds; loud's failed tag does not
    x = np.array([0.9, 0.7, 0.8, 0.9, 0.6])
    present = np.array([False, True, True, True, False])  # only the tag hears strings; loud's tag is failed
    e = head.explain_inputs(x, "classical", present=present)
    rows = {c["concept"]: c for c in e["contributions"]}
    assert "strings (musicnn tag)" not in rows and "loud (musicnn tag)" not in rows
    assert rows["strings"]["value"] == pytest.approx(0.5 * 0.7 + 0.4 * 0.5)  # both detectors' shares
    assert rows["strings"]["present"]  # heard by the validated tag
    assert e["contributions"][0]["concept"] == "strings"
    assert [c["concept"] for c in e["failed"]] == ["loud (musicnn tag)"]
    assert e["logit"] == pytest.approx(float(head.logits_of(x)[0]), abs=1e-6)  # the split still adds up
    # a failed detector never lends its presence: loud is present on its own probe here, not through the tag
    e2 = head.explain_inputs(x, "metal", present=np.array([False, False, False, True, False]))
    assert not {c["concept"]: c for c in e2["contributions"]}["loud"]["present"]
    # not validated (or no validation at all): nothing folds
    unvalidated = _displaced_manifest({"strings (musicnn tag)": "not validated", "loud": "not validated"})
    assert GenreHead.from_manifest(unvalidated).vocabulary.folded == {}
    bare = _displaced_manifest({})
    del bare["concepts"]["validation"]
    assert TagVocabulary.from_manifest(bare).folded == {}


def test_a_measured_concept_typical_of_the_genre_is_shown_beside_its_reasons_never_twice():
    """`typical`: what the song has that the genre's tracks tend to have (the manifest's table effects), shown after
    the reasons: dark is typical of metal here but has no weight for it (so it is no reason), loud is both (so it
    stays a reason only); an absent concept, a failed one and a genre-named one are never typical."""
    m = _displaced_manifest({"strings": "failed"})
    m["genre_heads"]["heads"]["v"]["typical"] = {
        "rule": "a test rule",
        "min_effect": 0.64,
        "effect": {"metal": {"loud": 0.67, "dark": 0.7, "strings": 0.9}, "classical": {"dark": 0.84}},
    }
    head = GenreHead.from_manifest(m)
    assert head.typical["metal"] == {"loud": 0.67, "dark": 0.7, "strings": 0.9} and head.typical_rule == "a test rule"
    x = np.array([0.9, 0.7, 0.8, 0.9, 0.6])
    on = np.array([True, False, True, False, True])  # strings (failed), loud, dark
    e = head.explain_inputs(x, "metal", present=on)
    assert [c["concept"] for c in e["contributions"] if c["present"]][:1] == ["loud"]
    assert e["typical"] == [{"concept": "dark", "effect": 0.7}]  # loud is a reason already; strings failed
    assert describe(e, 5) == f"metal: loud {signed(e['contributions'][0]['value'])}; typical of metal: dark"
    # dark absent: nothing is typical; no present reason, but something typical: that alone is said
    assert head.explain_inputs(x, "metal", present=on & (np.arange(5) != 4))["typical"] == []
    only_dark = np.array([False, False, False, False, True])
    e2 = head.explain_inputs(x, "metal", present=only_dark)
    assert describe(e2) == "metal: typical of metal: dark"
    # the typical list adds nothing to the logit, and a bundle without it says nothing typical
    assert e2["logit"] == e["logit"]
    plain = GenreHead.from_manifest(_displaced_manifest({}))
    assert plain.explain_inputs(x, "metal", present=on)["typical"] == [] and plain.typical_rule == ""
    assert "typical" not in plain.explain_inputs(x, "metal")  # no `present`: no song to speak of


def test_a_manifest_cannot_make_a_concept_typical_that_is_not_one_or_of_a_genre_it_lacks(tmp_path):
    from audioconcept.errors import BundleError
    from audioconcept.runtime.manifest_check import check_consistency

    for effect, match in (
        ({"polka": {"dark": 0.7}}, 'typical.effect names "polka", not one of the labels'),
        ({"metal": {"happy": 0.7}}, 'typical.effect.metal names "happy", not one of the concepts'),
        ({"metal": {"dark": 0.55}}, "typical.effect.metal.dark is 0.55, under its min_effect"),
    ):
        m = _displaced_manifest({})
        m["genre_heads"]["heads"]["v"]["typical"] = {"min_effect": 0.64, "effect": effect}
        m["artifacts"] = {}
        with pytest.raises(BundleError, match=match):
            check_consistency(m, "t")
    ok = _displaced_manifest({})
    ok["genre_heads"]["heads"]["v"]["typical"] = {"min_effect": 0.64, "effect": {"metal": {"dark": 0.7}}}
    ok["artifacts"] = {}
    check_consistency(ok, "t")
