"""Rendered concept audio with exact per-window truth (docs/concept-data.md), through a tag bundle.

Reads OUT/windows.csv (one row per window of the bundle: render_id, window, piece_id, soundfont_id, split and a
state per concept: 1 present, 0 absent, -1 uncertain), runs every render's audio through the bundle's own
front end and graph, and keeps per window: the graph's tag probabilities and embedding, the split keys, and the
truth (NaN where uncertain). The outputs are cached next to the caller's choice (`cache`), keyed by render.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audioconcept.errors import AudioConceptError

log = logging.getLogger(__name__)

# the dataset's concept columns -> the vocabulary's concept names
RENDER_CONCEPTS: dict[str, str] = {
    "piano": "piano",
    "organ": "organ",
    "acoustic_guitar": "acoustic guitar",
    "electric_guitar": "electric guitar",
    "distorted_guitar": "distorted guitar",
    "bass": "bass",
    "drums": "drums",
    "strings": "strings",
    "violin": "violin",
    "cello": "cello",
    "brass": "brass",
    "trumpet": "trumpet",
    "saxophone": "saxophone",
    "woodwinds": "woodwind",
    "flute": "flute",
    "synth": "synth",
    "choir": "choir",
    "fast": "fast",
    "slow": "slow",
    "loud": "loud",
    "quiet": "quiet",
    "bright": "bright",
    "dark": "dark",
    "percussive": "percussive",
    "harmonic": "harmonic",
    "minor": "minor",
    "major": "major",
}
# a vocabulary concept whose truth is the union of dataset concepts (present if any is; absent if all are)
UNIONS: dict[str, tuple[str, ...]] = {"guitar": ("acoustic guitar", "electric guitar", "distorted guitar")}


@dataclass
class RenderWindows:
    tags: np.ndarray  # (n, n_tags)
    embedding: np.ndarray  # (n, dim)
    render: np.ndarray  # (n,) render ids
    piece: np.ndarray
    soundfont: np.ndarray
    split: np.ndarray  # train | val | test
    truth: dict[str, np.ndarray]  # concept -> (n,) 1.0, 0.0 or NaN
    source: str = ""

    def subset(self, idx: np.ndarray) -> RenderWindows:
        return RenderWindows(
            self.tags[idx],
            self.embedding[idx],
            self.render[idx],
            self.piece[idx],
            self.soundfont[idx],
            self.split[idx],
            {k: v[idx] for k, v in self.truth.items()},
            self.source,
        )


KEY_COLUMNS = ("render_id", "piece_id", "soundfont_id", "arrangement_id", "split")


def read_window_table(root: Path) -> list[dict]:
    """windows.csv; while a build is still running (no table yet), the window rows of its finished renders
    (notes/<render_id>.json, whose audio is written)."""
    p = Path(root) / "windows.csv"
    if p.exists():
        with open(p, newline="") as f:
            return list(csv.DictReader(f))
    notes = sorted((Path(root) / "notes").glob("*.json")) if (Path(root) / "notes").is_dir() else []
    rows = []
    for n in notes:
        try:
            d = json.loads(n.read_text())
        except (OSError, ValueError):
            continue
        if not (Path(root) / d.get("audio", "")).is_file():
            continue
        rows += [{**{k: d.get(k, "") for k in KEY_COLUMNS}, **{k: str(v) for k, v in w.items()}} for w in d["windows"]]
    if not rows:
        raise AudioConceptError(f"{root}: no windows.csv (build the concept audio with `make concept-audio`)")
    log.warning("%s: no windows.csv yet; %d windows of %d finished renders", root, len(rows), len(notes))
    return rows


def _state(v: str | None) -> float:
    if v is None or v == "":
        return np.nan
    x = float(v)
    return np.nan if x < 0 else float(x > 0)


def truth_columns(rows: list[dict]) -> dict[str, np.ndarray]:
    cols = rows[0].keys() if rows else ()
    truth = {name: np.array([_state(r[col]) for r in rows]) for col, name in RENDER_CONCEPTS.items() if col in cols}
    for name, parts in UNIONS.items():
        have = [truth[p] for p in parts if p in truth]
        if have and name not in truth:
            s = np.stack(have)
            truth[name] = np.where((s == 1).any(0), 1.0, np.where((s == 0).all(0), 0.0, np.nan))
    return truth


def audio_key(path: Path) -> str:
    """The cache key of a render: its file's content (the same render id can name other audio in another build)."""
    import hashlib

    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


# Lossy copies of the training renders: real music mostly arrives as MP3 or Ogg Vorbis, the renders are lossless.
# (format, subtype, compression levels drawn from): soundfile's compression_level, 0 the best quality, 1 the worst.
CODECS: tuple[tuple[str, str, tuple[float, float]], ...] = (
    ("MP3", "MPEG_LAYER_III", (0.2, 0.8)),
    ("OGG", "VORBIS", (0.3, 0.8)),
)


def encode_lossy(audio: Path, out_dir: Path, fmt: str, subtype: str, level: float) -> Path:
    """`audio` written again through a lossy codec (soundfile: "MP3"/"MPEG_LAYER_III" or "OGG"/"VORBIS") at
    `level` (compression_level, 0 the best quality) into `out_dir`; the path of the copy."""
    import soundfile as sf

    y, sr = sf.read(audio, dtype="float32", always_2d=True)
    path = Path(out_dir) / f"{Path(audio).stem}.{fmt.lower()}"
    sf.write(path, y, sr, format=fmt, subtype=subtype, compression_level=level)
    return path


def lossy_copy_outputs(model, audio: Path, key: str):
    """`audio` through one lossy codec and back, then through `model`: (codec label, WindowOutputs). The codec and
    its quality are drawn from the render's content key, so a rebuild draws the same copy."""
    import tempfile

    from audioconcept.concepts.embed import file_outputs

    rng = np.random.default_rng(int(key[:12], 16))
    fmt, subtype, (lo, hi) = CODECS[int(rng.integers(len(CODECS)))]
    level = round(float(rng.uniform(lo, hi)), 2)
    with tempfile.TemporaryDirectory() as tmp:
        return f"{fmt.lower()}@{level}", file_outputs(model, encode_lossy(audio, Path(tmp), fmt, subtype, level))


def load_render_windows(
    root: Path,
    model,
    cache: Path | None = None,
    max_renders: int | None = None,
    lossy_train_copies: bool = False,
) -> RenderWindows:
    """Every window of the dataset through `model` (a runtime Model of a tag bundle).

    `lossy_train_copies`: every `train` render a second time, through MP3 or Ogg Vorbis (`lossy_copy_outputs`), with
    the same truth, piece and soundfont and the render id `<id>~<codec>`: training material only, so that a probe
    learns the instrument and not the codec (`val` and `test` stay lossless)."""
    from rich.progress import Progress

    from audioconcept.concepts.embed import file_outputs

    rows = read_window_table(root)
    by_render: dict[str, list[dict]] = {}
    for r in rows:
        by_render.setdefault(r["render_id"], []).append(r)
    renders = sorted(by_render)[:max_renders] if max_renders else sorted(by_render)
    store: dict[str, np.ndarray] = {}
    if cache is not None and Path(cache).exists():
        with np.load(cache) as d:
            store = {k: d[k] for k in d.files}
    kept_rows, tags, embs = [], [], []
    changed = False
    with Progress(transient=True) as bar:
        task = bar.add_task("concept audio through the bundle", total=len(renders))
        for rid in renders:
            wins = sorted(by_render[rid], key=lambda r: int(r["window"]))
            audio = Path(root) / "audio" / f"{rid}.flac"
            key = audio_key(audio)
            if f"{key}/tags" not in store:
                o = file_outputs(model, audio)
                store[f"{key}/tags"], store[f"{key}/embedding"] = (
                    o.tags.astype(np.float32),
                    o.embedding.astype(np.float32),
                )
                changed = True
            t, e = store[f"{key}/tags"], store[f"{key}/embedding"]
            kept = len(t) == len(wins)
            if not kept:
                log.warning("%s: %d windows in the table, %d through the bundle; skipped", rid, len(wins), len(t))
            else:
                kept_rows += wins
                tags.append(t)
                embs.append(e)
            if kept and lossy_train_copies and wins[0]["split"] == "train":  # a skipped render has no copy either
                if f"{key}/lossy/tags" not in store:
                    codec, o = lossy_copy_outputs(model, audio, key)
                    store[f"{key}/lossy/tags"] = o.tags.astype(np.float32)
                    store[f"{key}/lossy/embedding"] = o.embedding.astype(np.float32)
                    store[f"{key}/lossy/codec"] = np.array(codec)
                    changed = True
                t, e = store[f"{key}/lossy/tags"], store[f"{key}/lossy/embedding"]
                n = min(len(t), len(wins))  # a codec's padding may add a last window: the table's windows only
                if n >= len(wins) - 1:
                    codec = str(store[f"{key}/lossy/codec"])
                    kept_rows += [{**w, "render_id": f"{rid}~{codec}"} for w in wins[:n]]
                    tags.append(t[:n])
                    embs.append(e[:n])
                else:
                    log.warning("%s: lossy copy has %d windows, the table %d; skipped", rid, len(t), len(wins))
            bar.advance(task)
    if cache is not None and changed:
        from audioconcept.utils import atomic_write_bytes

        buf = io.BytesIO()
        np.savez(buf, **store)
        atomic_write_bytes(Path(cache), buf.getvalue())
    if not kept_rows:
        raise AudioConceptError(f"{root}: no window of the table matched the bundle's windows")
    col = lambda k: np.array([r.get(k, "") for r in kept_rows]).astype(str)  # noqa: E731
    return RenderWindows(
        np.concatenate(tags).astype(np.float64),
        np.concatenate(embs).astype(np.float64),
        col("render_id"),
        col("piece_id"),
        col("soundfont_id"),
        col("split"),
        truth_columns(kept_rows),
        str(root),
    )
