"""`train probe`: a linear genre head on a pretrained tagger's named tags (a concept bottleneck) or on its
pooled embedding, on any dataset.

Every track is cut into the tagger's windows, framed like its whole-song spectrogram (musicnn's patches
tile the song every 187 frames); a track's feature is the mean over its windows of the tag probabilities
(or of the embedding). The heads are standardised logistic regressions with the scaler folded into the
weights, so the exported graph computes genre logits = W p + b, and a genre logit splits exactly into
named contributions W_gk (p_k - mean_k) around the training mean, plus the intercept.

Three heads are fitted: `all-tags` (every tag), `musical` (no genre-, style- or era-named tag) and
`embedding`; `--head` and `--concepts` choose which one the exported graph computes, and the two tag heads
ride along in the manifest for the runtime's `--head`.

Protocols: `split` (GTZAN's fault-filtered split, the standard probe protocol: fit on train, choose C on
valid, report test) and `cv` (every track; accuracy estimated by repeated stratified k-fold
cross-validation at the track level, so no track is in train and test; C fixed).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audioconcept.errors import AudioConceptError, CheckpointError
from audioconcept.utils import atomic_dir, atomic_write_json

log = logging.getLogger(__name__)

HEADS = ("all-tags", "musical", "embedding")
C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
PRETRAINED_ROOT = Path("models/checkpoints/pretrained")


@dataclass(frozen=True)
class ProbeTrainConfig:
    backbone: str  # a tagger checkpoint folder, or a name under models/checkpoints/pretrained
    data: str
    out: Path
    head: str = "concepts"  # what the exported graph computes: concepts (a tag head) | embedding
    concepts: str = "all"  # with head=concepts: all (every tag) | musical (no genre-named tag)
    protocol: str = "auto"  # auto (split for gtzan:, cv otherwise) | split | cv
    C: float = 1.0  # inverse regularisation of the cv protocol (split chooses it on valid)
    cv_folds: int = 5
    cv_repeats: int = 10
    max_windows: int | None = None  # per track, evenly spaced (None: every window)
    seed: int = 0  # split seed of folder datasets
    quantile: float = 0.9  # concept thresholds (see models.tag_concepts)
    batch: int = 16


@dataclass
class TrackFeatures:
    """Per-window tag probabilities and embeddings of each track (windows in song order)."""

    paths: list[str]
    labels: list[str]
    splits: list[str]
    tags: list[np.ndarray]  # (n_windows, n_tags) per track
    embedding: list[np.ndarray]  # (n_windows, dim) per track
    starts: list[np.ndarray] = field(default_factory=list)  # window starts in seconds

    def pooled(self, what: str = "tags") -> np.ndarray:
        arrays = self.tags if what == "tags" else self.embedding
        return np.stack([a.mean(axis=0) for a in arrays])

    def save(self, path: Path) -> None:
        n = np.array([len(t) for t in self.tags])
        np.savez_compressed(
            path,
            paths=np.array(self.paths),
            labels=np.array(self.labels),
            splits=np.array(self.splits),
            n_windows=n,
            tags=np.concatenate(self.tags).astype(np.float32),
            embedding=np.concatenate(self.embedding).astype(np.float32),
            starts=np.concatenate(self.starts) if self.starts else np.zeros(0),
        )

    @classmethod
    def load(cls, path: Path) -> TrackFeatures:
        d = np.load(path)
        cuts = np.cumsum(d["n_windows"])[:-1]
        starts = list(np.split(d["starts"], cuts)) if d["starts"].size else []
        return cls(
            d["paths"].tolist(),
            d["labels"].tolist(),
            d["splits"].tolist(),
            list(np.split(d["tags"], cuts)),
            list(np.split(d["embedding"], cuts)),
            starts,
        )


# ---------------------------------------------------------------- the backbone
def resolve_backbone(spec: str | Path) -> Path:
    from audioconcept.models.checkpoint import CONFIG

    for p in (Path(spec), PRETRAINED_ROOT / str(spec)):
        if (p / CONFIG).exists():
            return p
    raise CheckpointError(
        f"--backbone {spec}: no tagger checkpoint there or under {PRETRAINED_ROOT} "
        "(import one with `audioconcept import-pretrained musicnn`)"
    )


def load_tagger(path: Path):
    """-> (waveform model with the window front end, its CheckpointConfig, context samples per side)."""
    from audioconcept.models.checkpoint import load_torch_checkpoint
    from audioconcept.models.classifier import AudioClassifier
    from audioconcept.models.outputs import has_native_concepts
    from audioconcept.models.registry import window_framing

    model, ck = load_torch_checkpoint(path)
    if not getattr(model.body, "multi_label", False) or not has_native_concepts(model.body):
        raise CheckpointError(f"{path}: {ck.arch} is not a tagger; a probe needs a pretrained tag model (musicnn)")
    if not ck.label_info:
        raise CheckpointError(f"{path}: the checkpoint does not describe its tags (no label_info)")
    mel, context = window_framing(ck.arch, ck.mel)
    return AudioClassifier(model.body, mel).eval(), ck, context


def window_hop_s(ck, context: int) -> float:
    """The hop that tiles a song with the tagger's windows frame by frame (musicnn: 187 frames = 2.992 s)."""
    from audioconcept.models.registry import window_framing

    mel, _ = window_framing(ck.arch, ck.mel)
    window = int(round(ck.window_s * mel.sample_rate))
    return mel.n_frames(window + 2 * context) * mel.hop_length / mel.sample_rate


def extract_features(model, ck, context: int, tracks, max_windows: int | None = None, batch: int = 16):
    """TrackFeatures of `tracks` (objects with path, label, split) through the tagger."""
    import torch
    from rich.progress import Progress

    from audioconcept.data.audio import load_audio, windows_from_array
    from audioconcept.models.outputs import pool_time

    sr = int(model.frontend.cfg.sample_rate)
    hop_s = window_hop_s(ck, context)
    emb_layer = model.body.embedding_layer
    feats = TrackFeatures([], [], [], [], [], [])
    with Progress(transient=True) as bar, torch.inference_mode():
        task = bar.add_task("tagging tracks", total=len(tracks))
        for t in tracks:
            wins = windows_from_array(load_audio(t.path, sr=sr), ck.window_s, hop_s, sr, context)
            if max_windows and len(wins) > max_windows:
                wins = [wins[int(i)] for i in np.linspace(0, len(wins) - 1, max_windows).round()]
            x = np.stack([w.samples for w in wins])
            tags, embs = [], []
            for i in range(0, len(x), batch):
                logits, acts = model.forward_layers(torch.from_numpy(x[i : i + batch]))
                tags.append(torch.sigmoid(logits).numpy())
                embs.append(pool_time(acts[emb_layer]).numpy())
            feats.paths.append(str(t.path))
            feats.labels.append(t.label)
            feats.splits.append(t.split)
            feats.tags.append(np.concatenate(tags))
            feats.embedding.append(np.concatenate(embs))
            feats.starts.append(np.array([w.start for w in wins]))
            bar.advance(task)
    return feats


# ---------------------------------------------------------------- linear heads
def fit_head(
    X: np.ndarray,
    y: np.ndarray,
    labels: list[str],
    C: float,
    nonnegative: bool = False,
    allowed: np.ndarray | None = None,
) -> dict:
    """Standardised multinomial logistic regression, the scaler folded in: logits = W x + b
    = intercept + W (x - reference). With `nonnegative`, every weight is >= 0 (a positive-evidence head: a
    concept can only speak for a genre, by the song having more of it than the average training song). `allowed`
    ((G, F) bool, with `nonnegative`): the weights that may be non-zero at all (`evidence_mask`); the others are 0."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    missing = sorted(set(labels) - set(y.tolist()))
    if missing:
        raise AudioConceptError(f"no training tracks for {', '.join(missing)}")
    mu, sd = X.mean(0), X.std(0) + 1e-6
    Z = (X - mu) / sd
    if nonnegative:
        coef, icpt = _nonnegative_softmax(Z, np.array([labels.index(v) for v in y]), len(labels), C, allowed)
    else:
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(C=C, max_iter=10_000).fit(Z, y)
        order = [list(clf.classes_).index(lab) for lab in labels]
        coef, icpt = clf.coef_, clf.intercept_
        if coef.shape[0] == 1:  # two classes: sklearn keeps one row; split it so that the softmax gives the same p
            coef, icpt = np.vstack([-coef / 2, coef / 2]), np.r_[-icpt / 2, icpt / 2]
        coef, icpt = coef[order], icpt[order]
    W = coef / sd
    intercept = icpt
    return {
        "weights": W.tolist(),
        "bias": (intercept - W @ mu).tolist(),
        "intercept": intercept.tolist(),
        "reference": mu.tolist(),
        "C": C,
    }


def _nonnegative_softmax(
    Z: np.ndarray, y: np.ndarray, n_classes: int, C: float, allowed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression with weights >= 0 (free intercepts), sklearn's objective
    C * sum(log-loss) + |W|^2 / 2, by L-BFGS-B; where `allowed` (G, F) is False the weight is held at 0.
    -> (W (G, F), b (G,))."""
    from scipy.optimize import minimize

    n, f = Z.shape
    Y = np.eye(n_classes)[y]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        W, b = theta[: n_classes * f].reshape(n_classes, f), theta[n_classes * f :]
        L = Z @ W.T + b
        L = L - L.max(axis=1, keepdims=True)
        logp = L - np.log(np.exp(L).sum(axis=1, keepdims=True))
        g = (np.exp(logp) - Y) * C
        value = -C * float((Y * logp).sum()) + 0.5 * float((W**2).sum())
        return value, np.r_[(g.T @ Z + W).ravel(), g.sum(axis=0)]

    free = np.ones((n_classes, f), bool) if allowed is None else np.asarray(allowed, bool).reshape(n_classes, f)
    bounds = [(0.0, None) if ok else (0.0, 0.0) for ok in free.ravel()] + [(None, None)] * n_classes
    r = minimize(
        loss, np.zeros(n_classes * (f + 1)), jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 10_000}
    )
    return r.x[: n_classes * f].reshape(n_classes, f), r.x[n_classes * f :]


EVIDENCE_TEST = (
    "one-sided Mann-Whitney U test, the genre's training songs against all the others: a concept may speak for a "
    "genre only where the genre's songs have significantly more of it (p < alpha)"
)


def evidence_mask(
    X: np.ndarray, y: np.ndarray, labels: list[str], alpha: float, fixed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Which (genre, feature) weights the data supports -> (allowed (G, F) bool, p-values (G, F)): for each genre
    and feature, a one-sided Mann-Whitney U test of "the genre's songs have more of it than the other songs"
    (rank-based: no assumption on how the values spread). A non-negative head fitted with this mask
    says "metal because loud" only where the metal songs it learned from are louder than the rest, never because
    a weight found a use for a concept in 5 songs. `fixed` (G, F): p-values from elsewhere (NaN: test here), e.g.
    the measured concepts on the GTZAN features table (concepts.genre_evidence)."""
    p = one_sided_p(X, y, labels)
    if fixed is not None:
        p = np.where(np.isnan(fixed), p, fixed)
    return p < alpha, p


def one_sided_p(X: np.ndarray, y: np.ndarray, labels: list[str]) -> np.ndarray:
    """(G, F) p-values of the one-sided Mann-Whitney U test "the genre's rows have more of the feature than all the
    other rows"; 1 where a genre has no row or the test is undefined."""
    from scipy.stats import mannwhitneyu

    X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
    p = np.ones((len(labels), X.shape[1]))
    for g, lab in enumerate(labels):
        inside, outside = X[y == lab], X[y != lab]
        if len(inside) and len(outside):
            with np.errstate(invalid="ignore", divide="ignore"):
                pg = mannwhitneyu(inside, outside, alternative="greater", axis=0).pvalue
            p[g] = np.where(np.isfinite(pg), pg, 1.0)
    return p


def head_logits(head: dict, X: np.ndarray) -> np.ndarray:
    return np.asarray(X) @ np.asarray(head["weights"]).T + np.asarray(head["bias"])


def cv_accuracy(
    X: np.ndarray,
    y: np.ndarray,
    labels: list[str],
    C: float,
    folds: int,
    repeats: int,
    nonnegative: bool = False,
    evidence_alpha: float | None = None,
    evidence_fixed: np.ndarray | None = None,
) -> dict:
    """Repeated stratified k-fold accuracy (one row per track, so no track is in train and test). With
    `evidence_alpha` (and `nonnegative`), each fold's head is fitted under the evidence mask of that fold's training
    tracks only, so the test tracks never choose which weights may live."""
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y)
    k = int(min(folds, np.bincount(np.unique(y, return_inverse=True)[1]).min()))
    if k < 2:
        raise AudioConceptError("cross-validation needs at least 2 tracks per label")
    accs = []
    for r in range(repeats):
        pred = np.empty(len(y), dtype=object)
        for tr, te in StratifiedKFold(k, shuffle=True, random_state=r).split(X, y):
            allowed = evidence_mask(X[tr], y[tr], labels, evidence_alpha, evidence_fixed)[0] if evidence_alpha else None
            h = fit_head(X[tr], y[tr], labels, C, nonnegative, allowed)
            pred[te] = np.asarray(labels)[head_logits(h, X[te]).argmax(1)]
        accs.append(float(np.mean(pred == y)))
    return {
        "accuracy": round(float(np.mean(accs)), 4),
        "std": round(float(np.std(accs)), 4),
        "folds": k,
        "repeats": repeats,
        "n": int(len(y)),
        "estimate": f"{k}-fold stratified cross-validation over tracks, {repeats} repeats (mean, std over repeats)",
    }


def _accuracy(head: dict, X: np.ndarray, y: list[str], labels: list[str]) -> float:
    if not len(y):
        return float("nan")
    return float(np.mean(np.asarray(labels)[head_logits(head, X).argmax(1)] == np.asarray(y)))


def head_features(tag_labels: list[str]) -> dict[str, list[int]]:
    """Feature indices of the two tag heads: every tag, and tags that name no genre, style or era."""
    from audioconcept.models.musicnn_tags import TAGS

    return {
        "all-tags": list(range(len(tag_labels))),
        "musical": [i for i, lab in enumerate(tag_labels) if not TAGS[lab].genre_named],
    }


def fit_heads(feats: TrackFeatures, labels: list[str], tag_labels: list[str], cfg: ProbeTrainConfig, protocol: str):
    """-> (heads {name: head dict with accuracy}, metrics)."""
    T, E = feats.pooled("tags"), feats.pooled("embedding")
    inputs = {name: T[:, idx] for name, idx in head_features(tag_labels).items()} | {"embedding": E}
    y = np.asarray(feats.labels)
    heads: dict[str, dict] = {}
    for name, X in inputs.items():
        if protocol == "cv":
            h = fit_head(X, y, labels, cfg.C)
            h["accuracy"] = {"cv": cv_accuracy(X, y, labels, cfg.C, cfg.cv_folds, cfg.cv_repeats)}
        else:
            split = np.asarray(feats.splits)
            tr, va, te = (np.flatnonzero(split == s) for s in ("train", "valid", "test"))
            if not len(tr):
                raise AudioConceptError(f"{cfg.data}: no tracks in the train split")
            scores = {C: _accuracy(fit_head(X[tr], y[tr], labels, C), X[va], y[va].tolist(), labels) for C in C_GRID}
            best = max(C_GRID, key=lambda C: (scores[C], -abs(np.log(C))))  # ties: the C nearest 1
            h = fit_head(X[tr], y[tr], labels, best if len(va) else cfg.C)
            h["accuracy"] = {
                "valid": _accuracy(h, X[va], y[va].tolist(), labels),
                "test": _accuracy(h, X[te], y[te].tolist(), labels),
                "n_train": int(len(tr)),
                "n_valid": int(len(va)),
                "n_test": int(len(te)),
                "valid_by_C": {str(C): round(v, 4) for C, v in scores.items()},
            }
        heads[name] = h
        log.info("%s head: %s", name, _describe(h["accuracy"]))
    return heads


def _describe(acc: dict) -> str:
    if "cv" in acc:
        return f"cross-validated accuracy {acc['cv']['accuracy']:.3f} ± {acc['cv']['std']:.3f}"
    return f"valid {acc['valid']:.3f}, test {acc['test']:.3f}"


# ---------------------------------------------------------------- the whole command
def train_probe(cfg: ProbeTrainConfig) -> tuple[Path, dict]:
    import torch

    from audioconcept.data.spec import load_tracks, parse_data_spec
    from audioconcept.models.checkpoint import CheckpointConfig, checkpoint_sha256, save_torch_checkpoint
    from audioconcept.models.classifier import AudioClassifier
    from audioconcept.models.frontend_config import MelConfig
    from audioconcept.models.probe import ProbeConfig, TagProbe
    from audioconcept.models.tag_concepts import (
        calibrate_thresholds,
        calibration_text,
        concepts_section,
        merge_tags,
        vocabulary,
    )
    from audioconcept.models.tag_concepts import tag_labels as tagger_labels

    if cfg.head not in ("concepts", "embedding") or cfg.concepts not in ("all", "musical"):
        raise AudioConceptError("--head is concepts or embedding; --concepts is all or musical")
    t0 = time.time()
    spec = parse_data_spec(cfg.data)
    protocol = cfg.protocol if cfg.protocol != "auto" else ("split" if spec.kind == "gtzan" else "cv")
    if protocol not in ("split", "cv"):
        raise AudioConceptError(f"--protocol {cfg.protocol}: choose auto, split or cv")
    backbone_dir = resolve_backbone(cfg.backbone)
    model, ck, context = load_tagger(backbone_dir)
    tl = load_tracks(spec, cfg.seed)
    tracks = tl.split("all")
    labels = list(tl.labels)
    log.info("%d tracks of %s (%s); backbone %s (%s)", len(tracks), cfg.data, protocol, ck.arch, backbone_dir)
    feats = extract_features(model, ck, context, tracks, cfg.max_windows, cfg.batch)
    tags = tagger_labels(ck.label_info, ck.labels)
    heads = fit_heads(feats, labels, tags, cfg, protocol)

    in_graph = "embedding" if cfg.head == "embedding" else ("all-tags" if cfg.concepts == "all" else "musical")
    features = head_features(tags)
    W = np.zeros((len(labels), len(tags) if in_graph != "embedding" else feats.embedding[0].shape[1]))
    if in_graph == "embedding":
        W[:] = heads["embedding"]["weights"]
    else:
        W[:, features[in_graph]] = heads[in_graph]["weights"]
    probe = TagProbe(
        model.body,
        ProbeConfig(ck.arch, len(tags), len(labels), cfg.head, W.shape[1], ck.arch_config),
    ).eval()
    with torch.no_grad():
        probe.head.weight.copy_(torch.from_numpy(W).float())
        probe.head.bias.copy_(torch.tensor(heads[in_graph]["bias"], dtype=torch.float32))

    # presence thresholds of the clean concepts, from every window of real music the head saw
    vocab = vocabulary(tags)
    window_concepts = merge_tags(np.concatenate(feats.tags), vocab["members"])
    window_labels = [lab for lab, t in zip(feats.labels, feats.tags, strict=True) for _ in range(len(t))]
    thresholds, evidence = calibrate_thresholds(window_concepts, vocab["names"], window_labels, cfg.quantile)
    concepts = concepts_section(
        tags,
        thresholds,
        calibration_text(cfg.quantile) + f"; calibrated on {len(window_labels)} windows of {cfg.data}",
        threshold_evidence=evidence,
    )
    genre_heads = {
        "in_graph": in_graph,
        "heads": {
            name: {
                "input": "tags",
                "features": [tags[i] for i in features[name]],
                "description": "every tag" if name == "all-tags" else "tags naming no genre, style or era",
                **{k: heads[name][k] for k in ("weights", "bias", "intercept", "reference", "C", "accuracy")},
            }
            for name in ("all-tags", "musical")
        },
        "embedding": {"C": heads["embedding"]["C"], "accuracy": heads["embedding"]["accuracy"]},
        "contributions": "logit_g = intercept_g + sum_k w_gk (p_k - reference_k): exact, per window and per song "
        "(a song's logits are the mean of its windows')",
    }
    metrics = {
        "protocol": protocol,
        "in_graph": in_graph,
        "heads": {name: h["accuracy"] for name, h in heads.items()},
    }
    acc = heads[in_graph]["accuracy"]
    if protocol == "cv":
        metrics["cv"] = acc["cv"]
    else:
        metrics["test"] = {"accuracy": acc["test"], "n": acc["n_test"]}
        metrics["valid"] = {"accuracy": acc["valid"], "n": acc["n_valid"]}
    backbone_info = {"arch": ck.arch, "n_tags": len(tags), "arch_config": ck.arch_config, "name": backbone_dir.name}
    out_cfg = CheckpointConfig(
        arch="musicnn-probe",
        labels=labels,
        window_s=ck.window_s,
        eval_chunks=ck.eval_chunks,
        arch_config={"backbone": backbone_info, "head": cfg.head, "n_features": int(W.shape[1])},
        mel=MelConfig.from_dict(ck.mel).to_dict(),
        trained_on=cfg.data,
        data_seed=cfg.seed,
        metrics=metrics,
        source={**ck.source, "backbone": backbone_dir.name, "backbone_sha256": checkpoint_sha256(backbone_dir)},
        concepts=concepts,
        genre_heads=genre_heads,
    )
    run = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in cfg.__dict__.items()},
        "protocol": protocol,
        "tracks": len(tracks),
        "windows": int(sum(len(t) for t in feats.tags)),
        "metrics": metrics,
        "wall_time_s": round(time.time() - t0, 1),
    }
    with atomic_dir(cfg.out) as tmp:
        save_torch_checkpoint(tmp, AudioClassifier(probe, MelConfig.from_dict(ck.mel)), out_cfg)
        feats.save(tmp / "features.npz")
        atomic_write_json(tmp / "run.json", run)
    return cfg.out, run
