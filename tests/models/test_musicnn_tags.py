from audioconcept.models import musicnn_tags as t


def test_every_source_tag_has_exactly_one_concept():
    labels = [lab for _, (_, labs) in t.CONCEPTS.items() for lab in labs]
    assert len(labels) == len(set(labels)) == 100
    assert set(labels) == {f"{s}:{tag}" for s, tags in t.SOURCES.items() for tag in tags}
    assert all(cat in t.CATEGORIES for cat, _ in t.CONCEPTS.values())


def test_output_order_and_labels():
    for source, tags in t.SOURCES.items():
        infos = t.tag_info(source)
        assert [i.tag for i in infos] == list(tags)
        assert {i.source for i in infos} == {source}
    assert t.TAGS["MSD:Hip-Hop"].concept == "hip hop"
    assert t.TAGS["MTT:rock"].label == "MTT:rock"


def test_synonyms_share_a_concept_across_sources():
    assert {t.TAGS[k].concept for k in ("MSD:female vocalists", "MSD:female vocalist", "MTT:female", "MTT:woman")} == {
        "female voice"
    }
    assert {t.TAGS[k].concept for k in ("MSD:male vocalists", "MTT:male", "MTT:man")} == {"male voice"}
    assert {t.TAGS[k].concept for k in ("MSD:instrumental", "MTT:no vocals", "MTT:no voice")} == {"instrumental"}
    assert t.TAGS["MSD:rock"].concept == t.TAGS["MTT:rock"].concept == "rock"


def test_genre_named_tags_are_separated_from_musical_concepts():
    genre_named = {k for k, i in t.TAGS.items() if i.genre_named}
    assert {"MSD:rock", "MSD:jazz", "MSD:Hip-Hop", "MSD:80s", "MTT:classical", "MTT:techno"} <= genre_named
    concepts = {k for k, i in t.TAGS.items() if not i.genre_named}
    assert {"MTT:piano", "MTT:female", "MTT:fast", "MTT:loud", "MSD:sad", "MTT:beat", "MSD:instrumental"} <= concepts
    assert len(concepts) == 51
    assert "jazz" not in t.concept_names(include_genre_named=False)
    assert "piano" in t.concept_names(include_genre_named=False)
    d = t.TAGS["MSD:80s"].to_dict()
    assert d == {"label": "MSD:80s", "source": "MSD", "tag": "80s", "concept": "80s", "category": "era",
                 "genre_named": True}  # fmt: skip
