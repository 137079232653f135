"""cnn-synth's CAV concepts checked against audio whose truth is known: the truth on the CNN's long windows, the
figures, the verdicts, the patch into a bundle, and the runtime's use of it (a failed concept is never present)."""

import json
import shutil

import numpy as np
import pytest

from audioconcept.concepts.validate_cavs import CAV_TRUTH, CavValidateConfig, render_truth, rows_state, validate_cavs
from audioconcept.concepts.validated import ValidateConfig, judge
from audioconcept.data.audio import write_audio
from audioconcept.errors import AudioConceptError
from audioconcept.export.package_bundles import apply_patch, patch_bundle
from audioconcept.runtime.registry import resolve_bundle
from tests.concepts.tiny_renders import write_window_table
from tests.payloads import assert_one_line_error, run_cli


def _rows(states, column="fast", step=2.992, width=2.976):
    return [{"start_s": i * step, "end_s": i * step + width, column: s} for i, s in enumerate(states)]


def test_a_measured_concept_on_a_long_window_needs_every_table_window_inside_to_agree():
    rows = _rows([1, 1, 1, 0, 0, 0, -1])
    assert rows_state(rows, "fast", 0.0, 9.0) == 1.0  # windows 0-2 inside, all fast
    assert rows_state(rows, "fast", 8.9, 18.0) == 0.0  # windows 3-5 inside, none fast
    assert np.isnan(rows_state(rows, "fast", 0.0, 18.0))  # mixed
    assert np.isnan(rows_state(rows, "fast", 14.0, 21.0))  # an uncertain window inside
    assert np.isnan(rows_state(rows, "fast", 0.5, 2.0))  # no table window inside


def test_render_truth_on_the_cnn_windows_comes_from_the_notes():
    record = {
        "seconds": 60.0,
        "background": None,
        "stems": [
            {"concepts": ["piano"], "intervals": [[0.0, 10.0]]},
            {"concepts": ["drums"], "intervals": [[40.0, 60.0]]},
        ],
    }
    starts = [0.0, 22.6, 30.9]  # the CNN's 29.1 s windows every 22.6 s, the last one aligned to the end
    rows = _rows([1] * 20, "minor")
    t = render_truth(record, rows, starts, 29.1, 22.6, 22050)
    assert set(t) == set(CAV_TRUTH)
    assert t["piano"].tolist() == [1.0, 0.0, 0.0]
    assert t["drums"].tolist() == [0.0, 1.0, 1.0]
    assert t["strings"].tolist() == [0.0, 0.0, 0.0]
    assert t["minor_mode"].tolist() == [1.0, 1.0, 1.0]
    assert np.isnan(t["fast_tempo"]).all()  # no tempo column: unknown, never absent
    with pytest.raises(AudioConceptError):
        render_truth(record, rows, starts[:2], 29.1, 22.6, 22050)  # the windows must be the runtime's


def _fake_concept_audio(root, n=8, seconds=40.0, sr=22050):
    """Renders in the dataset's layout (docs/concept-data.md): half of them with piano notes and a tone, half
    silent but for noise; tempo and mode columns in the window table."""
    rng = np.random.default_rng(0)
    (root / "audio").mkdir(parents=True)
    (root / "notes").mkdir()
    rows = []
    t = np.arange(int(seconds * sr)) / sr
    for i in range(n):
        rid = f"a{i:05d}-fluidr3_gm"
        piano = i % 2 == 0
        x = 0.01 * rng.standard_normal(t.size) + (0.3 * np.sin(2 * np.pi * 440 * t) if piano else 0.0)
        write_audio(root / "audio" / f"{rid}.flac", x.astype(np.float32), sr)
        stems = [{"concepts": ["piano"], "intervals": [[0.0, seconds]]}] if piano else []
        record = {"seconds": seconds, "background": None, "stems": stems}
        (root / "notes" / f"{rid}.json").write_text(json.dumps(record))
        for w in range(12):
            rows.append(
                {"render_id": rid, "window": w, "start_s": w * 2.992, "end_s": w * 2.992 + 2.976,
                 "split": "train", "fast": int(piano), "slow": int(not piano), "minor": -1}
            )  # fmt: skip
    return write_window_table(root, rows)


def test_validate_cavs_figures_verdicts_and_the_patch(tmp_path):
    root = _fake_concept_audio(tmp_path / "renders")
    cfg = CavValidateConfig(root, instruments=tmp_path / "none", out=tmp_path / "out", patch=tmp_path / "p.json")
    r = validate_cavs(cfg)
    m = json.loads((resolve_bundle("cnn-synth") / "manifest.json").read_text())
    names = m["concepts"]["names"]
    v = r["validation"]
    assert list(v) == names
    # the CNN cuts each 40 s render into 2 windows: every figure counts them
    assert r["n_windows"] == 16 and r["n_renders"] == 8
    assert r["figures"]["piano"]["render"]["n_test"] == 16 and r["figures"]["piano"]["render"]["n_test_positive"] == 8
    assert r["figures"]["fast_tempo"]["render"]["n_test_positive"] == 8
    assert not r["figures"]["minor_mode"]["render"]  # every mode is uncertain: nothing to judge it on
    for n in names:
        cand_render = r["figures"][n]["render"]
        if n not in CAV_TRUTH or not cand_render:
            assert v[n]["status"] == "not validated"
        else:
            assert v[n]["status"] in ("validated", "failed")
            assert 0.0 <= cand_render["auc"] <= 1.0
            assert v[n]["threshold"] == pytest.approx(m["concepts"]["thresholds"][names.index(n)])
            assert v[n]["data"].startswith("concept renders")
    from audioconcept.concepts.validated import Candidate

    jc = ValidateConfig(renders=root)
    for n in CAV_TRUTH:
        fig = r["figures"][n]
        if fig["render"]:
            assert v[n]["status"] == judge(Candidate("cav", fig["render"], fig["real"]), jc, False)[0]
    assert (tmp_path / "out" / "cnn-synth_concept_validation.md").read_text().count("\n| ") == len(names) + 1
    # the patch: into a copy of the bundle, where the runtime reads it
    patch = json.loads((tmp_path / "p.json").read_text())
    assert set(patch) == {"concept_validation"}
    folder = tmp_path / "cnn-synth"
    shutil.copytree(resolve_bundle("cnn-synth"), folder)
    patch_bundle(folder, tmp_path / "p.json")
    assert json.loads((folder / "manifest.json").read_text())["concepts"]["validation"] == patch["concept_validation"]


def test_a_validation_patch_must_name_the_bundles_concepts():
    m = json.loads((resolve_bundle("cnn-synth") / "manifest.json").read_text())
    from audioconcept.errors import ExportError

    with pytest.raises(ExportError, match="differ"):
        apply_patch(m, {"concept_validation": {"piano": {"status": "failed", "data": "x"}}})
    with pytest.raises(ExportError, match="alone"):
        apply_patch(m, {"concept_validation": {}, "ood": {}})


def test_the_shipped_cnn_carries_its_validation_and_never_presents_a_failed_concept():
    from audioconcept.runtime.model import load

    model = load("cnn-synth")
    v = model.m["concepts"]["validation"]
    assert set(v) == set(model.m["concepts"]["names"])
    failed = {n for n, r in v.items() if r["status"] == "failed"}
    assert failed, "the CNN learned on synthetic audio: some of its concepts fail on real instruments"
    for n in failed:
        assert v[n]["why"] and v[n]["auc"] is not None
    from pathlib import Path

    import audioconcept.app

    song = Path(audioconcept.app.__file__).parent / "examples" / "demo_song.ogg"  # the synthetic demo song
    res = model.predict(song)
    above = {n for n, s in res.concepts.items() if s >= 0.5}
    assert failed & above  # not vacuous: failed concepts are strong here
    assert not failed & set(res.concepts_present)
    assert all(res.concept_validation[n]["status"] == v[n]["status"] for n in v)


def test_missing_renders_is_one_line(tmp_path):
    proc = run_cli("concepts", "validate-cavs", "--renders", str(tmp_path / "nope"))
    assert_one_line_error(proc)
