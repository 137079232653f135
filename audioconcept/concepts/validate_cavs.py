"""`concepts validate-cavs`: a CAV bundle's concepts (cnn-synth) checked against audio whose truth is known.

The CNN and its CAVs learned their concepts on AudioConcept's numpy synthetic set only, so both checks here are on
audio they never met:

- the rendered concept audio (docs/concept-data.md: real scores through sampled-instrument soundfonts), every
  render cut into the bundle's own windows (29.1 s for the CNN). Instrument truth comes from the notes
  (`data.render.truth.record_windows`); tempo and mode from the rows of windows.csv inside the window (present where
  all of them are, absent where all are not, uncertain otherwise). Every split is used: none was trained on.
- the real recordings of ../shared/instruments (validation only), a recording's strongest window each.

Each concept is measured at the bundle's own threshold, unchanged (ROC-AUC, precision and recall there), and judged
by the tag bundle's rule (`concepts.validated.judge`). A concept that no data here knows (backbeat, swing, ...) is
`not validated`. The result is a patch, {"concept_validation": {name: record}}, that `package_bundles` writes into
the bundle's manifest (`concepts.validation`), where the runtime reads it: a concept that failed is shown, marked
and never called present.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audioconcept.concepts.probes import precision_recall, roc_auc
from audioconcept.concepts.validated import Candidate, ValidateConfig, _r, judge, record
from audioconcept.errors import AudioConceptError
from audioconcept.utils import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

# a CAV concept -> (the concept-audio column whose truth it is, how the truth of a longer window is formed)
# "notes": from the note intervals of the render; "rows": from the windows.csv rows inside the window
CAV_TRUTH: dict[str, tuple[str, str]] = {
    "distorted_guitar": ("distorted_guitar", "notes"),
    "drums": ("drums", "notes"),
    "piano": ("piano", "notes"),
    "strings": ("strings", "notes"),
    "fast_tempo": ("fast", "rows"),
    "slow_tempo": ("slow", "rows"),
    "minor_mode": ("minor", "rows"),
}
# a CAV concept -> the concept of ../shared/instruments' labels (real_validation.LABEL_CONCEPTS) it must find
CAV_REAL: dict[str, str] = {
    "piano": "piano",
    "strings": "strings",
    "drums": "drums",
    "distorted_guitar": "distorted guitar",
}
RENDER_DATA = (
    "concept renders (real scores through soundfonts; none trained on: the CNN and its CAVs saw only the synthetic set)"
)


@dataclass(frozen=True)
class CavValidateConfig:
    renders: Path
    bundle: str = "cnn-synth"
    instruments: Path = Path("../shared/instruments")
    out: Path = Path("reports/real_music")
    patch: Path = Path("models/concept_probes/cnn-synth.json")
    max_renders: int | None = None


def window_strengths(model, audio: np.ndarray, batch: int = 4) -> tuple[np.ndarray, list]:
    """(n_windows, K) the bundle's concept strengths for every window of one song, as the runtime computes them."""
    from audioconcept.data.audio import check_long_enough, windows_from_array

    check_long_enough(audio.size, model.sample_rate, "audio")
    wins = windows_from_array(audio, model.window_s, model.hop_s, sr=model.sample_rate, context=model.context)
    out = []
    for i in range(0, len(wins), batch):
        o = model.backend.run(model.prepare(wins[i : i + batch]))
        if o.concepts is None:
            raise AudioConceptError(f"{model.name}: its graph gives no concept output")
        out.append(np.asarray(o.concepts, dtype=np.float64))
    return np.concatenate(out), wins


def _state(v) -> float:
    x = float(v)
    return np.nan if x < 0 else float(x > 0)


def rows_state(rows: list[dict], column: str, t0: float, t1: float) -> float:
    """A measured concept over [t0, t1): present where every table window inside is, absent where none is."""
    inside = [
        _state(r.get(column, -1)) for r in rows if float(r["start_s"]) >= t0 - 1e-3 and float(r["end_s"]) <= t1 + 1e-3
    ]
    if not inside or any(np.isnan(s) for s in inside):
        return np.nan
    return 1.0 if all(inside) else (0.0 if not any(inside) else np.nan)


def render_truth(record_: dict, rows: list[dict], starts_s: list[float], window_s: float, hop_s: float, sr: int):
    """concept -> (n_windows,) truth of one render on the bundle's windows (1, 0 or NaN)."""
    from audioconcept.data.render.truth import record_windows

    notes = record_windows(record_, window_s, hop_s, sr)
    if len(notes) != len(starts_s):
        raise AudioConceptError(f"{record_.get('render_id')}: {len(notes)} truth windows, {len(starts_s)} windows")
    out = {}
    for name, (col, how) in CAV_TRUTH.items():
        if how == "notes":
            out[name] = np.array([_state(w.get(col, -1)) for w in notes])
        else:
            out[name] = np.array([rows_state(rows, col, t, t + window_s) for t in starts_s])
    return out


def render_figures(model, cfg: CavValidateConfig) -> tuple[np.ndarray, dict[str, np.ndarray], int]:
    """(windows, K) strengths, concept -> (windows,) truth, and the number of renders, over the concept audio."""
    from rich.progress import Progress

    from audioconcept.concepts.render_data import read_window_table
    from audioconcept.data.audio import load_audio

    root = Path(cfg.renders)
    rows = read_window_table(root)
    by_render: dict[str, list[dict]] = {}
    for r in rows:
        by_render.setdefault(r["render_id"], []).append(r)
    renders = sorted(by_render)[: cfg.max_renders] if cfg.max_renders else sorted(by_render)
    S, truth = [], {n: [] for n in CAV_TRUTH}
    with Progress(transient=True) as bar:
        task = bar.add_task(f"concept audio through {model.name}", total=len(renders))
        for rid in renders:
            rec = json.loads((root / "notes" / f"{rid}.json").read_text())
            audio = load_audio(root / "audio" / f"{rid}.flac", sr=model.sample_rate)
            s, wins = window_strengths(model, audio)
            t = render_truth(
                {**rec, "render_id": rid},
                by_render[rid],
                [w.start for w in wins],
                model.window_s,
                model.hop_s,
                model.sample_rate,
            )
            S.append(s)
            for n in CAV_TRUTH:
                truth[n].append(t[n])
            bar.advance(task)
    return np.concatenate(S), {n: np.concatenate(v) for n, v in truth.items()}, len(renders)


def real_strengths(model, folder: Path) -> tuple[list, np.ndarray]:
    """(recordings, (n_recordings, K) each recording's strongest window)."""
    from audioconcept.concepts.real_validation import read_labels
    from audioconcept.data.audio import load_audio

    recs = read_labels(folder)
    strongest = [window_strengths(model, load_audio(folder / r.name, sr=model.sample_rate))[0].max(0) for r in recs]
    return recs, np.stack(strongest)


def candidate(name: str, k: int, threshold: float, S, truth, recs, R) -> Candidate:
    from audioconcept.concepts.real_validation import truth_of

    render = {}
    if name in truth:
        y = truth[name]
        known = ~np.isnan(y)
        s, t = S[known, k], y[known].astype(bool)
        if t.any() and (~t).any():
            prec, rec = precision_recall(s, t, threshold)
            render = {
                "auc": _r(roc_auc(s, t)),
                "precision": _r(prec),
                "recall": _r(rec),
                "threshold": _r(threshold),
                "n_test": int(known.sum()),
                "n_test_positive": int(t.sum()),
                "n_predicted": int((s >= threshold).sum()),
                "data": RENDER_DATA,
            }
    real = {}
    if name in CAV_REAL and recs:
        t = np.array([CAV_REAL[name] in truth_of(r) for r in recs])
        if t.any() and (~t).any():
            real = {
                "auc": _r(roc_auc(R[:, k], t)),
                "positives": [r.name for r, x in zip(recs, t, strict=True) if x],
                "found": [r.name for r, x, v in zip(recs, t, R[:, k], strict=True) if x and v >= threshold],
                "false_present": [r.name for r, x, v in zip(recs, t, R[:, k], strict=True) if v >= threshold and not x],
            }
    return Candidate("cav", render, real)


def validate_cavs(cfg: CavValidateConfig) -> dict:
    from audioconcept.runtime.model import load

    model = load(cfg.bundle)
    c = model.m.get("concepts") or {}
    if c.get("kind") == "tags" or not c.get("names"):
        raise AudioConceptError(f"{cfg.bundle}: no CAV concepts (a tag bundle is checked by `validate-probes`)")
    names = list(c["names"])
    thr = [float(t) for t in (c.get("thresholds") or [0.5] * len(names))]
    S, truth, n_renders = render_figures(model, cfg)
    recs, R = real_strengths(model, Path(cfg.instruments)) if Path(cfg.instruments).is_dir() else ([], None)
    judge_cfg = ValidateConfig(renders=cfg.renders)
    validation, figures = {}, {}
    for k, n in enumerate(names):
        cand = candidate(n, k, thr[k], S, truth, recs, R)
        status, why = judge(cand, judge_cfg, False)
        rec = record(cand, status, why)
        if rec["threshold"] is None:
            rec["threshold"] = _r(thr[k])
        if cand.render:
            rec["data"] = RENDER_DATA
        if rec.get("why"):  # every render is held out from a CAV bundle: say "render"
            rec["why"] = rec["why"].replace("held-out render", "render")
        validation[n] = rec
        figures[n] = {"render": cand.render, "real": cand.real}
    patch = {"concept_validation": validation}
    atomic_write_json(Path(cfg.patch), patch)
    report = {
        "bundle": cfg.bundle,
        "renders": str(cfg.renders),
        "n_renders": n_renders,
        "n_windows": int(len(S)),
        "window_s": model.window_s,
        "criteria": {
            "min_auc": judge_cfg.min_auc,
            "min_precision": judge_cfg.min_precision,
            "min_real_auc": judge_cfg.min_real_auc,
        },
        "validation": validation,
        "figures": figures,
    }
    out = Path(cfg.out)
    atomic_write_json(out / f"{cfg.bundle}_concept_validation.json", report)
    atomic_write_text(out / f"{cfg.bundle}_concept_validation.md", report_markdown(report))
    return report


def report_markdown(r: dict) -> str:
    crit = r["criteria"]
    lines = [
        "<!-- generated by `audioconcept concepts validate-cavs`; do not edit -->",
        f"**{r['bundle']}: its CAV concepts against audio whose truth is known.** {r['n_windows']} windows of "
        f"{r['window_s']:.1f} s from {r['n_renders']} concept renders (real scores through soundfonts; none trained "
        "on: the CNN and its CAVs learned on the synthetic set only), and the real recordings of "
        "../shared/instruments (validation only), each at the bundle's own threshold.",
        "",
        "| concept | status | AUC (renders) | precision / recall at threshold | threshold | positives / windows | "
        "real-recording AUC | found on | why |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    order = sorted(
        r["validation"], key=lambda n: (["validated", "failed", "not validated"].index(r["validation"][n]["status"]), n)
    )
    for n in order:
        v, f = r["validation"][n], r["figures"][n]
        ren, real = f["render"], f["real"]
        pr = f"{_fmt(ren.get('precision'))} / {_fmt(ren.get('recall'))}" if ren else "–"
        pos = f"{ren['n_test_positive']} / {ren['n_test']}" if ren else "–"
        lines.append(
            f"| {n} | {v['status']} | {_fmt(ren.get('auc'))} | {pr} | {_fmt(v.get('threshold'), 3)} | {pos} | "
            f"{_fmt(real.get('auc'))} | {', '.join(real.get('found') or []) or '–'} | {v.get('why', '')} |"
        )
    lines += [
        "",
        f"A concept is validated when its AUC on the renders is at least {crit['min_auc']}, its precision at its "
        f"threshold at least {crit['min_precision']}, and its real-recording AUC (where a recording has it) at "
        f"least {crit['min_real_auc']}; failed concepts are shown, marked and never called present. Concepts with no "
        "truth here (rhythm patterns, lead melody) are not validated.",
    ]
    return "\n".join(lines) + "\n"


def _fmt(x, nd: int = 2) -> str:
    return "–" if x is None else f"{x:.{nd}f}"
