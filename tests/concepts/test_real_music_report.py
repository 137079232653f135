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
            {"concept": "dark", "value": 0.006, "status": "validated"},  # a reason of b; 0.002 over the genre
        ],
        "metal/c.flac": [],
        "jazz/a.flac": [{"concept": "trumpet", "value": 2.0, "status": "validated"}],
    }
    top = reasons_by_genre(clip_reasons, ["metal", "jazz", "pop"])
    # acoustic guitar, in no clip, is no reason; nor dark, whose share over the genre would print as "0.00"
    assert [r["concept"] for r in top["metal"]] == ["drums", "loud"]
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
    # with the head's typical concepts: a column of their own, with their effect, and the rule under the table
    typical = {"metal": {"loud": 0.6655, "bright": 0.7503}, "jazz": {}, "pop": {"bright": 0.85}}
    md = reasons_markdown({"default_head": "validated", "top3": top, "basis": "present", "typical": typical,
                           "typical_rule": "a rule"})  # fmt: skip
    metal = [c.strip() for c in next(ln for ln in md.splitlines() if ln.startswith("| metal |")).split("|")[1:-1]]
    assert metal[3] == "loud (67%), bright (75%)" and len(metal) == 5
    jazz = [c.strip() for c in next(ln for ln in md.splitlines() if ln.startswith("| jazz |")).split("|")[1:-1]]
    assert jazz[3] == "–" and md.rstrip().endswith("Typical: a rule.")


def test_validation_table_shows_how_firm_each_precision_is():
    """A precision of 0.71 on 7 windows and one of 0.88 on 327 read alike; the interval column tells them apart."""
    from audioconcept.concepts.probes import wilson_interval
    from audioconcept.concepts.real_music_report import validation_markdown
    from audioconcept.concepts.validated import Candidate, record

    def probe(prec, n):
        return Candidate("probe", {"auc": 0.9, "precision": prec, "recall": 0.3, "threshold": 0.9, "n_predicted": n})

    report = {
        "validation": {
            "violin": record(probe(5 / 7, 7), "failed", ["few"]),
            "drums": record(probe(0.88, 327), "validated", []),
        },
        "candidates": {},
        "target_precision": 0.9,
        "test_soundfonts": ["timgm6mb"],
        "render_windows": {"test": 993},
        "criteria": {"min_auc": 0.8, "min_precision": 0.7, "min_real_auc": 0.7, "gtzan_absent_max": 2},
    }
    md = validation_markdown(report)
    rows = {
        ln.split("|")[1].strip(): [c.strip() for c in ln.split("|")[1:-1]]
        for ln in md.splitlines()[3:]
        if ln.startswith("| ")
    }
    lo, hi = wilson_interval(5, 7)
    assert rows["violin"][5] == f"{lo:.2f}–{hi:.2f} (7)" and lo < 0.7 < hi  # straddles the floor: a knife edge
    lo, hi = wilson_interval(round(0.88 * 327), 327)
    assert rows["drums"][5] == f"{lo:.2f}–{hi:.2f} (327)" and lo > 0.8
    assert "knife edge" in md


def test_game_music_is_checked_or_said_missing_never_dropped(tmp_path):
    """The OOD answer on real game music outside GTZAN is part of the report; a machine without the Debian package
    once regenerated the report and lost the section in silence. Missing, the report says so and how to get it."""
    import numpy as np
    import soundfile as sf

    from audioconcept.concepts.real_music_report import figures_markdown, real_music_figures

    nowhere = tmp_path / "none"
    missing = real_music_figures("musicnn-gtzan", nowhere, nowhere, game=tmp_path / "no-game")
    assert missing["game_music"]["missing"] == str(tmp_path / "no-game")
    md = figures_markdown(missing)
    assert "**Game music outside GTZAN:** not checked" in md and "apt-get install drascula-music" in md
    assert "game_music" not in real_music_figures("musicnn-gtzan", nowhere, nowhere, game=None)
    game = tmp_path / "game"
    game.mkdir()
    t = np.arange(22050 * 4) / 22050
    sf.write(game / "track1.ogg", 0.3 * np.sin(2 * np.pi * 330 * t) * (1 + np.sin(2 * np.pi * 2 * t)) / 2, 22050)
    found = real_music_figures("musicnn-gtzan", nowhere, nowhere, game=game)["game_music"]
    assert found["n"] == 1 and set(found["tracks"]) == {"track1.ogg"}
    row = found["tracks"]["track1.ogg"]
    assert row["ood"]["distance"] > 0 and found["outside"] == int(row["ood"]["outside"])
    assert "| track1.ogg |" in figures_markdown(real_music_figures("musicnn-gtzan", nowhere, nowhere, game=game))
