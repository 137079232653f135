"""The real-music report's reason table: concepts never validated are marked ?, and those that failed validation
are a column of their own, never among the reasons."""

from audioconcept.concepts.real_music_report import reasons_markdown


def test_reasons_table_marks_unvalidated_and_keeps_failed_apart():
    reasons = {
        "default_head": "all-tags",
        "top3": {
            "jazz": [
                {"concept": "solo", "mean": 0.65, "std": 0.1, "status": "not validated"},
                {"concept": "less male voice", "mean": 0.25, "std": 0.1, "status": "validated"},
            ],
            "metal": [],
        },
        "failed_top3": {"jazz": [{"concept": "sitar", "mean": 0.28, "std": 0.1, "status": "failed"}]},
    }
    md = reasons_markdown(reasons)
    jazz = next(line for line in md.splitlines() if line.startswith("| jazz |"))
    cells = [c.strip() for c in jazz.split("|")[1:-1]]
    assert cells[1] == "solo? +0.65, less male voice +0.25"
    assert cells[2] == "sitar +0.28" and "sitar" not in cells[1]
    metal = next(line for line in md.splitlines() if line.startswith("| metal |"))
    assert "none positive" in metal and "| – |" in metal


def test_a_genre_reason_is_a_concept_its_clips_have():
    """The genre table gives the reasons audioconcept-run gives: a concept counts for a clip only where the clip has
    it (its reasons list, `reasons_of`); one that no clip has is never a genre's reason, whatever its weight."""
    from audioconcept.concepts.real_music_report import reasons_by_genre

    clip_reasons = {
        "metal/a.flac": [{"concept": "drums", "value": 1.5, "status": "validated"}],
        "metal/b.flac": [
            {"concept": "loud", "value": 0.9, "status": "validated"},
            {"concept": "drums", "value": 0.5, "status": "validated"},
        ],
        "metal/c.flac": [],
        "jazz/a.flac": [{"concept": "trumpet", "value": 2.0, "status": "validated"}],
    }
    top = reasons_by_genre(clip_reasons, ["metal", "jazz", "pop"])
    assert [r["concept"] for r in top["metal"]] == ["drums", "loud"]  # acoustic guitar, in no clip, is no reason
    assert top["metal"][0] == {"concept": "drums", "mean": 0.6667, "clips": 2, "of": 3, "status": "validated"}
    assert top["metal"][1]["mean"] == 0.3 and top["metal"][1]["clips"] == 1
    assert top["jazz"] == [{"concept": "trumpet", "mean": 2.0, "clips": 1, "of": 1, "status": "validated"}]
    assert top["pop"] == []
    md = reasons_markdown({"default_head": "validated", "top3": top, "basis": "present"})
    metal = next(line for line in md.splitlines() if line.startswith("| metal |"))
    assert "drums +0.67 (2 of 3), loud +0.30 (1 of 3)" in metal
    pop = next(line for line in md.splitlines() if line.startswith("| pop |"))
    assert "none present" in pop
    assert "as `audioconcept-run` gives them" in md
