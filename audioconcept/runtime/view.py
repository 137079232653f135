"""One view of a song's analysis, shared by the web app and the self-contained HTML report.

`build_view` turns a SongResult plus what `--explain` wrote into a JSON-able dict; `link` decides
how files are referenced (a URL in the app, a data: URI in the report). `render_report` writes
the report: the app's own view.js and view.css inlined, every image and clip embedded, no
external URL. Torch-free.
"""

from __future__ import annotations

import base64
import html
import io
import json
import mimetypes
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np

from audioconcept.runtime.result import SongResult

Link = Callable[[Path], str]


def data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(str(path))[0] or "application/octet-stream"
    if path.suffix == ".ogg":
        mime = "audio/ogg"
    return f"data:{mime};base64,{base64.b64encode(Path(path).read_bytes()).decode('ascii')}"


def preview_from_array(audio: np.ndarray, sr: int, out: Path) -> Path:
    """A decoded song as Ogg Vorbis (written in blocks: one long Vorbis write overflows libvorbis' stack)."""
    from audioconcept.data.audio import write_blocks
    from audioconcept.utils import atomic_write_bytes

    buf = io.BytesIO()
    write_blocks(buf, np.clip(audio, -1, 1), sr, format="OGG", subtype="VORBIS")
    atomic_write_bytes(out, buf.getvalue())
    return out


def _bundle_json(root: Path, rel: str, max_bytes: int = 10 * 1024 * 1024) -> dict | None:
    """A JSON object shipped in the bundle, or None when absent, unreadable, too large, or (through
    a link) outside the bundle: a display extra must never read elsewhere or fail the song."""
    p = root / rel
    try:
        if root.resolve() not in p.resolve().parents or p.stat().st_size > max_bytes:
            return None
        d = json.loads(p.read_text())
    except (OSError, ValueError, RecursionError):
        return None
    return d if isinstance(d, dict) else None


def tcav_rows(manifest: dict, bundle_root: Path | None = None) -> list[dict]:
    """The model's TCAV table: every test from the bundle's concepts/concepts.json when it ships
    one, else the significant findings listed in the manifest."""
    rows = None
    if bundle_root is not None:
        rows = (_bundle_json(Path(bundle_root), "concepts/concepts.json") or {}).get("tcav")
    if not isinstance(rows, list):
        rows = (manifest.get("concepts") or {}).get("tcav", []) or []
    rows = [r for r in rows if isinstance(r, dict)]
    return [
        {
            "class": r.get("class"),
            "concept": r.get("concept"),
            "layer": r.get("layer"),
            "score": r.get("tcav_sign"),
            "magnitude": r.get("tcav_magnitude"),
            "random": r.get("random_sign"),
            "p": r.get("p_value"),
            "significant": bool(r.get("significant")),
            "effect": r.get("effect", ""),
        }
        for r in rows
    ]


# one colour per genre, by its index in the bundle's labels: the HTML timeline (view.js) and the PNG use these
GENRE_PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
TABLE_ALL_WINDOWS = 12  # more windows than this: the per-window table is folded into runs of one genre


def genre_colours(labels: list[str]) -> dict[str, str]:
    return {lab: GENRE_PALETTE[i % len(GENRE_PALETTE)] for i, lab in enumerate(labels)}


def heard_s(manifest: dict) -> float:
    """How much of each window the genre depends on: its receptive field (the first used_s seconds), else the
    whole window."""
    rf = manifest.get("receptive_field") or {}
    used = rf.get("used_s") if isinstance(rf, dict) else None
    window = float(manifest.get("window_s") or 0.0)
    try:
        used = float(used)
    except (TypeError, ValueError):
        return window
    return min(used, window) if window > 0 and used > 0 else window


def window_cells(result: SongResult, manifest: dict) -> list[dict]:
    """Where the timeline draws each window's genre: centred on what the model hears (start .. start + heard_s),
    one cell per window from the midpoint with the previous centre to the midpoint with the next, the first from
    0 and the last to the song's end, so consecutive windows tile the song at the time they describe."""
    used = heard_s(manifest)
    heard = [(w.start, min(w.end, w.start + used) if used > 0 else w.end) for w in result.windows]
    centres = [(a + b) / 2 for a, b in heard]
    out = []
    for k, (a, b) in enumerate(heard):
        lo = 0.0 if k == 0 else (centres[k - 1] + centres[k]) / 2
        hi = result.duration_s if k + 1 == len(heard) else (centres[k] + centres[k + 1]) / 2
        out.append({"heard": [round(a, 3), round(b, 3)], "cell": [round(lo, 3), round(max(hi, lo), 3)]})
    return out


def build_view(
    result: SongResult,
    manifest: dict,
    link: Link,
    audio: Path | None = None,
    explanation=None,
    attribution: dict | None = None,
    bundle_root: Path | None = None,
) -> dict:
    labels = list(manifest.get("labels") or result.windows[0].probabilities)
    song = dict(result.genres)
    c = manifest.get("concepts") or {}
    concept_names = list(c.get("names", []))
    genre_named = {}
    if c.get("kind") == "tags":  # dozens of tag concepts: the timeline shows those present, strongest first
        concept_names = sorted(result.concepts_present, key=lambda n: -result.concepts.get(n, 0.0))
        genre_named = dict(zip(c["names"], c["genre_named"], strict=True))
    view: dict = {
        "title": Path(result.path).name,
        "model": result.model,
        "arch": result.arch,
        "trained_on": result.trained_on,
        "backend": result.backend,
        "device": result.device,
        "duration_s": result.duration_s,
        "labels": labels,
        "genres": [{"label": g, "p": round(p, 4)} for g, p in result.genres],
        "song_top": result.genres[0][0],
        "song_top_p": round(song[result.genres[0][0]], 4),
        "colours": genre_colours(labels),
        "windows": [
            {
                "start": w.start,
                "end": w.end,
                **cell,
                "genre": w.genre,
                "p": round(w.probability, 4),
                "probabilities": w.probabilities,
                "explanation": w.explanation[:3],
                "silent": w.silent,
            }
            for w, cell in zip(result.windows, window_cells(result, manifest), strict=True)
        ],
        "concepts": result.concepts,
        "concepts_present": sorted(result.concepts_present, key=lambda n: -result.concepts.get(n, 0.0)),
        "concept_validation": result.concept_validation,
        "concepts_borderline": result.concepts_borderline,
        "similar_to": result.similar_to,
        "ood": result.ood or None,
        "concept_names": concept_names,
        "genre_named": genre_named,
        "explanation": result.explanation or None,
        "spans": [
            {"concept": s.concept, "start": s.start, "end": s.end, "strength": round(s.strength, 3)}
            for s in result.concept_spans
        ],
        "tcav": tcav_rows(manifest, bundle_root),
        "audio": link(audio) if audio is not None else None,
        "images": {},
        "clips": [],
    }
    if explanation is not None:
        if explanation.timeline:
            view["images"]["timeline"] = link(explanation.timeline)
        if explanation.shapley:
            view["images"]["shapley"] = link(explanation.shapley)
        if explanation.shapley_json:  # view.js draws the waterfall from these values when there is no PNG
            view["shapley"] = json.loads(Path(explanation.shapley_json).read_text())
        view["clips"] = [
            {**{k: v for k, v in c.items() if k != "path"}, "url": link(Path(c["path"]))} for c in explanation.clips
        ]
        if explanation.note:
            view["note"] = explanation.note
    if attribution is not None:
        view["attribution"] = {k: v for k, v in attribution.items() if k not in ("heatmap", "path", "model")}
        if attribution.get("heatmap"):
            view["images"]["attribution"] = link(Path(attribution["heatmap"]))
    return view


def web_asset(name: str) -> str:
    return resources.files("audioconcept.runtime").joinpath("web", name).read_text(encoding="utf-8")


def render_report(view: dict) -> str:
    """A self-contained HTML page (script, style, images and audio inline)."""
    payload = json.dumps(view).replace("</", "<\\/")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>AudioConcept: {html.escape(view['title'])}</title>\n"
        f"<style>\n{web_asset('view.css')}\n</style>\n</head>\n<body>\n"
        '<main id="view"></main>\n'
        f'<script id="view-data" type="application/json">{payload}</script>\n'
        f"<script>\n{web_asset('view.js')}\n"
        "renderView(document.getElementById('view'), JSON.parse(document.getElementById('view-data').textContent));\n"
        "</script>\n</body>\n</html>\n"
    )


def write_report(
    result: SongResult,
    manifest: dict,
    out_html: Path,
    audio: Path | None,
    explanation=None,
    attribution: dict | None = None,
    bundle_root: Path | None = None,
) -> Path:
    """The self-contained report; `audio` is the song's preview (see `preview_from_array`)."""
    from audioconcept.utils import atomic_write_text

    view = build_view(result, manifest, data_uri, audio, explanation, attribution, bundle_root)
    atomic_write_text(out_html, render_report(view))
    return out_html
