"""Check concept detection and localisation of an exported bundle against synthetic ground truth."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from audioconcept.data.audio import iter_windows

log = logging.getLogger(__name__)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def validate_bundle(
    bundle: str | Path, data: str, splits: tuple[str, ...] = ("test", "valid"), resolution: float = 0.25
) -> dict:
    from sklearn.metrics import roc_auc_score

    from audioconcept.data.folder import load_ground_truth
    from audioconcept.data.spec import load_tracks, parse_data_spec
    from audioconcept.runtime import load

    spec = parse_data_spec(data)
    truth = load_ground_truth(spec.path)
    model = load(bundle, backend="onnx", device="cpu")
    names = model.concept_names
    if not names:
        from audioconcept.errors import BundleError

        raise BundleError(f"{bundle}: the bundle has no concept output; export it with --concepts")
    tl = load_tracks(spec)
    tracks = [t for s in splits for t in tl.split(s)]
    scores = {n: [] for n in names}
    present = {n: [] for n in names}
    ious = {n: [] for n in names}
    for t in tracks:
        rel = f"{t.label}/{t.path.name}"
        gt = truth[rel]["concepts"]
        # the runtime's own song pipeline, at a 5 s hop so that frames overlap
        agg = model.aggregator()
        for batch, out in model.run_windows(iter_windows(t.path, model.window_s, min(model.window_s, 5.0))):
            agg.add(batch, out.logits, out.probabilities, out.concepts, out.concept_frames)
        dur = truth[rel]["duration"]
        # the runtime's rule: threshold, validation and opposite concepts per cell, then the timeline's vote
        centres, _, on = agg.concept_presence(resolution, duration=dur)
        strength = agg.concept_strengths()
        for k, n in enumerate(names):
            scores[n].append(float(strength[k]))
            present[n].append(n in gt)
            spans = gt.get(n)
            if spans and not (len(spans) == 1 and spans[0][0] <= 0.01 and spans[0][1] >= dur - 0.01):
                true_mask = np.zeros_like(centres, dtype=bool)
                for s, e in spans:
                    true_mask |= (centres >= s) & (centres < e)
                ious[n].append(iou(on[k], true_mask))
    per = {}
    for n in names:
        y = np.array(present[n])
        auc = float(roc_auc_score(y, scores[n])) if 0 < y.sum() < len(y) else None
        per[n] = {
            "roc_auc": auc,
            "positives": int(y.sum()),
            "clips": len(y),
            "localisation_iou_mean": float(np.mean(ious[n])) if ious[n] else None,
            "spans_checked": len(ious[n]),
        }
    all_iou = [v for n in names for v in ious[n]]
    aucs = [v["roc_auc"] for v in per.values() if v["roc_auc"] is not None]
    return {
        "bundle": str(bundle),
        "data": data,
        "splits": list(splits),
        "clips": len(tracks),
        "layer": (model.m.get("concepts") or {}).get("layer"),
        "per_concept": per,
        "auc_at_least_0.9": sum(a >= 0.9 for a in aucs),
        "concepts_with_auc": len(aucs),
        "mean_iou": float(np.mean(all_iou)) if all_iou else None,
        "spans_checked": len(all_iou),
    }


def write_validation_report(res: dict, out: Path) -> None:
    from audioconcept.utils import atomic_write_json, atomic_write_text

    atomic_write_json(out / "validation.json", res)
    lines = [
        f"# Concept validation of `{res['bundle']}` on {res['data']} ({', '.join(res['splits'])}: "
        f"{res['clips']} clips, layer {res['layer']})",
        "",
        f"- Concepts with ROC-AUC >= 0.9: {res['auc_at_least_0.9']} of {res['concepts_with_auc']}",
        f"- Localisation: mean IoU {res['mean_iou'] if res['mean_iou'] is None else round(res['mean_iou'], 3)} "
        f"over {res['spans_checked']} partial spans",
        "",
        "| concept | ROC-AUC | positives/clips | mean IoU (spans) |",
        "|---|---|---|---|",
    ]
    for n, v in res["per_concept"].items():
        auc = "n/a" if v["roc_auc"] is None else f"{v['roc_auc']:.3f}"
        io = "n/a" if v["localisation_iou_mean"] is None else f"{v['localisation_iou_mean']:.2f} ({v['spans_checked']})"
        lines.append(f"| {n} | {auc} | {v['positives']}/{v['clips']} | {io} |")
    a = res.get("attribution")
    if a:
        lines += [
            "",
            f"## Spectrogram attribution ({a['method']}) against the concept spans",
            "",
            f"On {a['clips']} clips whose genre-driving concept plays only inside a span, "
            f"{a['mean_mass_in_span']:.1%} of the genre's positive attribution falls inside the span on average, "
            f"against {a['mean_span_share']:.1%} of the clip that the span covers (chance). The majority of the mass "
            f"is inside on {a['clips_with_majority_in_span']:.0%} of clips; above chance on "
            f"{a['clips_above_chance']:.0%}.",
            "",
            "| clip | concept -> genre | mass in span | span share |",
            "|---|---|---|---|",
            *(
                f"| {r['clip']} | {r['concept']} -> {r['genre']} | {r['mass_in_span']:.2f} | {r['span_share']:.2f} |"
                for r in a["rows"]
            ),
        ]
    atomic_write_text(out / "validation.md", "\n".join(lines) + "\n")
