"""`concepts study`: which named concepts a tag probe's genres rest on, measured two ways.

1. The exact head contributions. A genre logit of a concept-bottleneck head is its intercept plus one
   term per named concept (models.probe, runtime.tag_concepts); per genre we average those terms over
   the genre's tracks, for both heads (every tag; musical concepts only).
2. TCAV on the tagger's own layers, with concept sets chosen from real audio: the windows of the data
   whose tag activation for a concept is highest (at most `per_track` windows per track), random sets
   of windows, and optionally the descriptor sets of `concepts derive` (fast/slow, percussive/harmonic,
   bright/dark). The tests and their significance against random-vs-random CAVs are `concepts learn`'s.

Writes README.md (tables), study.json (every number) and figures/<genre>.png (one figure per genre).
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audioconcept.errors import AudioConceptError
from audioconcept.runtime.tag_concepts import signed
from audioconcept.utils import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

# concept sets chosen by tag activation: musical concepts the MSD + MTT tags name
TCAV_CONCEPTS = (
    "guitar",
    "piano",
    "drums",
    "strings",
    "synth",
    "female voice",
    "male voice",
    "instrumental",
    "fast",
    "slow",
    "beat",
    "loud",
    "quiet",
)
TCAV_LAYERS = ("MSD.midend3", "MTT.midend3", "MSD.penultimate", "MTT.penultimate")


@dataclass(frozen=True)
class StudyConfig:
    checkpoint: Path  # a `train probe` checkpoint
    out: Path
    data: str | None = None  # default: the probe's training data
    tcav: bool = True
    derived: bool = True  # also TCAV with `concepts derive` sets (needs librosa)
    concepts: tuple[str, ...] = TCAV_CONCEPTS
    layers: tuple[str, ...] = TCAV_LAYERS
    windows_per_concept: int = 16
    per_track: int = 2  # windows of one track in a concept set, at most
    random_sets: int = 10
    seed: int = 0


# ---------------------------------------------------------------- head contributions
def _heads(ck) -> dict:
    from audioconcept.runtime.tag_concepts import GenreHead

    m = {"name": "study", "labels": ck.labels, "concepts": ck.concepts, "genre_heads": ck.genre_heads}
    return {name: GenreHead.from_manifest(m, name) for name in ck.genre_heads["heads"]}


def head_contributions(ck, feats) -> dict:
    """head -> genre -> {concept: (mean, std) over the genre's tracks of its contribution to that genre's logit},
    plus the share of the (absolute) contributions that genre-named concepts make."""
    out: dict = {}
    labels = np.asarray(feats.labels)
    for name, head in _heads(ck).items():
        names = head.vocabulary.names
        named = np.asarray(head.vocabulary.genre_named)
        # each track's head input: the mean of its windows' (a song's logits are the mean of its windows')
        x = np.stack([head.inputs(t, song=True) for t in feats.tags])
        per_genre = {}
        for g, genre in enumerate(ck.labels):
            rows = x[labels == genre]
            if not len(rows):
                continue
            c = head.contributions_of(rows)[:, g, :]  # (n_tracks, n_concepts)
            mean, std = c.mean(0), c.std(0)
            order = [int(k) for k in np.argsort(-np.abs(mean)) if mean[k] != 0.0]
            logits = head.logits_of(rows)
            pred = np.asarray(ck.labels)[logits.argmax(1)]
            per_genre[genre] = {
                "tracks": int(len(rows)),
                "intercept": float(head.intercept[g]),
                "mean_logit": float(logits[:, g].mean()),
                "fit_accuracy": float(np.mean(pred == genre)),
                "genre_named_share": float(np.abs(c[:, named]).sum() / max(np.abs(c).sum(), 1e-12)),
                "contributions": [
                    {
                        "concept": names[k],
                        "mean": round(float(mean[k]), 4),
                        "std": round(float(std[k]), 4),
                        "genre_named": bool(named[k]),
                    }
                    for k in order
                ],
            }
        out[name] = per_genre
    return out


# ---------------------------------------------------------------- TCAV concept sets from real audio
def write_tag_sets(feats, vocab, cfg: StudyConfig, root: Path, sr: int, window_s: float) -> dict:
    """Concept folders of the windows with the strongest tag activation, and random window sets; -> what was
    chosen (track, start, strength) per set."""
    from audioconcept.data.audio import load_audio, write_audio
    from audioconcept.runtime.tag_concepts import TagVocabulary

    assert isinstance(vocab, TagVocabulary)
    rows = [(t, k) for t, tags in enumerate(feats.tags) for k in range(len(tags))]
    strengths = vocab.merge(np.concatenate(feats.tags))  # (n_windows, n_concepts)
    audio_cache: dict[int, np.ndarray] = {}
    window = int(round(window_s * sr))

    def write(folder: Path, picks: list[int]) -> list[dict]:
        folder.mkdir(parents=True)
        chosen = []
        for n, i in enumerate(picks):
            t, k = rows[i]
            if t not in audio_cache:
                audio_cache[t] = load_audio(feats.paths[t], sr=sr)
            s = int(round(feats.starts[t][k] * sr))
            write_audio(folder / f"{n:03d}.wav", audio_cache[t][s : s + window], sr, subtype="FLOAT")
            chosen.append({"track": Path(feats.paths[t]).name, "start": round(float(feats.starts[t][k]), 3)})
        return chosen

    sets: dict = {}
    for concept in cfg.concepts:
        if concept not in vocab.names:
            raise AudioConceptError(f"concept {concept!r} is not among this tagger's: {', '.join(vocab.names)}")
        s = strengths[:, vocab.names.index(concept)]
        picks, per = [], {}
        for i in np.argsort(-s):
            t = rows[i][0]
            if per.get(t, 0) < cfg.per_track:
                picks.append(int(i))
                per[t] = per.get(t, 0) + 1
            if len(picks) == cfg.windows_per_concept:
                break
        sets[concept] = {"windows": write(root / concept, picks), "min_strength": float(s[picks].min())}
    rng = np.random.default_rng(cfg.seed)
    for r in range(cfg.random_sets):
        picks = [int(i) for i in rng.choice(len(rows), cfg.windows_per_concept, replace=False)]
        sets[f"random_{r}"] = {"windows": write(root / f"random_{r}", picks)}
    return sets


def run_tcav(cfg: StudyConfig, data: str, sets_dir: Path, out: Path) -> dict:
    from audioconcept.concepts.learn import LearnConfig, learn_concepts

    return learn_concepts(
        LearnConfig(
            cfg.checkpoint,
            sets_dir,
            out,
            cfg.layers,
            data,
            clips_per_class=1000,  # every track of a label
            seed=cfg.seed,
            class_splits=("all",),
        )
    )


# ---------------------------------------------------------------- figures and report
def plot_genre(genre: str, contributions: dict, tcav_rows: list[dict], path: Path, n: int = 10) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from audioconcept.train.plots import save_figure

    heads = list(contributions)
    panels = len(heads) + (1 if tcav_rows else 0)
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.4))
    axes = np.atleast_1d(axes)
    for ax, head in zip(axes, heads, strict=False):
        g = contributions[head].get(genre)
        if g is None:
            continue
        cs = g["contributions"][:n][::-1]
        y = np.arange(len(cs))
        bars = ax.barh(
            y,
            [c["mean"] for c in cs],
            xerr=[c["std"] for c in cs],
            color=["#59a14f" if c["mean"] >= 0 else "#e15759" for c in cs],
            ecolor="#888",
        )
        for b, c in zip(bars, cs, strict=True):
            if c["genre_named"]:
                b.set_hatch("///")
                b.set_edgecolor("white")
        ax.set_yticks(y, [c["concept"] + (" †" if c["genre_named"] else "") for c in cs], fontsize=8)
        ax.axvline(0, color="#444", lw=0.8)
        ax.set_title(
            f"head {head}: contributions to the {genre} logit\n(mean ± sd over {g['tracks']} {genre} tracks; "
            f"† genre-named, {g['genre_named_share']:.0%} of |total|)",
            fontsize=8,
        )
    if tcav_rows:
        ax = axes[-1]
        rows = sorted(tcav_rows, key=lambda r: r["concept"])
        labels = [f"{r['concept']} [{r['layer']}]" for r in rows]
        y = np.arange(len(rows))
        colors = ["#4e79a7" if r["significant"] else "#bab0ac" for r in rows]
        ax.barh(y, [r["tcav_sign"] for r in rows], color=colors)
        ax.plot([r["random_sign"] for r in rows], y, "k|", ms=9, label="random-vs-random mean")
        ax.set_yticks(y, labels, fontsize=6)
        ax.set_xlim(0, 1)
        ax.set_title(f"TCAV sign scores for {genre} (blue: significant)", fontsize=8)
        ax.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    save_figure(fig, path)


def _table_contributions(contributions: dict, genre: str, n: int = 6) -> str:
    cells = []
    for per in contributions.values():
        g = per.get(genre)
        if g is None:
            cells.append("")
            continue
        top = ", ".join(
            f"{c['concept']}{'†' if c['genre_named'] else ''} {signed(c['mean'])}" for c in g["contributions"][:n]
        )
        cells.append(f"{top} ({g['genre_named_share']:.0%} genre-named)")
    return " | ".join(cells)


def write_study_report(study: dict, out: Path) -> Path:
    heads = list(study["contributions"])
    lines = [
        "# Real-music concept study: what a musicnn tag probe's genres rest on",
        "",
        f"Checkpoint `{study['checkpoint']}` (backbone {study['backbone']}), data `{study['data']}` "
        f"({study['tracks']} tracks, {study['windows']} windows). Regenerate with "
        f"`audioconcept concepts study --model CHECKPOINT --out {out}`.",
        "",
        "Findings in words: [FINDINGS.md](FINDINGS.md) (written by hand; regenerate it too if the numbers move)."
        if (out / "FINDINGS.md").exists()
        else "",
        "",
        "## Accuracy of the heads",
        "",
        "| head | accuracy |",
        "|---|---|",
    ]
    for name, acc in study["accuracy"].items():
        if "cv" in acc:
            lines.append(
                f"| {name} | {acc['cv']['accuracy']:.3f} ± {acc['cv']['std']:.3f} "
                f"({acc['cv']['folds']}-fold CV over tracks, {acc['cv']['repeats']} repeats) |"
            )
        else:
            lines.append(f"| {name} | test {acc['test']:.3f}, valid {acc['valid']:.3f} |")
    lines += [
        "",
        "These are estimates on the training data's own tracks: each clip is scored by a head that did not see it. "
        "On GTZAN, neighbouring track numbers often share an artist, so clips of one artist can sit in training "
        "and test folds at once; the estimate is likely optimistic for songs of unseen artists.",
        "",
        "## 1. Exact head contributions per genre",
        "",
        "A genre's logit is the head's intercept plus one contribution per named concept: weight × (the "
        "concept's tag probability − its training mean), summed over the concept's source tags. Below: the "
        "largest mean contributions to each genre's own logit over that genre's tracks († genre-, style- or "
        "era-named concept; the share is that of genre-named concepts in the absolute contributions).",
        "",
        "| genre | " + " | ".join(f"head {h}" for h in heads) + " |",
        "|---|" + "---|" * len(heads),
    ]
    for genre in study["labels"]:
        lines.append(f"| {genre} | {_table_contributions(study['contributions'], genre)} |")
    lines += ["", "Figures: " + ", ".join(f"[{g}](figures/{g}.png)" for g in study["labels"]), ""]
    for tcav_name, t in (study.get("tcav") or {}).items():
        lines += [
            f"## 2. TCAV, concept sets {tcav_name}",
            "",
            t["description"],
            "",
            f"Layers {', '.join(t['layers'])}; {t['null_distribution']}; {t['bonferroni_tests']} tests, "
            f"Bonferroni threshold p < {t['p_threshold']:.2g}; a finding also needs a CAV accuracy of at least "
            f"{t['min_cav_accuracy']}. Random-concept false positives: {t['random_sanity']['significant']}/"
            f"{t['random_sanity']['tests']}.",
            "",
            "TCAV tells which directions of the tagger's layers a genre logit increases along; with a few clips per "
            "genre and concept sets drawn from the same clips, read it as exploratory.",
            "",
            "| genre | significant positive concepts (layer: TCAV sign score) |",
            "|---|---|",
        ]
        for genre in study["labels"]:
            found = [r for r in t["significant_findings"] if r["class"] == genre]
            found.sort(key=lambda r: -r["tcav_sign"])
            lines.append(
                f"| {genre} | "
                + (", ".join(f"{r['concept']} ({r['layer']}: {r['tcav_sign']:.2f})" for r in found[:8]) or "none")
                + " |"
            )
        lines += ["", "CAV accuracy (held-out) by layer:", "", "| concept | " + " | ".join(t["layers"]) + " |"]
        lines.append("|---|" + "---|" * len(t["layers"]))
        for c in t["concepts"]:
            lines.append(f"| {c} | " + " | ".join(f"{t['cav_accuracy'][lay][c]:.2f}" for lay in t["layers"]) + " |")
        lines.append("")
    if (out / "preprocessing.md").exists():
        lines += [
            "## Preprocessing",
            "",
            "Why the runtime resamples with soxr and frames each window like a slice of the whole song's mel: "
            "[preprocessing.md](preprocessing.md).",
            "",
        ]
    for note in study.get("notes", []):
        lines += [note, ""]
    path = out / "README.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def run_study(cfg: StudyConfig) -> dict:
    from audioconcept.data.spec import load_tracks, parse_data_spec
    from audioconcept.models.checkpoint import read_config
    from audioconcept.runtime.tag_concepts import TagVocabulary
    from audioconcept.train.probe import TrackFeatures, extract_features, load_tagger, resolve_backbone

    ck = read_config(cfg.checkpoint)
    if ck.arch != "musicnn-probe" or not ck.genre_heads:
        raise AudioConceptError(f"{cfg.checkpoint}: not a tag probe (train one with `audioconcept train probe`)")
    data = cfg.data or ck.trained_on
    cached = Path(cfg.checkpoint) / "features.npz"
    if cfg.data is None and cached.exists():
        feats = TrackFeatures.load(cached)
    else:
        tagger, bck, context = load_tagger(resolve_backbone(ck.source.get("backbone", "MSD_MTT_musicnn")))
        feats = extract_features(tagger, bck, context, load_tracks(parse_data_spec(data), ck.data_seed).split("all"))
    contributions = head_contributions(ck, feats)
    study: dict = {
        "checkpoint": str(cfg.checkpoint),
        "backbone": ck.arch_config.get("backbone", {}).get("name"),
        "data": data,
        "labels": ck.labels,
        "tracks": len(feats.paths),
        "windows": int(sum(len(t) for t in feats.tags)),
        "accuracy": ck.metrics.get("heads", {}),
        "contributions": contributions,
        "tcav": {},
        "notes": [],
    }
    cfg.out.mkdir(parents=True, exist_ok=True)
    tcav_rows: dict[str, list[dict]] = {g: [] for g in ck.labels}
    if cfg.tcav:
        from audioconcept.models.frontend_config import MelConfig

        vocab = TagVocabulary.from_manifest({"concepts": ck.concepts})
        sr = MelConfig.from_dict(ck.mel).sample_rate
        with tempfile.TemporaryDirectory(prefix="tag-study-") as tmp:
            sets = write_tag_sets(feats, vocab, cfg, Path(tmp) / "sets", sr, ck.window_s)
            r = run_tcav(cfg, data, Path(tmp) / "sets", Path(tmp) / "tcav_tags")
        study["tcav"]["by tag activation"] = {
            **_summary(r),
            "description": f"{cfg.windows_per_concept} windows per concept: those of {data} with the strongest "
            f"tag activation for it (at most {cfg.per_track} per track), against {cfg.random_sets} random sets of "
            f"{cfg.windows_per_concept} windows. The sets come from the probe's own training tracks, and the "
            "TCAV classes are those tracks too (every track of a genre, its central window).",
            "sets": sets,
        }
        for row in r["tcav"]:
            if row["layer"].endswith("penultimate"):
                tcav_rows[row["class"]].append(row)
        if cfg.derived:
            try:
                from audioconcept.concepts.derived import DerivedConfig, derive_concepts

                with tempfile.TemporaryDirectory(prefix="tag-study-") as tmp:
                    d = derive_concepts(DerivedConfig(data, Path(tmp) / "derived", 0.25, cfg.random_sets, 12, cfg.seed))
                    r2 = run_tcav(cfg, data, Path(tmp) / "derived", Path(tmp) / "tcav_derived")
                study["tcav"]["by librosa descriptors (concepts derive)"] = {
                    **_summary(r2),
                    "description": "`concepts derive` sets: the top and bottom quarter of the tracks by tempo, "
                    "percussive ratio and spectral centroid (fast/slow, percussive/harmonic, bright/dark), "
                    f"against random sets of 12 tracks; thresholds {d['concepts']}.",
                }
            except ImportError as e:
                study["notes"].append(f"Descriptor concept sets skipped: {e}")
    for genre in ck.labels:
        plot_genre(genre, contributions, tcav_rows[genre], cfg.out / "figures" / f"{genre}.png")
    atomic_write_json(cfg.out / "study.json", study)
    write_study_report(study, cfg.out)
    return study


def _summary(r: dict) -> dict:
    keys = (
        "layers",
        "concepts",
        "null_distribution",
        "bonferroni_tests",
        "p_threshold",
        "min_cav_accuracy",
        "random_sanity",
        "significant_findings",
        "cav_accuracy",
        "tcav",
        "clips_per_class",
    )
    return {k: r[k] for k in keys}
