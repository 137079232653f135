"""`audioconcept-run --explain DIR`: a timeline PNG and listenable WAV clips of the strongest moments."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audioconcept import SAMPLE_RATE
from audioconcept.runtime.result import SongResult
from audioconcept.utils import atomic_write_bytes


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s).strip("_") or "song"


def top_segments(result: SongResult, k: int = 3, length: float = 4.0) -> list[tuple[str, float, float, float]]:
    """(concept, start, end, strength) of the strongest concept spans, at most `length` seconds each."""
    spans = sorted(result.concept_spans, key=lambda s: -s.strength * min(s.end - s.start, length))
    out = []
    for sp in spans[:k]:
        mid = (sp.start + sp.end) / 2
        start = max(0.0, min(mid - length / 2, result.duration_s - length))
        out.append((sp.concept, round(start, 2), round(min(result.duration_s, start + length), 2), sp.strength))
    return out


def plot_timeline(result: SongResult, path: Path, manifest: dict | None = None) -> None:
    """The timeline PNG: each genre's probability at the centre of what each window hears, in the genre's one
    colour (the HTML report's too), and the concept lanes below (every present concept has a span: the song's
    aggregation places each one)."""
    from audioconcept.concepts.figures import pyplot
    from audioconcept.runtime.view import genre_colours, window_cells

    plt = pyplot("the timeline PNG")
    manifest = manifest or {}
    names = list(result.concepts)
    if result.tags:  # a tagger's dozens of concepts: those present, strongest first
        names = sorted(result.concepts_present, key=lambda n: -result.concepts[n])
    n = max(len(names), 1)
    fig, (ax1, ax2) = plt.subplots(
        2,
        1,
        figsize=(11, 2.6 + 0.22 * n),
        sharex=True,
        gridspec_kw={"height_ratios": [2.2, 0.22 * n + 0.3], "hspace": 0.3 / (1 + 0.1 * n)},
    )
    labels = list(manifest.get("labels") or result.windows[0].probabilities)
    colours = genre_colours(labels)
    cells = window_cells(result, manifest)
    mids = [(c["heard"][0] + c["heard"][1]) / 2 for c in cells]
    for lab in labels:  # a silent window (runtime.silence) has no genre: a gap in every line, shaded grey
        ys = [np.nan if w.silent else w.probabilities.get(lab, 0.0) for w in result.windows]
        if np.nanmax(ys) > 0.15:
            ax1.plot(mids, ys, marker="o", ms=3, lw=1.2, label=lab, color=colours[lab])
    for w, c in zip(result.windows, cells, strict=True):
        if w.silent:
            ax1.axvspan(c["heard"][0], c["heard"][1], color="0.85", lw=0, zorder=0)
    ax1.set_ylabel("genre p")
    ax1.set_ylim(0, 1.02)
    ax1.legend(fontsize=7, ncol=10, loc="lower left", bbox_to_anchor=(0, 1.0), frameon=False)
    ax1.set_title(
        f"{Path(result.path).name}: {result.genres[0][0]} ({result.genres[0][1]:.2f}), model {result.model}",
        pad=18,
    )
    cmap = plt.cm.viridis
    for i, name in enumerate(names):
        for sp in result.concept_spans:
            if sp.concept == name:
                ax2.broken_barh([(sp.start, sp.end - sp.start)], (i - 0.4, 0.8), color=cmap(sp.strength))
    ax2.set_yticks(range(len(names)), names, fontsize=7)
    ax2.set_ylim(-0.6, n - 0.4)
    ax2.invert_yaxis()  # strongest first, at the top, as in the HTML report
    ax2.set_xlim(0, result.duration_s)
    ax2.set_xlabel("time (s)")
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
    fig.colorbar(sm, ax=[ax1, ax2], fraction=0.015, pad=0.01, label="concept strength")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _optional_png(plot, *args) -> str | None:
    """Draw a PNG; -> None, or the note to print when matplotlib is absent. The PNGs are extras: the values
    (JSON), the clips and the HTML report (SVG, drawn by view.js) need no matplotlib."""
    from audioconcept.errors import MissingExtra

    try:
        plot(*args)
    except MissingExtra as e:
        return f"note: no PNG: {e}"
    return None


@dataclass
class Explanation:
    """What `--explain` wrote for one song (paths inside the explain folder)."""

    timeline: Path | None = None
    shapley: Path | None = None
    shapley_json: Path | None = None
    clips: list[dict] = field(default_factory=list)  # concept, start, end, strength, path
    note: str | None = None
    lines: list[str] = field(default_factory=list)


def explain_song(model, result: SongResult, out: Path, k: int = 3, audio: np.ndarray | None = None) -> Explanation:
    """Write the timeline PNG and the top-k concept clips (or the SVM's Shapley waterfall). `audio` is the
    song already decoded at the model's sample rate; without it, the parts needed are read from the file."""
    from audioconcept.data.audio import load_audio, write_audio

    sr = int(getattr(model, "sample_rate", SAMPLE_RATE))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stem = _slug(Path(result.path).stem)
    ex = Explanation()
    if model.bundle.arch == "svm" and model.bundle.has("shapley_background"):
        lines, ex.shapley = explain_svm(model, result, out, stem, audio)
        ex.lines += lines
        ex.shapley_json = out / f"{stem}.shapley.json"
    elif result.concepts:
        png = out / f"{stem}.timeline.png"
        if line := _optional_png(plot_timeline, result, png, model.bundle.manifest):
            ex.lines.append(line)
        else:
            ex.timeline = png
            ex.lines.append(f"timeline: {png}")
        for concept, start, end, strength in top_segments(result, k):
            if audio is not None:
                clip = audio[int(round(start * sr)) : int(round(end * sr))]
            else:
                clip = load_audio(result.path, sr=sr, offset=start, duration=end - start)
            fade = np.minimum(1.0, np.minimum(np.arange(clip.size), np.arange(clip.size)[::-1]) / (0.02 * sr))
            wav = out / f"{stem}.{start:07.2f}s.{_slug(concept)}.wav"
            write_audio(wav, (clip * fade).astype(np.float32), sr, subtype="PCM_16")
            ex.clips.append({"concept": concept, "start": start, "end": end, "strength": strength, "path": wav})
            ex.lines.append(f"listen: {wav}  ({concept}, {start:.1f}-{end:.1f} s, strength {strength:.2f})")
    else:
        ex.note = f"{model.name}: no concept output in this bundle (export with --concepts to get one)"
        ex.lines.append(ex.note)
    return ex


def _shapley_background(model) -> np.ndarray:
    """The bundle's background rows: a plain float array (never a pickle) of the model's feature width."""
    from audioconcept.errors import BundleError

    path = model.bundle.artifact("shapley_background")
    try:
        bg = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise BundleError(f"{path}: not a plain numpy array ({str(e).splitlines()[0][:200]})") from None
    width = len(model.bundle.manifest.get("features") or []) or None
    if bg.ndim != 2 or not np.issubdtype(bg.dtype, np.floating) or (width and bg.shape[1] != width):
        raise BundleError(f"{path}: expected (rows, {width or 'features'}) floats, got {bg.shape} {bg.dtype}")
    return bg


def explain_svm(
    model, result: SongResult, out: Path, stem: str, audio: np.ndarray | None = None
) -> tuple[list[str], Path | None]:
    """Exact group Shapley values of the song's top genre, through the SVM's ONNX model: the JSON, and the
    waterfall PNG when matplotlib is there; -> (lines for the terminal, the PNG or None)."""
    from audioconcept.concepts.shapley import group_shapley, plot_waterfall
    from audioconcept.data.audio import load_audio
    from audioconcept.models.features import extract_features
    from audioconcept.utils import atomic_write_json

    background = _shapley_background(model)
    first = (
        audio[: int(round(model.window_s * model.sample_rate))]
        if audio is not None
        else load_audio(result.path, sr=model.sample_rate, duration=model.window_s)
    )
    x = extract_features(first, model.sample_rate)
    label = result.genres[0][0]
    k = model.labels.index(label)
    phi, base, pred = group_shapley(lambda z: model.backend.run(z).probabilities, x, background, k)
    png = out / f"{stem}.shapley.png"
    atomic_write_json(
        out / f"{stem}.shapley.json",
        {
            "label": label,
            "baseline": base,
            "prediction": pred,
            "phi": phi,
            "window": [0.0, min(model.window_s, result.duration_s)],
        },
    )
    top = ", ".join(f"{g} {v:+.3f}" for g, v in sorted(phi.items(), key=lambda kv: -abs(kv[1]))[:3])
    note = _optional_png(plot_waterfall, phi, base, pred, label, png)
    if note:
        return [f"shapley: {out / f'{stem}.shapley.json'}  ({label}: {top})", note], None
    return [f"shapley: {png}  ({label}: {top})"], png
