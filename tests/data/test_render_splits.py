"""Splits keep pieces and soundfonts apart; the plan is fixed by the seed; the tables hold the documented columns."""

import csv

import numpy as np
import pytest

from audioconcept.data.render.fluid import HELDOUT_SOUNDFONTS, TRAIN_SOUNDFONTS
from audioconcept.train.concept_renders import (
    RenderConfig,
    background_splits,
    plan,
    soundfonts_for,
    split_of,
    window_columns,
)

IDS = [f"m21:bach/bwv{k}.mxl" for k in range(300)] + [f"midi:planetblupi/music{k:03d}" for k in range(10)]


def test_a_piece_has_one_split_and_the_shares_are_about_70_15_15():
    splits = [split_of(p) for p in IDS]
    assert splits == [split_of(p) for p in IDS]  # fixed by the id, not by the run
    share = {s: splits.count(s) / len(splits) for s in ("train", "val", "test")}
    assert share["train"] == pytest.approx(0.70, abs=0.08)
    assert share["val"] == pytest.approx(0.15, abs=0.06)
    assert share["test"] == pytest.approx(0.15, abs=0.06)


def test_test_renders_use_only_the_held_out_soundfont():
    have = dict.fromkeys(TRAIN_SOUNDFONTS + HELDOUT_SOUNDFONTS, "x")
    rng = np.random.default_rng(0)
    for _ in range(200):
        assert soundfonts_for("test", rng, have, 0.5) == list(HELDOUT_SOUNDFONTS)
        for split in ("train", "val"):
            got = soundfonts_for(split, rng, have, 0.5)
            assert got and set(got) <= set(TRAIN_SOUNDFONTS) and len(set(got)) == len(got)
    assert soundfonts_for("test", rng, dict.fromkeys(TRAIN_SOUNDFONTS, "x"), 0.5) == []  # no held-out: no test render


def test_backgrounds_are_split_too():
    splits = background_splits()
    if len(splits) < 2:
        pytest.skip("fewer than two backgrounds installed (Debian: asc-music)")
    assert set(splits.values()) == {"train", "test"}


def test_plan_is_fixed_by_the_seed_and_extends():
    cands = {"chorale": [f"bach/bwv{k}.mxl" for k in range(50)], "midi": [f"/m/{k}.mid" for k in range(5)]}
    a = plan(RenderConfig(out=None, pieces=20, seed=3), cands)
    assert a == plan(RenderConfig(out=None, pieces=20, seed=3), cands)
    assert a != plan(RenderConfig(out=None, pieces=20, seed=4), cands)
    assert plan(RenderConfig(out=None, pieces=40, seed=3), cands)[:20] == a[:20]  # a larger build resumes a smaller


@pytest.mark.parametrize(
    "style, field, prefix", [("orchestra", "orchestral", "o"), ("band", "band", "b"), ("solo", "mallets", "m")]
)
def test_styled_jobs_are_extra_and_leave_the_other_arrangements_as_they_were(style, field, prefix):
    cands = {"chorale": [f"bach/bwv{k}.mxl" for k in range(50)], "midi": [f"/m/{k}.mid" for k in range(5)]}
    none = {"orchestral": 0, "band": 0, "mallets": 0}
    without = plan(RenderConfig(out=None, pieces=20, seed=3, **none), cands)
    with_style = plan(RenderConfig(out=None, pieces=20, seed=3, **{**none, field: 7}), cands)
    assert len(without) == 20 and with_style[:20] == without
    extra = with_style[20:]
    assert len(extra) == 7 and {j["style"] for j in extra} == {style} and {j["prefix"] for j in extra} == {prefix}
    assert {j["group"] for j in extra} == {"chorale"}  # many-part scores only: no MIDI file, no folk tune
    more = plan(RenderConfig(out=None, pieces=20, seed=3, **{**none, field: 12}), cands)
    assert more[20:27] == extra  # it extends too
    assert plan(RenderConfig(out=None, pieces=20, seed=3), {"midi": cands["midi"]})[20:] == []  # no score: none
    # all kinds at once: each keeps its own jobs, in a fixed order (orchestras, bands, tuned percussion)
    both = plan(RenderConfig(out=None, pieces=20, seed=3, orchestral=7, band=7, mallets=7), cands)
    assert [j for j in both[20:] if j["style"] == style] == extra
    assert [j["prefix"] for j in both[20:]] == ["o"] * 7 + ["b"] * 7 + ["m"] * 7
    if field == "mallets":  # solos on tuned percussion: any score, never a MIDI file
        assert {j["solo_family"] for j in extra} == {"mallets"}
        folk = plan(RenderConfig(out=None, pieces=20, seed=3, **{**none, field: 7}), {"folk": ["f/1.abc"]})[20:]
        assert {j["group"] for j in folk} == {"folk"} and len(folk) == 7


@pytest.mark.slow
def test_build_writes_tables_whose_splits_keep_pieces_and_soundfonts_apart(tmp_path, monkeypatch):
    import audioconcept.data.render.voices as voices
    from audioconcept.data.render.fluid import available_soundfonts, fluidsynth_available
    from audioconcept.data.render.textures import KINDS
    from audioconcept.train.concept_renders import build

    ok, why = fluidsynth_available()
    if not ok:
        pytest.skip(why)
    if not available_soundfonts():
        pytest.skip("no soundfont installed (Debian: fluid-soundfont-gm)")
    pytest.importorskip("music21", reason="music21 (extra render) is not installed")
    every_voice_job = voices.jobs  # the build sings ~70 clips through festival; one of each kind is enough here
    monkeypatch.setattr(voices, "jobs", lambda have: list({j.mode: j for j in every_voice_job(have)}.values()))
    stale = tmp_path / "out" / "audio" / ".a00000-fluidr3_gm.k3j2.flac"  # left by a killed run
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half")
    cfg = RenderConfig(
        tmp_path / "out", pieces=3, seed=11, seconds=(6.0, 8.0), textures=1, orchestral=1, band=1, mallets=1
    )
    summary = build(cfg, report=tmp_path / "rep")
    assert not stale.exists()
    assert summary["builds"][-1]["rendered"] == summary["renders"]
    again = build(cfg)
    assert [b["read_back"] for b in again["builds"]] == [0, summary["renders"]]
    with open(tmp_path / "out" / "windows.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows and list(rows[0]) == window_columns()
    piece_split, sf_split = {}, {}
    for r in rows:
        assert piece_split.setdefault(r["piece_id"], r["split"]) == r["split"]
        sf_split.setdefault(r["soundfont_id"], set()).add(r["split"])
        assert (r["soundfont_id"] in HELDOUT_SOUNDFONTS) == (r["split"] == "test")
        assert {r[c] for c in ("piano", "drums", "minor", "loud")} <= {"1", "0", "-1"}
    assert summary["renders"] == len({r["render_id"] for r in rows})
    textures = {r["render_id"] for r in rows if r["soundfont_id"] == "texture"}
    assert len(textures) == len(KINDS) and {r["split"] for r in rows if r["render_id"] in textures} == {"train"}
    if voices.festival_voices():  # one sung and one spoken clip, in training only
        assert {r["split"] for r in rows if r["soundfont_id"] == "festival"} == {"train"}
        assert len({r["render_id"] for r in rows if r["soundfont_id"] == "festival"}) == 2
    assert (tmp_path / "rep" / "SUMMARY.md").read_text().count("| piano |") == 1
    assert not [p for p in (tmp_path / "out").rglob("*") if p.name.startswith(".") and p.name.endswith(".tmp")]


def test_missing_soundfont_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    import audioconcept.data.render.fluid as fluid
    from audioconcept.cli import main

    monkeypatch.setattr(fluid, "available_soundfonts", lambda: {})
    with pytest.raises(SystemExit) as e:
        main(["data", "render-concepts", "--out", str(tmp_path / "out"), "--pieces", "1"])
    assert e.value.code != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert not (tmp_path / "out" / "windows.csv").exists()
