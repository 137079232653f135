"""`concepts learn`: CAVs per concept and layer, TCAV scores with significance, and the concept head."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audioconcept.concepts.activations import clip_window, model_sample_rate, pooled_activations, pooled_gradients
from audioconcept.concepts.cav import CAV, train_cav
from audioconcept.concepts.sets import ConceptSets, read_concept_sets
from audioconcept.concepts.tcav import directional_derivatives, significance, tcav_magnitude, tcav_sign
from audioconcept.utils import atomic_dir, atomic_write_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LearnConfig:
    checkpoint: Path
    concepts: Path
    out: Path
    layers: tuple[str, ...] | None = None  # default: every named layer of the model
    eval_data: str | None = None  # clips per class for TCAV (default: the training data)
    clips_per_class: int = 10
    alpha: float = 0.05
    head_layer: str | None = None  # default: best CAV accuracy among layers with <= max_frame_hop_s
    max_frame_hop_s: float = 1.5
    min_cav_accuracy: float = 0.7
    seed: int = 0
    class_splits: tuple[str, ...] = ("test", "valid")  # where the TCAV class clips come from


def _truth_for(root: Path) -> dict[str, dict[str, bool]]:
    """clip path (relative) -> {concept: present throughout the clip?}, when the folder has a
    ground_truth.json (concept sets rendered by `data concepts` have one)."""
    p = root / "ground_truth.json"
    if not p.exists():
        return {}
    out = {}
    for c in json.loads(p.read_text())["clips"]:
        dur = float(c.get("duration") or 0.0)
        out[c["path"]] = {n: any(e - s >= dur - 0.5 for s, e in spans) for n, spans in c["concepts"].items()}
    return out


def _class_clips(
    data: str, labels: list[str], n: int, window: int, seed: int, sr: int, splits: tuple[str, ...] = ("test", "valid")
) -> dict[str, np.ndarray]:
    from audioconcept.data.spec import load_tracks, parse_data_spec

    tl = load_tracks(parse_data_spec(data), seed)
    tracks = [t for s in splits for t in tl.split(s)]
    out = {}
    for lab in labels:
        paths = [t.path for t in tracks if t.label == lab][:n]
        if paths:
            out[lab] = np.stack([clip_window(p, window, sr) for p in paths])
    return out


def learn_concepts(cfg: LearnConfig) -> dict:
    from rich.progress import Progress

    from audioconcept.models.checkpoint import load_torch_checkpoint

    t0 = time.time()
    model, ck = load_torch_checkpoint(cfg.checkpoint)
    layers = list(cfg.layers or model.body.layer_names)
    bad = [lay for lay in layers if lay not in model.body.layer_names]
    if bad:
        from audioconcept.errors import AudioConceptError

        raise AudioConceptError(f"unknown layer(s) {', '.join(bad)}; {ck.arch} has {', '.join(model.body.layer_names)}")
    sr = model_sample_rate(model)
    window = int(round(ck.window_s * sr))
    sets: ConceptSets = read_concept_sets(cfg.concepts)
    randoms = list(sets.randoms)
    if len(randoms) < 4:
        from audioconcept.errors import DataSpecError

        raise DataSpecError(f"{cfg.concepts}: TCAV needs at least 4 random sets (found {len(randoms)})")
    # Null: random-vs-random CAVs over every pair of the pool (many positive sets, so the null is not
    # tied to one random set). The last random set poses as a concept to measure the false-positive rate.
    # A finding also needs a real CAV: held-out accuracy of at least `min_cav_accuracy` at that layer
    # (a set that a linear probe cannot tell from random clips is not a concept there).
    pool, pseudo = randoms[:-1], randoms[-1]
    baseline = "random-vs-random"
    log.info("%d concepts, %d random sets, layers %s", len(sets.concepts), len(randoms), ", ".join(layers))

    acts: dict[str, dict[str, np.ndarray]] = {}
    all_sets = {**sets.concepts, **sets.randoms}
    with Progress(transient=True) as bar:
        task = bar.add_task("activations", total=len(all_sets))
        for name, paths in all_sets.items():
            acts[name] = pooled_activations(model, paths, layers, window)
            bar.advance(task)

    data = cfg.eval_data or ck.trained_on
    class_x = _class_clips(data, ck.labels, cfg.clips_per_class, window, cfg.seed, sr, cfg.class_splits)
    grads = {lab: pooled_gradients(model, x, ck.labels.index(lab), layers) for lab, x in class_x.items()}

    truth = _truth_for(cfg.concepts)

    def without(concept: str, rset: str) -> np.ndarray:
        """Indices of random set `rset` that do not hold `concept` (all, without ground truth)."""
        paths = sets.randoms[rset]
        return np.array([i for i, p in enumerate(paths) if concept not in truth.get(f"{rset}/{p.name}", {})], int)

    def cav(pos: str, neg: str, layer: str) -> CAV:
        neg_acts = acts[neg][layer]
        if pos in sets.concepts and truth:
            # a random clip that holds the concept is a mislabelled counterexample: leave it out
            # (unless too few remain, as for a concept present in almost every clip)
            keep = without(pos, neg)
            if len(keep) >= 4:
                neg_acts = neg_acts[keep]
        return train_cav(acts[pos][layer], neg_acts, pos, neg, layer, cfg.seed)

    cavs: dict[tuple[str, str], list[CAV]] = {}
    with Progress(transient=True) as bar:
        task = bar.add_task("CAVs", total=(len(sets.concepts) + 2) * len(layers))
        # pool: random sets used as negatives; pseudo: a random set posing as a concept
        for layer in layers:
            for c in sets.concepts:
                cavs[(c, layer)] = [cav(c, r, layer) for r in pool]
                bar.advance(task)
            cavs[(baseline, layer)] = [cav(a, b, layer) for i, a in enumerate(pool) for b in pool[i + 1 :]]
            cavs[(pseudo, layer)] = [cav(pseudo, r, layer) for r in pool]
            bar.advance(task, 2)

    def scores(name: str, layer: str, lab: str) -> tuple[np.ndarray, np.ndarray]:
        dd = [directional_derivatives(grads[lab][layer], v.direction) for v in cavs[(name, layer)]]
        return np.array([tcav_sign(d) for d in dd]), np.array([tcav_magnitude(d) for d in dd])

    cav_acc = {
        layer: {c: float(np.mean([v.accuracy for v in cavs[(c, layer)]])) for c in [*sets.concepts, pseudo]}
        for layer in layers
    }
    n_tests = len(class_x) * len(sets.concepts) * len(layers)
    threshold = cfg.alpha / max(n_tests, 1)
    rows = []
    sanity_sig = 0
    import warnings

    warnings.filterwarnings("ignore", message="Precision loss occurred", category=RuntimeWarning)
    for layer in layers:
        for lab in class_x:
            base_sign, base_mag = scores(baseline, layer, lab)
            for c in sets.concepts:
                sign, mag = scores(c, layer, lab)
                p = significance(sign, base_sign)
                rows.append(
                    {
                        "class": lab,
                        "concept": c,
                        "layer": layer,
                        "tcav_sign": float(sign.mean()),
                        "tcav_sign_std": float(sign.std()),
                        "tcav_magnitude": float(mag.mean()),
                        "random_sign": float(base_sign.mean()),
                        "cav_accuracy": cav_acc[layer][c],
                        "p_value": p,
                        "significant": bool(p < threshold and cav_acc[layer][c] >= cfg.min_cav_accuracy),
                        "effect": "+" if sign.mean() > base_sign.mean() else "-",
                    }
                )
            ps_sign, _ = scores(pseudo, layer, lab)
            sanity_sig += bool(
                significance(ps_sign, base_sign) < threshold and cav_acc[layer][pseudo] >= cfg.min_cav_accuracy
            )
    n_sanity = len(layers) * len(class_x)
    head = _fit_head(cfg, model, ck, layers, sets, acts, cav_acc)
    result = {
        "model": str(cfg.checkpoint),
        "arch": ck.arch,
        "labels": ck.labels,
        "layers": layers,
        "concepts": list(sets.concepts),
        "random_sets": randoms,
        "null_distribution": f"{len(pool) * (len(pool) - 1) // 2} random-vs-random CAVs (every pair of "
        f"{pool[0]}..{pool[-1]})",
        "min_cav_accuracy": cfg.min_cav_accuracy,
        "clips_per_class": {lab: int(len(x)) for lab, x in class_x.items()},
        "alpha": cfg.alpha,
        "bonferroni_tests": n_tests,
        "p_threshold": threshold,
        "cav_accuracy": cav_acc,
        "tcav": rows,
        "significant_findings": [r for r in rows if r["significant"] and r["effect"] == "+"],
        "random_sanity": {
            "pseudo_concept": pseudo,
            "tests": n_sanity,
            "significant": int(sanity_sig),
            "rate": sanity_sig / max(n_sanity, 1),
        },
        "head": head,
        "wall_time_s": round(time.time() - t0, 1),
    }
    from audioconcept.concepts.report import write_report

    with atomic_dir(cfg.out, marker="concepts.json") as tmp:
        atomic_write_json(tmp / "concepts.json", result)
        write_report(result, tmp)
    return result


def _fit_head(cfg: LearnConfig, model, ck, layers, sets: ConceptSets, acts, cav_acc) -> dict:
    """One averaged, calibrated direction per concept on one layer with a usable time resolution."""
    import torch
    from sklearn.linear_model import LogisticRegression

    window = int(round(ck.window_s * model_sample_rate(model)))
    with torch.inference_mode():
        _, probe = model.forward_layers(torch.zeros(2, window))
    hop = {lay: ck.window_s / (probe[lay].shape[-1] if probe[lay].ndim == 4 else 1) for lay in layers}
    if cfg.head_layer:
        layer = cfg.head_layer
    else:
        # the finest time resolution among the layers whose mean CAV accuracy is near the best
        fine = [lay for lay in layers if hop[lay] <= cfg.max_frame_hop_s] or layers
        mean_acc = {lay: float(np.mean([v for c, v in cav_acc[lay].items() if c in sets.concepts])) for lay in fine}
        best = max(mean_acc.values())
        layer = min((lay for lay in fine if mean_acc[lay] >= best - 0.02), key=lambda lay: hop[lay])
    truth = _truth_for(cfg.concepts)
    rand_names = list(sets.randoms)
    weights, bias = [], []
    for c in sets.concepts:
        # With ground truth, random clips that hold the concept throughout are positives too (many
        # more examples than the concept set alone), those without it are negatives, and clips
        # where it plays only part of the time are left out.
        poss, negs = [acts[c][layer]], []
        for r in rand_names:
            rp = sets.randoms[r]
            if not truth:
                negs.append(acts[r][layer])
                continue
            states = [truth.get(f"{r}/{p.name}", {}).get(c) for p in rp]
            negs.append(acts[r][layer][[i for i, st in enumerate(states) if st is None]])
            poss.append(acts[r][layer][[i for i, st in enumerate(states) if st is True]])
        pos, neg = np.concatenate(poss), np.concatenate(negs)
        X = np.concatenate([pos, neg])
        y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
        mu, sd = X.mean(0), X.std(0) + 1e-6
        clf = LogisticRegression(C=0.5, max_iter=3000, class_weight="balanced").fit((X - mu) / sd, y)
        w = clf.coef_[0] / sd
        b = float(clf.intercept_[0] - np.dot(clf.coef_[0], mu / sd))
        weights.append(w.tolist())
        bias.append(b)
    return {
        "layer": layer,
        "names": list(sets.concepts),
        "weights": weights,
        "bias": bias,
        "frame_hop_s": hop[layer],
        "negatives": "random clips without the concept (ground truth)" if truth else "all random clips",
        "positives": "the concept set plus random clips holding the concept throughout (ground truth)"
        if truth
        else "the concept set",
        "calibration": "balanced logistic regression on standardised time-pooled activations, folded into "
        "raw space; p = sigmoid(w.a + b); present when p >= 0.5",
    }
