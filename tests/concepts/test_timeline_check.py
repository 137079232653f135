"""The timeline check: medleys of held-out renders, their truth per second, and the spans scored against it."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from audioconcept.concepts.timeline_check import (
    MedleySettings,
    Part,
    draw_medleys,
    near_seam,
    score,
    span_cells,
    timeline_figures,
    truth_cells,
)
from audioconcept.runtime.result import ConceptSpan
from tests.concepts.tiny_renders import write_window_table

SR = 8000
WIN = 2.0  # the fake model's window


def test_medleys_have_distinct_styles_and_reuse_renders_only_when_a_style_runs_out():
    styles = {f"r{i}": s for i, s in enumerate(["solo"] * 5 + ["band"] * 3 + ["orchestra"] * 2)}
    ms = draw_medleys(styles, MedleySettings(medleys=4, parts=3, seed=1))
    assert len(ms) == 4 and all(len(m) == 3 for m in ms)
    for m in ms:
        assert len({styles[r] for r in m}) == 3
    used = [r for m in ms for r in m]
    # orchestra has 2 renders and is in all 4 medleys: each is used twice; solo has 5 for 4 draws: no repeat
    assert sorted(r for r in used if styles[r] == "solo") == sorted(set(r for r in used if styles[r] == "solo"))
    assert draw_medleys(styles, MedleySettings(medleys=4, parts=3, seed=1)) == ms
    assert all(len(m) == 2 for m in draw_medleys({"a": "x", "b": "y"}, MedleySettings(medleys=2, parts=4)))


def _rows(rid: str, states: list[int], win: float = WIN) -> list[dict]:
    return [
        {"render_id": rid, "window": str(i), "start_s": str(i * win), "end_s": str((i + 1) * win), "drums": str(s)}
        for i, s in enumerate(states)
    ]


def test_truth_cells_follow_each_part_from_its_own_start():
    rows = {"a": _rows("a", [1, 1]), "b": _rows("b", [0, -1, 1])}
    parts = [Part("a", "band", 0.0, 4.0), Part("b", "solo", 4.0, 10.0)]
    centres, truth, part_of = truth_cells(parts, rows, ["drums"], 1.0)
    assert centres.tolist() == [0.5 + k for k in range(10)]
    t = truth["drums"]
    assert t[:4].tolist() == [1, 1, 1, 1] and t[4:6].tolist() == [0, 0]
    assert np.isnan(t[6:8]).all()  # uncertain in the render's truth: left out
    assert t[8:].tolist() == [1, 1]
    assert part_of.tolist() == [0] * 4 + [1] * 6


def test_score_counts_time_precision_recall_parts_and_misplaced_spans():
    centres = np.arange(0.5, 12.0, 1.0)
    truth = {"drums": np.array([1.0] * 4 + [0.0] * 8)}
    part_of = np.array([0] * 4 + [1] * 8)
    exact = [ConceptSpan("drums", 0.0, 4.0, 0.9)]
    r = score([(centres, truth, part_of, exact)], ["drums"], edge_s=2.0)["drums"]
    assert (r["precision"], r["recall"], r["parts_found"], r["parts_with"], r["misplaced"]) == (1.0, 1.0, 1, 1, 0)
    seam = [ConceptSpan("drums", 0.0, 6.0, 0.9)]  # overhangs the seam by 2 s: blur, not misplaced
    r = score([(centres, truth, part_of, seam)], ["drums"], edge_s=2.0)["drums"]
    assert r["precision"] == round(4 / 6, 3) and r["misplaced"] == 0
    assert r["precision_off_seams"] == 1.0  # the overhang lies within one window of the seam at 4 s
    assert near_seam(centres, part_of, 2.0).tolist() == [False] * 2 + [True] * 4 + [False] * 6
    deep = [ConceptSpan("drums", 0.0, 2.0, 0.9), ConceptSpan("drums", 7.0, 9.0, 0.9)]
    r = score([(centres, truth, part_of, deep)], ["drums"], edge_s=2.0)["drums"]
    assert r["recall"] == 0.5 and r["misplaced"] == 1 and r["seconds_called"] == 4
    assert span_cells(deep, "bass", centres).sum() == 0


class _Loudness:
    """A fake runtime model: a concept 'drums' spans every whole window louder than -30 dBFS (or, `always`, the
    whole song)."""

    sample_rate = SR
    window_s = WIN

    def __init__(self, always: bool = False):
        self.always = always
        self.settings = SimpleNamespace(concept_names=("drums", "loud"))

    def predict_array(self, audio, path, top_k=3):
        n = int(WIN * SR)
        spans = []
        for k in range(len(audio) // n):
            seg = audio[k * n : (k + 1) * n]
            if self.always or 20 * np.log10(np.sqrt(np.mean(seg**2)) + 1e-9) > -30:
                spans.append(ConceptSpan("drums", k * WIN, (k + 1) * WIN, 1.0))
        return SimpleNamespace(concept_spans=spans)


@pytest.fixture
def tiny_medley_renders(tmp_path: Path) -> Path:
    """Six 'test' renders of 3 styles, 8 s each: noise (drums) or near silence (no drums), and one 'train'."""
    rng = np.random.default_rng(0)
    (tmp_path / "audio").mkdir()
    renders, rows = [], []
    for i, (style, drums, split) in enumerate(
        [("band", 1, "test"), ("band", 1, "test"), ("solo", 0, "test"), ("solo", 0, "test"),
         ("orchestra", 0, "test"), ("orchestra", 1, "test"), ("band", 0, "train")]
    ):  # fmt: skip
        rid = f"r{i}"
        y = (0.3 if drums else 1e-4) * rng.standard_normal(int(4 * WIN * SR)).astype(np.float32)
        sf.write(tmp_path / "audio" / f"{rid}.flac", y, SR)
        renders.append({"render_id": rid, "split": split, "style": style, "audio": f"audio/{rid}.flac"})
        rows += _rows(rid, [drums] * 4)
    with open(tmp_path / "renders.csv", "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(renders[0]))
        wr.writeheader()
        wr.writerows(renders)
    return write_window_table(tmp_path, rows)


def test_timeline_figures_score_the_runtime_spans_of_each_medley(tiny_medley_renders):
    cfg = MedleySettings(medleys=3, parts=3)
    validation = {"drums": {"status": "validated"}}
    good = timeline_figures(_Loudness(), tiny_medley_renders, validation, cfg)
    assert good["medleys"] == 3 and good["seconds"] == 3 * 3 * 8
    assert all(len(set(s)) == 3 for s in good["styles"])
    d = good["concepts"]["drums"]
    assert d["status"] == "validated"
    assert (d["precision"], d["recall"], d["misplaced"]) == (1.0, 1.0, 0)
    assert d["parts_found"] == d["parts_with"] > 0
    bad = timeline_figures(_Loudness(always=True), tiny_medley_renders, validation, cfg)["concepts"]["drums"]
    assert bad["recall"] == 1.0 and bad["precision"] < 1.0
    silent = {"r2", "r3", "r4"}  # the renders without drums: every part of one of them holds a misplaced span
    assert bad["misplaced"] == sum(r in silent for m in good["renders"] for r in m) > 0


def test_the_report_lists_validated_concepts_and_names_those_never_placed(tiny_medley_renders):
    from audioconcept.concepts.real_music_report import figures_markdown

    t = timeline_figures(_Loudness(), tiny_medley_renders, {"drums": {"status": "validated"}}, MedleySettings(3, 3))
    t["concepts"]["piano"] = {**t["concepts"]["drums"], "status": "failed", "seconds_called": 0, "precision": None}
    md = figures_markdown({"timeline": t, "not_here": ""})
    assert "**Where in time** (3 medleys of 3 held-out renders each, 72 s in all" in md
    assert "| drums | validated | 1.00 | 1.00 | 1.00 | " in md
    assert "Never placed in time (not validated, so never present): piano." in md


def test_the_cli_checks_a_shipped_bundle_and_says_in_one_line_what_is_missing(tiny_medley_renders, tmp_path):
    from tests.payloads import assert_one_line_error, run_cli

    out = tmp_path / "timeline.json"
    proc = run_cli(
        "concepts", "timeline", "--renders", str(tiny_medley_renders), "--medleys", "2", "--parts", "3",
        "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "**Where in time** (2 medleys of 3 held-out renders each, 48 s in all" in proc.stdout
    assert "| drums | " in proc.stdout
    t = json.loads(out.read_text())
    assert t["medleys"] == 2 and t["concepts"]["drums"]["seconds_true"] > 0
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(run_cli("concepts", "timeline", "--renders", str(empty)), 2, "no windows.csv")
