"""Orchestral and band arrangements: a many-part score given to an orchestra's sections by register, or to a band
(lead, chords, bass, drums), with exact truth."""

import numpy as np
import pytest

from audioconcept.data.render.arrange import (
    BAND_BASS,
    BAND_LEADS,
    BAND_RHYTHM,
    MIN_STYLED_PARTS,
    ORCHESTRA_STRINGS,
    ORCHESTRA_WINDS,
    draw,
)
from audioconcept.data.render.pieces import Part, Piece


def _piece(n_parts: int, from_score: bool = True) -> Piece:
    """A chorale-like score: n parts of quarter notes for 40 quarters, the highest first, a fifth apart."""
    parts = []
    for i in range(n_parts):
        t = np.arange(40, dtype=float)
        pitch = 72 - 7 * i + (np.arange(40) % 3)
        parts.append(Part(f"part{i}", np.column_stack([t, t + 0.9, pitch, np.full(40, 80.0)])))
    return Piece("m21:test/chorale", "chorale", tuple(parts), np.array([[0.0, 60.0]]), from_score=from_score)


def _draws(n: int = 40):
    return [draw(_piece(4), np.random.default_rng(s), f"o{s:05d}", (12.0, 16.0), style="orchestra") for s in range(n)]


def test_orchestra_sections_follow_the_register():
    for arr in _draws():
        assert arr.style == "orchestra"
        assert not any(st.is_drum for st in arr.stems)  # no drum kit under an orchestra
        by_part = {}
        for st in arr.stems:
            by_part.setdefault(st.name.split(" ")[0], []).append(st)
        assert set(by_part) == {"part0", "part1", "part2", "part3"}
        for st in arr.stems:
            part = st.name.split(" ")[0]
            reg = "top" if part == "part0" else "low" if part == "part3" else "inner"
            if "(contrabass)" in st.name:
                cello = next(x for x in by_part[part] if x.program == 42)
                assert st.program == 43 and np.allclose(st.notes[:, 2], np.clip(cello.notes[:, 2] - 12, 28, 127))
            elif "(winds)" in st.name:
                assert st.program in ORCHESTRA_WINDS[reg]
            else:
                assert st.program in ORCHESTRA_STRINGS[reg]
        low = [st for st in by_part["part3"] if "(" not in st.name]
        if low:  # the celli play the lowest part in the celli's register
            assert 40 <= low[0].notes[:, 2].mean() <= 55 and "cello" in low[0].concepts


def test_the_three_kinds_of_orchestra_and_their_truth():
    kinds = set()
    for arr in _draws(60):
        strings = any("strings" in st.concepts for st in arr.stems)
        winds = any(st.concepts and st.concepts[0] in ("brass", "woodwinds", "trumpet", "flute") for st in arr.stems)
        kinds.add((strings, winds))
        if strings and not winds:
            assert all("strings" in st.concepts for st in arr.stems)  # a string orchestra holds nothing else
    # full orchestra (strings doubled by winds), string orchestra, wind and brass band: every kind is drawn
    assert kinds == {(True, True), (True, False), (False, True)}


@pytest.mark.parametrize("style", ["orchestra", "band"])
def test_an_orchestra_or_a_band_needs_a_score_of_enough_parts(style):
    rng = np.random.default_rng(0)
    assert draw(_piece(MIN_STYLED_PARTS - 1), rng, "o1", style=style) is None
    assert draw(_piece(4, from_score=False), rng, "o2", style=style) is None
    with pytest.raises(ValueError, match="unknown arrangement style"):
        draw(_piece(4), rng, "o3", style="polka")
    # without a style the arrangement draws its own, as before
    assert draw(_piece(4), np.random.default_rng(1), "a1").style in ("solo", "ensemble", "mixed")


def test_a_band_has_a_lead_chords_a_bass_in_its_register_and_drums_throughout():
    leads, rhythms = set(), set()
    for seed in range(40):
        arr = draw(_piece(4), np.random.default_rng(seed), f"b{seed:05d}", (12.0, 16.0), style="band")
        assert arr.style == "band"
        lead = next(st for st in arr.stems if st.name.endswith("(lead)"))
        assert any(lead.program in progs for progs in BAND_LEADS.values())
        leads.add(lead.program)
        chords = [st for st in arr.stems if st.name.startswith("chords")]
        assert 1 <= len(chords) <= 2
        for st in chords:
            fam = st.name[len("chords (") : -1]
            assert st.program in BAND_RHYTHM[fam] and fam not in lead.name
            # the inner parts sound together as chords
            assert len(st.notes) == 2 * len(lead.notes) and 50 <= st.notes[:, 2].mean() <= 67
            rhythms.add(st.program)
        bass = next(st for st in arr.stems if st.name.endswith("(bass)"))
        assert bass.program in BAND_BASS and 31 <= bass.notes[:, 2].mean() <= 45 and "bass" in bass.concepts
        drums = [st for st in arr.stems if st.is_drum]
        assert len(drums) == 1 and drums[0].concepts == ("drums",) and drums[0].notes[:, 0].max() > 8.0
    assert len(leads) >= 6 and len(rhythms) >= 6  # the draw covers the families
    # a clean electric guitar sometimes plays through a distortion, and is then a distorted guitar
    distorted = [
        st
        for seed in range(60)
        for st in draw(_piece(4), np.random.default_rng(seed), "b", (12.0, 16.0), style="band").stems
        if st.program in (26, 27) and "distorted_guitar" in st.concepts
    ]
    assert distorted


def test_a_named_solo_family_and_tuned_percussion_as_negatives():
    from audioconcept.data.render.arrange import NAMED_SOLO_PROGRAMS

    for s in range(20):
        arr = draw(_piece(3), np.random.default_rng(s), f"s{s:05d}", (12.0, 16.0), style="solo", solo_family="mallets")
        (stem,) = arr.stems
        assert arr.style == "solo" and stem.program in NAMED_SOLO_PROGRAMS["mallets"] and not stem.is_drum
        assert stem.concepts == () and stem.uncertain == ()  # a vibraphone is none of the instruments: all absent
        assert stem.notes[:, 2].min() >= 60 and stem.notes[:, 2].max() <= 90
        violin = draw(_piece(3), np.random.default_rng(s), "s", (12.0, 16.0), style="solo", solo_family="violin")
        assert violin.stems[0].program == 40 and "violin" in violin.stems[0].concepts
    assert draw(_piece(1), np.random.default_rng(0), "s", (12.0, 16.0), style="solo").style == "solo"  # one part
    assert draw(_piece(3, from_score=False), np.random.default_rng(0), "s", (12.0, 16.0), style="solo") is None
    for bad in ({"style": None, "solo_family": "mallets"}, {"style": "solo", "solo_family": "kazoo"}):
        with pytest.raises(ValueError, match="solo_family"):
            draw(_piece(3), np.random.default_rng(0), "s", (12.0, 16.0), **bad)
