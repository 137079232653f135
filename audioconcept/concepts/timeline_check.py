"""Where in time: the runtime's concept spans against exact truth, on held-out renders strung together.

A medley is `PARTS` held-out (`test`) renders of different arrangement styles, one after the other, so that the
instruments change at known moments. The runtime analyses each medley as one song; every second of it is then
compared with the render truth of the window under it (windows.csv: 1 present, 0 absent, uncertain left out).

Per concept with render truth, over all medleys:
- time precision: of the seconds inside the concept's spans, the share where the truth has it (also away from the
  seams between parts, where a window hears two renders);
- time recall: of the seconds where the truth has it, the share inside its spans;
- parts: medley parts that hold the concept somewhere, and how many of them a span reaches;
- misplaced: parts that never hold it where a span reaches more than `edge_s` (one window) inside the part (the
  concept is put in the wrong piece of music; a window across the seam between two parts hears both, so a
  span may overhang a seam by up to one window without counting).

The renders, their pieces and their soundfonts were never seen by the probes (render_data, probes.split_groups);
the thresholds were chosen on the `val` renders.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audioconcept.concepts.render_data import read_window_table, truth_columns
from audioconcept.runtime.concept_probes import status_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MedleySettings:
    medleys: int = 20
    parts: int = 4  # renders per medley, each of another arrangement style
    cell_s: float = 1.0  # the truth is compared once per this many seconds
    split: str = "test"
    seed: int = 0


@dataclass(frozen=True)
class Part:
    render: str
    style: str
    start: float  # where it begins in the medley, seconds
    end: float


def draw_medleys(styles: dict[str, str], cfg: MedleySettings) -> list[list[str]]:
    """render id -> style (held-out renders only) -> `cfg.medleys` lists of `cfg.parts` render ids, each list of
    distinct styles (fewer parts where fewer styles exist); no render is used twice while unused ones remain."""
    rng = np.random.default_rng(cfg.seed)
    by_style: dict[str, list[str]] = {}
    for r, s in sorted(styles.items()):
        by_style.setdefault(s, []).append(r)
    pools = {s: list(rng.permutation(rs)) for s, rs in by_style.items()}
    out = []
    for _ in range(cfg.medleys):
        kinds = list(rng.permutation(sorted(pools)))[: cfg.parts]
        if not kinds:
            break
        medley = []
        for s in kinds:
            if not pools[s]:
                pools[s] = list(rng.permutation(by_style[s]))
            medley.append(str(pools[s].pop()))
        out.append(medley)
    return out


def truth_cells(parts: list[Part], rows: dict[str, list[dict]], concepts: list[str], cell_s: float):
    """-> (cell centres (G,), concept -> (G,) 1.0, 0.0 or NaN, part index per cell (G,)): the state of the render
    window under each cell's centre (NaN between windows and where the truth is uncertain)."""
    end = parts[-1].end if parts else 0.0
    centres = np.arange(cell_s / 2, end, cell_s)
    truth = {c: np.full(len(centres), np.nan) for c in concepts}
    part_of = np.full(len(centres), -1)
    for i, p in enumerate(parts):
        wins = rows[p.render]
        states = truth_columns(wins)
        starts = np.array([float(w["start_s"]) for w in wins])
        ends = np.array([float(w["end_s"]) for w in wins])
        inside = (centres >= p.start) & (centres < p.end)
        part_of[inside] = i
        for g in np.flatnonzero(inside):
            u = centres[g] - p.start
            hit = np.flatnonzero((starts <= u) & (u < ends))
            if not len(hit):
                continue
            for c in concepts:
                if c in states:
                    truth[c][g] = states[c][hit[0]]
    return centres, truth, part_of


def span_cells(spans, concept: str, centres: np.ndarray) -> np.ndarray:
    """(G,) True where a span of `concept` covers the cell's centre."""
    on = np.zeros(len(centres), dtype=bool)
    for s in spans:
        if s.concept == concept:
            on |= (centres >= s.start) & (centres < s.end)
    return on


def near_seam(centres: np.ndarray, part_of: np.ndarray, edge_s: float) -> np.ndarray:
    """(G,) True for cells within `edge_s` of a seam between two parts (a window there hears both)."""
    seams = centres[1:][np.diff(part_of) != 0] - (centres[1] - centres[0]) / 2 if len(centres) > 1 else []
    out = np.zeros(len(centres), dtype=bool)
    for s in seams:
        out |= np.abs(centres - s) < edge_s
    return out


def score(
    per_medley: list[tuple[np.ndarray, dict, np.ndarray, list]], concepts: list[str], edge_s: float = 0.0
) -> dict[str, dict]:
    """[(centres, truth, part_of, spans) per medley] -> concept -> its time precision and recall, parts found and
    misplaced spans (see the module doc); seconds are cells."""
    # per medley, once for every concept: the cells away from the seams, and each part's cells and its inside
    # (more than edge_s from either end)
    layout = []
    for centres, _, part_of, _ in per_medley:
        parts = []
        for i in np.unique(part_of[part_of >= 0]):
            here = part_of == i
            start, end = centres[here].min(), centres[here].max()
            parts.append((here, here & (centres > start + edge_s) & (centres < end - edge_s)))
        layout.append((~near_seam(centres, part_of, edge_s), parts))
    out = {}
    for c in concepts:
        tp = fp = fn = tp_in = fp_in = parts_with = parts_found = misplaced = 0
        for (centres, truth, _, spans), (off_seams, parts) in zip(per_medley, layout, strict=True):
            t = truth[c]
            known = ~np.isnan(t)
            on = span_cells(spans, c, centres)
            tp += int((on & known & (t == 1)).sum())
            fp += int((on & known & (t == 0)).sum())
            fn += int((~on & known & (t == 1)).sum())
            inner = known & off_seams
            tp_in += int((on & inner & (t == 1)).sum())
            fp_in += int((on & inner & (t == 0)).sum())
            for here, inside in parts:
                if (t[here] == 1).any():
                    parts_with += 1
                    parts_found += bool((on & here & (t == 1)).any())
                elif (t[here] == 0).all():
                    misplaced += bool((on & inside).any())
        if tp + fp + fn == 0 and not misplaced:
            continue
        out[c] = {
            "precision": round(tp / (tp + fp), 3) if tp + fp else None,
            "recall": round(tp / (tp + fn), 3) if tp + fn else None,
            "precision_off_seams": round(tp_in / (tp_in + fp_in), 3) if tp_in + fp_in else None,
            "seconds_called": tp + fp,
            "seconds_true": tp + fn,
            "parts_with": parts_with,
            "parts_found": parts_found,
            "misplaced": misplaced,
        }
    return out


def render_styles(root: Path, split: str) -> dict[str, str]:
    """render id -> arrangement style, for the renders of `split` whose audio is there."""
    with open(Path(root) / "renders.csv", newline="") as f:
        return {
            r["render_id"]: r["style"]
            for r in csv.DictReader(f)
            if r["split"] == split and (Path(root) / r["audio"]).is_file()
        }


def timeline_figures(model, root: Path, validation: dict, cfg: MedleySettings = MedleySettings()) -> dict:
    """The medleys of `root`'s held-out renders through `model` (a runtime Model), scored per concept that has
    render truth and is a concept of the bundle (module doc)."""
    from audioconcept.data.audio import load_audio

    rows: dict[str, list[dict]] = {}
    for r in read_window_table(root):
        rows.setdefault(r["render_id"], []).append(r)
    for wins in rows.values():
        wins.sort(key=lambda w: int(w["window"]))
    styles = {r: s for r, s in render_styles(root, cfg.split).items() if r in rows}
    names = set(model.settings.concept_names)
    concepts = [c for c in truth_columns(next(iter(rows.values()))) if c in names] if rows else []
    per_medley, listing = [], []
    for k, medley in enumerate(draw_medleys(styles, cfg)):
        audio, parts, t = [], [], 0.0
        for rid in medley:
            y = load_audio(Path(root) / "audio" / f"{rid}.flac", sr=model.sample_rate)
            parts.append(Part(rid, styles[rid], t, t + len(y) / model.sample_rate))
            t = parts[-1].end
            audio.append(y)
        res = model.predict_array(np.concatenate(audio).astype(np.float32), f"medley-{k:02d}", top_k=1)
        centres, truth, part_of = truth_cells(parts, rows, concepts, cfg.cell_s)
        per_medley.append((centres, truth, part_of, res.concept_spans))
        listing.append(parts)
    figures = score(per_medley, concepts, edge_s=float(model.window_s))
    for c, f in figures.items():
        f["status"] = status_of(validation, c)
    log.info("timeline check: %d medleys, %d concepts", len(per_medley), len(figures))
    return {
        "medleys": len(per_medley),
        "parts": cfg.parts,
        "seconds": int(sum(len(m[0]) for m in per_medley) * cfg.cell_s),
        "styles": [[p.style for p in parts] for parts in listing],
        "renders": [[p.render for p in parts] for parts in listing],
        "concepts": figures,
        "data": f"{cfg.split} renders (pieces and soundfonts no probe saw), {cfg.parts} of different styles per medley",
    }
