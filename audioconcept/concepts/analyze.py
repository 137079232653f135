"""Explain one song: the path the CLI (`--explain`, `--html`, `--attribution`) and the web app share.

The song is decoded once; windows, listenable clips, the SVM's features, the attribution heat map and the
report's audio all come from that one array.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from audioconcept.errors import AudioConceptError
from audioconcept.runtime.result import SongResult

log = logging.getLogger(__name__)
ATTRIBUTION_METHODS = ("ig", "gxi")


@dataclass(frozen=True)
class AnalyzeConfig:
    out: Path  # where the timeline PNG, clips, heat map and preview go
    hop_s: float | None = None  # None: the bundle's hop
    top_k: int = 3
    clips: int = 3
    attribution: str | None = None  # ig | gxi | None
    attribution_steps: int = 32
    html: Path | None = None  # write the self-contained report here
    preview: bool = False  # write the song's Ogg preview even without a report (the app plays it)
    max_seconds: float | None = None  # decode at most this much


@dataclass
class Analysis:
    result: SongResult
    explanation: object  # concepts.explain.Explanation
    attribution: dict | None = None
    audio: Path | None = None  # the song's Ogg preview
    report: Path | None = None
    lines: list[str] = field(default_factory=list)  # what was written, one line each, for the terminal
    failure: str | None = None  # why the explanation or report could not be written (the result stands)


def analyze(model, path: str | Path, cfg: AnalyzeConfig, on_progress: Callable[[float, str], None] | None = None):
    """Classify, explain and optionally attribute one song; -> Analysis. `on_progress(fraction, stage)`."""
    from audioconcept.data.audio import load_audio

    def progress(f: float, stage: str) -> None:
        if on_progress:
            on_progress(f, stage)

    if cfg.attribution is not None and cfg.attribution not in ATTRIBUTION_METHODS:
        raise AudioConceptError(f"attribution {cfg.attribution!r}: choose from {', '.join(ATTRIBUTION_METHODS)}")
    progress(0.02, "decoding")
    audio = load_audio(path, sr=model.sample_rate, duration=cfg.max_seconds)
    progress(0.1, "classifying windows")
    result = model.predict_array(
        audio, path, cfg.hop_s, cfg.top_k, on_progress=lambda f: progress(0.1 + 0.5 * f, "classifying windows")
    )
    progress(0.65, "writing clips and figures")
    out = Analysis(result, None)
    try:
        explain(model, path, audio, cfg, out, progress)
    except Exception as e:  # noqa: BLE001 - the classification stands; the explanation failed, in one line
        from audioconcept.runtime.runner import one_line

        log.debug("explaining %s failed", path, exc_info=True)
        out.failure = one_line(e, path, "explanation failed")
    progress(1.0, "done")
    return out


def explain(model, path: str | Path, audio, cfg: AnalyzeConfig, out: Analysis, progress) -> None:
    """Clips and timeline (or Shapley), the attribution heat map, the preview and the report, into `out`."""
    from audioconcept.utils import dirs_removed_on_error

    with dirs_removed_on_error(cfg.out):  # a failure leaves no empty explain folder behind
        _explain(model, path, audio, cfg, out, progress)


def _explain(model, path: str | Path, audio, cfg: AnalyzeConfig, out: Analysis, progress) -> None:
    from audioconcept.concepts.explain import explain_song
    from audioconcept.runtime.view import preview_from_array, write_report

    ex = explain_song(model, out.result, cfg.out, cfg.clips, audio=audio)
    out.explanation = ex
    out.lines += ex.lines
    if cfg.attribution and model.bundle.arch != "svm":
        progress(0.75, f"attribution ({cfg.attribution})")
        out.attribution, why = attribution(model, path, audio, cfg)
        out.lines.append(f"attribution: {out.attribution['heatmap']}" if why is None else f"warning: {why}")
    if cfg.html is not None or cfg.preview:
        out.audio = preview_from_array(audio, model.sample_rate, cfg.out / f"{Path(path).stem}.preview.ogg")
    if cfg.html is not None:
        cfg.html.parent.mkdir(parents=True, exist_ok=True)
        out.report = write_report(
            out.result,
            model.bundle.manifest,
            cfg.html,
            out.audio,
            ex,
            out.attribution,
            bundle_root=model.bundle.root,
        )
        out.lines.append(f"report: {out.report}")


def attribution(model, path: str | Path, audio, cfg: AnalyzeConfig) -> tuple[dict | None, str | None]:
    """-> (the heat map summary, None), through the bundle's .pt2 (torch and captum), or (None, why not)."""
    try:
        from audioconcept.concepts.attribution import AttributionConfig, explain_to_files

        summary = explain_to_files(
            path,
            model.bundle.root,
            cfg.out,
            AttributionConfig(cfg.attribution, steps=cfg.attribution_steps, max_seconds=cfg.max_seconds),
            audio=audio,
        )
        return summary, None
    except (ImportError, AudioConceptError) as e:  # the rest of the explanation still stands
        why = f"no attribution heat map: {e}"
        log.debug(why)
        return None, why
