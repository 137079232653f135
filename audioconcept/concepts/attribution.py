"""Where on the mel spectrogram a genre decision comes from: Captum attributions for CNN and VGGish.

Integrated gradients (from a silent baseline: every mel bin at the dB floor) or gradient x input,
taken with respect to the body's dB-mel input, window by window, and laid onto one song-long
grid (overlapping windows are averaged). Summaries count the positive attribution (evidence
for the target genre) per mel band group and per second, each normalised to sum to 1.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audioconcept.errors import AudioConceptError, MissingExtra

log = logging.getLogger(__name__)

METHODS = ("ig", "gxi")


@dataclass(frozen=True)
class AttributionConfig:
    method: str = "ig"  # ig: integrated gradients; gxi: gradient x input
    steps: int = 32  # integrated-gradients steps
    target: str | None = None  # genre to explain; default: the song's top genre
    band_groups: int = 16  # mel bands are summed into this many groups for the per-band summary
    max_seconds: float | None = None  # only the first N seconds (None: the whole song)


@dataclass
class SongAttribution:
    path: str
    method: str
    target: str
    probabilities: dict[str, float]  # song level (mean logits, softmax)
    mel: np.ndarray  # (n_mels, frames) dB, the song's spectrogram
    attribution: np.ndarray  # (n_mels, frames), same grid
    frame_s: float  # seconds per frame
    band_edges_hz: list[float]  # n_mels + 1 edges of the mel bands
    duration_s: float  # the song's length (frame i is centred at i * frame_s)

    def positive_mass(self) -> np.ndarray:
        a = np.clip(self.attribution, 0.0, None)
        total = a.sum()
        return a / total if total > 0 else a

    def per_second(self) -> list[dict]:
        m = self.positive_mass().sum(0)
        n = max(1, int(math.ceil(self.duration_s - 1e-9)))
        sec = np.minimum((np.arange(m.size) * self.frame_s).astype(int), n - 1)
        mass = np.bincount(sec, weights=m, minlength=n)
        return [
            {"start": float(i), "end": float(min(i + 1, self.duration_s)), "mass": float(v)} for i, v in enumerate(mass)
        ]

    def per_band(self, groups: int) -> list[dict]:
        m = self.positive_mass().sum(1)
        edges = np.linspace(0, m.size, groups + 1).astype(int)
        return [
            {
                "bands": [int(a), int(b)],
                "f_lo_hz": round(self.band_edges_hz[a], 1),
                "f_hi_hz": round(self.band_edges_hz[b], 1),
                "mass": float(m[a:b].sum()),
            }
            for a, b in zip(edges[:-1], edges[1:], strict=True)
        ]

    def mass_between(self, start: float, end: float) -> float:
        m = self.positive_mass().sum(0)
        t = np.arange(m.size) * self.frame_s
        return float(m[(t >= start) & (t < end)].sum())

    def summary(self, band_groups: int = 16) -> dict:
        return {
            "path": self.path,
            "method": self.method,
            "target": self.target,
            "probabilities": self.probabilities,
            "frame_s": self.frame_s,
            "duration_s": round(self.duration_s, 3),
            "mass": "positive attribution towards the target, normalised to sum to 1",
            "per_band": self.per_band(band_groups),
            "per_second": self.per_second(),
        }


def _captum():
    try:
        from captum import attr
    except ImportError:
        raise MissingExtra("captum", "train", "spectrogram attribution") from None
    return attr


def load_torch_model(path: str | Path):
    """-> (front end, body, labels, window_s) from a checkpoint folder or an exported bundle."""
    path = Path(path)
    if (path / "manifest.json").exists():
        from audioconcept.runtime.bundle import open_bundle
        from audioconcept.runtime.torch_backend import eager_from_pt2

        b = open_bundle(path, verify=("pt2",))
        if b.arch == "svm":
            raise AudioConceptError(f"{path}: an SVM bundle; its explanation is the Shapley waterfall (--explain)")
        if not b.has("pt2"):
            raise AudioConceptError(f"{path}: the bundle has no model.pt2 to take gradients through")
        m = eager_from_pt2(b)
        return m.frontend, m.head.body, list(b.labels), float(b.manifest["window_s"])
    from audioconcept.models.checkpoint import load_torch_checkpoint, read_config

    if read_config(path).arch == "svm":
        raise AudioConceptError(f"{path}: an SVM checkpoint; its explanation is the Shapley waterfall (--explain)")
    model, cfg = load_torch_checkpoint(path)
    return model.frontend, model.body, list(cfg.labels), float(cfg.window_s)


def _band_edges(frontend) -> list[float]:
    import librosa

    c = frontend.cfg
    fmax = c.f_max or c.sample_rate / 2
    return [float(f) for f in librosa.mel_frequencies(c.n_mels + 1, fmin=c.f_min, fmax=fmax, htk=True)]


def attribute_song(
    path: str | Path,
    frontend,
    body,
    labels: list[str],
    window_s: float,
    cfg: AttributionConfig,
    audio: np.ndarray | None = None,
):
    """Attribution of one song, window by window; -> SongAttribution. `audio`: the song already decoded
    at 22 050 Hz (else it is read from `path`)."""
    import torch

    from audioconcept.data.audio import iter_windows, windows_from_array

    if cfg.method not in METHODS:
        raise AudioConceptError(f"unknown method {cfg.method!r}; choose from {', '.join(METHODS)}")
    attr = _captum()
    body = body.eval()
    frontend = frontend.eval()
    from audioconcept.models.receptive_field import influential_frames

    hop = frontend.cfg.hop_length
    sr = int(frontend.cfg.sample_rate)
    # a center=False front end frames windows like the whole song (musicnn): they carry n_fft/2 of context
    context = 0 if frontend.cfg.center else frontend.cfg.n_fft // 2
    n_frames = frontend.cfg.n_frames(int(round(window_s * sr)) + 2 * context)
    # only the frames the logits depend on count (the CNN ignores the end of its window), and
    # windows step by that span so every second of the song is covered
    used = influential_frames(body, frontend.cfg.n_mels, n_frames)
    step_s = window_s if used >= n_frames else max(1.0, (used - 1) * hop / sr)
    mels, spans, logits = [], [], []
    duration = 0.0
    with torch.no_grad():
        if audio is not None:
            windows = windows_from_array(audio, window_s, step_s, sr, context)
        else:
            windows = iter_windows(path, window_s, step_s, sr, context=context)
        for w in windows:
            if cfg.max_seconds is not None and w.start >= cfg.max_seconds:
                break
            duration = max(duration, w.end)
            mel = frontend(torch.from_numpy(w.samples[None]))
            mels.append(mel)
            logits.append(body(mel)[0])
            valid_frames = min(used, int(math.ceil(w.valid / hop)) + 1)
            spans.append((int(round(w.start * sr / hop)), valid_frames))
    song_logits = torch.stack(logits).mean(0)
    probs = torch.softmax(song_logits, -1).numpy()
    if cfg.target is None:
        target = int(np.argmax(probs))
    elif cfg.target in labels:
        target = labels.index(cfg.target)
    else:
        raise AudioConceptError(f"--target {cfg.target!r} is not one of the model's labels: {', '.join(labels)}")
    # the mel of silence: the dB floor, or 0 for log10(1 + C x)
    floor = 10.0 * math.log10(frontend.cfg.amin) if frontend.cfg.compression == "db" else 0.0
    explainer = (
        attr.IntegratedGradients(body, multiply_by_inputs=True) if cfg.method == "ig" else attr.InputXGradient(body)
    )
    total = max(s + n for s, n in spans)
    n_mels = mels[0].shape[1]
    acc = np.zeros((n_mels, total), np.float64)
    mel_acc = np.zeros((n_mels, total), np.float64)
    count = np.zeros(total, np.float64)
    for mel, (s, n) in zip(mels, spans, strict=True):
        x = mel.clone().requires_grad_(True)
        if cfg.method == "ig":
            a = explainer.attribute(
                x, baselines=torch.full_like(x, floor), target=target, n_steps=cfg.steps, internal_batch_size=8
            )
        else:
            a = explainer.attribute(x, target=target)
        acc[:, s : s + n] += a[0, :, :n].detach().double().numpy()
        mel_acc[:, s : s + n] += mel[0, :, :n].double().numpy()
        count[s : s + n] += 1
    count = np.maximum(count, 1)
    return SongAttribution(
        str(path),
        cfg.method,
        labels[target],
        {lab: round(float(p), 6) for lab, p in zip(labels, probs, strict=True)},
        (mel_acc / count).astype(np.float32),
        (acc / count).astype(np.float32),
        hop / sr,
        _band_edges(frontend),
        round(duration, 3),
    )


def plot_attribution(a: SongAttribution, path: Path) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from audioconcept.utils import atomic_write_bytes

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 5.5), sharex=True)
    ext = (0, a.duration_s, 0, a.mel.shape[0])
    ax1.imshow(a.mel, origin="lower", aspect="auto", extent=ext, cmap="magma")
    ax1.set_ylabel("mel band")
    ax1.set_title(f"{Path(a.path).name}: dB mel spectrogram")
    lim = float(np.percentile(np.abs(a.attribution), 99.5)) or 1.0
    ax2.imshow(a.mel, origin="lower", aspect="auto", extent=ext, cmap="gray", alpha=0.5)
    im = ax2.imshow(
        a.attribution, origin="lower", aspect="auto", extent=ext, cmap="RdBu_r", vmin=-lim, vmax=lim, alpha=0.85
    )
    label = {"ig": "integrated gradients", "gxi": "gradient x input"}[a.method]
    ax2.set_title(f"{label} towards '{a.target}' (p = {a.probabilities[a.target]:.2f}); red: evidence for")
    ax2.set_ylabel("mel band")
    ax2.set_xlabel("time (s)")
    fig.colorbar(im, ax=[ax1, ax2], shrink=0.6, label="attribution")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def explain_to_files(
    song: str | Path, model_path: str | Path, out: Path, cfg: AttributionConfig, audio: np.ndarray | None = None
) -> dict:
    """`audioconcept explain`: heat map PNG + JSON summaries in `out`; -> the summary."""
    from audioconcept.utils import atomic_write_json

    frontend, body, labels, window_s = load_torch_model(model_path)
    a = attribute_song(song, frontend, body, labels, window_s, cfg, audio)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(song).stem
    png = out / f"{stem}.{a.method}.png"
    plot_attribution(a, png)
    summary = {**a.summary(cfg.band_groups), "model": str(model_path), "heatmap": str(png)}
    atomic_write_json(out / f"{stem}.{a.method}.json", summary)
    return summary


# concepts the synthetic generator ties to a genre, and that it can confine to a span of a clip
DRIVERS = {"distorted_guitar": "metal", "offbeat_skank": "reggae", "walking_bass": "jazz", "strings": "classical"}


def ground_truth_check(
    model_path: str | Path, data: str, cfg: AttributionConfig, splits: tuple[str, ...] = ("test", "valid")
) -> dict:
    """On clips of genre g whose driving concept plays only inside a span: the share of g's
    positive attribution mass inside that span, against the span's share of the clip (chance)."""
    from audioconcept.data.folder import load_ground_truth
    from audioconcept.data.spec import load_tracks, parse_data_spec

    spec = parse_data_spec(data)
    truth = load_ground_truth(spec.path)
    frontend, body, labels, window_s = load_torch_model(model_path)
    tl = load_tracks(spec)
    rows = []
    for t in (t for s in splits for t in tl.split(s)):
        gt = truth[f"{t.label}/{t.path.name}"]
        dur = float(gt["duration"])
        for concept, genre in DRIVERS.items():
            spans = gt["concepts"].get(concept)
            if t.label != genre or not spans or genre not in labels:
                continue
            if len(spans) == 1 and spans[0][0] <= 0.01 and spans[0][1] >= dur - 0.01:
                continue  # plays throughout: nothing to localise
            a = attribute_song(
                t.path, frontend, body, labels, window_s, AttributionConfig(cfg.method, cfg.steps, genre)
            )
            inside = sum(a.mass_between(s, e) for s, e in spans)
            share = sum(e - s for s, e in spans) / dur
            rows.append(
                {"clip": t.path.name, "concept": concept, "genre": genre, "mass_in_span": inside, "span_share": share}
            )
    if not rows:
        raise AudioConceptError(f"{data}: no clip with a driving concept confined to a span in {', '.join(splits)}")
    mass = np.array([r["mass_in_span"] for r in rows])
    share = np.array([r["span_share"] for r in rows])
    return {
        "method": cfg.method,
        "clips": len(rows),
        "mean_mass_in_span": float(mass.mean()),
        "mean_span_share": float(share.mean()),
        "clips_with_majority_in_span": float((mass > 0.5).mean()),
        "clips_above_chance": float((mass > share).mean()),
        "rows": rows,
    }
