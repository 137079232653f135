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
