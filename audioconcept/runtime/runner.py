"""Many songs in one call: expand files, folders and globs; one bad file never stops the rest."""

from __future__ import annotations

import glob
import logging
from dataclasses import dataclass
from pathlib import Path

from audioconcept.data.tracks import AUDIO_SUFFIXES
from audioconcept.errors import AudioConceptError
from audioconcept.runtime.result import SongResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunConfig:
    model: str | None = None
    backend: str = "onnx"
    device: str = "auto"
    hop_s: float | None = None
    top_k: int = 3
    threads: int = 0
    fmt: str = "table"
    output: Path | None = None
    explain: Path | None = None


def expand_inputs(items: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """-> (files, [(item, error)]) keeping the user's order."""
    files: list[Path] = []
    errors: list[tuple[str, str]] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.suffix.lower() in AUDIO_SUFFIXES and q.is_file())
            if not found:
                errors.append((item, "folder holds no audio files"))
            files.extend(found)
        elif any(ch in item for ch in "*?["):
            found = sorted(Path(g) for g in glob.glob(item, recursive=True) if Path(g).is_file())
            if not found:
                errors.append((item, "pattern matched no files"))
            files.extend(found)
        else:
            files.append(p)
    return files, errors


def run_files(model, files: list[Path], cfg: RunConfig, on_result=None, on_error=None) -> tuple[list[SongResult], int]:
    """Predict every file; -> (results, number of failures)."""
    from rich.progress import Progress

    results: list[SongResult] = []
    failed = 0
    show = len(files) > 1
    with Progress(transient=True, disable=not show) as bar:
        task = bar.add_task("songs", total=len(files))
        for f in files:
            try:
                r = model.predict(f, hop_s=cfg.hop_s, top_k=cfg.top_k)
                results.append(r)
                if on_result:
                    on_result(r)
            except AudioConceptError as e:
                failed += 1
                if on_error:
                    on_error(str(f), str(e))
            bar.advance(task)
    return results, failed
