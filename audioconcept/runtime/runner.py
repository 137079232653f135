"""Many songs in one call: expand files, folders and globs; one bad file never stops the rest."""

from __future__ import annotations

import glob
import logging
from dataclasses import dataclass
from pathlib import Path

from audioconcept.data.tracks import AUDIO_SUFFIXES
from audioconcept.errors import AudioConceptError
from audioconcept.runtime.result import SongError, SongResult

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


def one_line(e: BaseException, path: str | Path, what: str = "analysis failed") -> str:
    """An error as one line that names the file: ours as they are, anything else with its type."""
    if isinstance(e, AudioConceptError):
        msg = " ".join(str(e).split()) or type(e).__name__
        return msg if str(path) in msg else f"{path}: {msg}"
    first = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), "")[:300]
    return f"{path}: {what} ({type(e).__name__}{': ' + first if first else ''})"


def run_files(
    model, files: list[Path], cfg: RunConfig, on_result=None, on_error=None, errors: list[SongError] | None = None
) -> tuple[list[SongResult], int]:
    """Predict every file; -> (results, number of failures). Whatever one song raises becomes a
    one-line error (passed to `on_error(path, message)` and appended to `errors`), never the end of
    the batch; only Ctrl-C stops it."""
    from rich.progress import Progress

    results: list[SongResult] = []
    failed = 0
    show = len(files) > 1

    def fail(f: Path, msg: str) -> None:
        nonlocal failed
        failed += 1
        if errors is not None:
            errors.append(SongError(str(f), msg))
        if on_error:
            on_error(str(f), msg)

    with Progress(transient=True, disable=not show) as bar:
        task = bar.add_task("songs", total=len(files))
        for f in files:
            try:
                r = model.predict(f, hop_s=cfg.hop_s, top_k=cfg.top_k)
            except Exception as e:  # noqa: BLE001 - one song's failure, whatever it is, is that song's error
                log.debug("%s failed", f, exc_info=True)
                fail(f, one_line(e, f))
            else:
                results.append(r)
                if on_result:
                    try:
                        on_result(r)
                    except Exception as e:  # noqa: BLE001 - the prediction stands; its report failed
                        log.debug("report for %s failed", f, exc_info=True)
                        fail(f, one_line(e, f, "prediction kept, but writing its report failed"))
            bar.advance(task)
    return results, failed


def render_output(results: list[SongResult], errors: list[SongError], fmt: str, single: bool) -> str:
    """The document `--format json|csv` (or `--output` with a table) writes: every result, then
    every error entry. JSON: one object for a single song that worked, else a list."""
    import json

    if fmt == "csv":
        from audioconcept.runtime.result import to_csv

        return to_csv(results, errors)
    docs = [r.to_dict() for r in results] + [e.to_dict() for e in errors]
    return json.dumps(docs[0] if single and len(results) == 1 and not errors else docs, indent=2)
