"""Many songs in one call: expand files, folders and globs; one bad file never stops the rest."""

from __future__ import annotations

import glob
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from audioconcept.data.tracks import AUDIO_SUFFIXES
from audioconcept.errors import AudioConceptError
from audioconcept.runtime.result import SongError, SongResult

log = logging.getLogger(__name__)


def expand_inputs(items: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """-> (files, [(item, error)]) keeping the user's order."""
    files, errors, _ = expand_inputs_ordered(items)
    return files, errors


def expand_inputs_ordered(items: list[str]) -> tuple[list[Path], list[tuple[str, str]], list[str]]:
    """-> (files, [(item, error)], every file and failed item as a string, in the user's order): the order in
    which `render_output` lists results and error entries."""
    files: list[Path] = []
    errors: list[tuple[str, str]] = []
    order: list[str] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.suffix.lower() in AUDIO_SUFFIXES and q.is_file())
            if not found:
                errors.append((item, "folder holds no audio files"))
                order.append(item)
            files.extend(found)
            order.extend(map(str, found))
        elif any(ch in item for ch in "*?["):
            found = sorted(Path(g) for g in glob.glob(item, recursive=True) if Path(g).is_file())
            if not found:
                errors.append((item, "pattern matched no files"))
                order.append(item)
            files.extend(found)
            order.extend(map(str, found))
        else:
            files.append(p)
            order.append(str(p))
    return files, errors, order


def in_input_order(entries: list, order: list[str] | None) -> list:
    """Results and error entries (anything with a `.path`) sorted by where their path first appears in `order`;
    entries whose path is not there keep their place at the end. A stable sort: one path's entries keep theirs."""
    if not order:
        return list(entries)
    first: dict[str, int] = {}
    for i, key in enumerate(order):
        first.setdefault(key, i)
    return sorted(entries, key=lambda e: first.get(str(e.path), len(order)))


class _NoBar:
    """Stands in for rich's progress bar for a single song (rich costs a cold start ~50 ms and ~10 MB)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def add_task(self, *a, **k) -> int:
        return 0

    def advance(self, *a, **k) -> None:
        return None


def progress_bar(n: int):
    if n < 2:
        return _NoBar()
    from rich.progress import Progress

    return Progress(transient=True)


def one_line(e: BaseException, path: str | Path, what: str = "analysis failed") -> str:
    """An error as one line that names the file: ours as they are, anything else with its type."""
    if isinstance(e, AudioConceptError):
        msg = " ".join(str(e).split()) or type(e).__name__
        return msg if str(path) in msg else f"{path}: {msg}"
    first = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), "")[:300]
    return f"{path}: {what} ({type(e).__name__}{': ' + first if first else ''})"


def collect(
    stream: Iterable,
    n: int,
    on_result: Callable[[SongResult], None] | None = None,
    on_error: Callable[[str, str], None] | None = None,
    errors: list[SongError] | None = None,
) -> tuple[list[SongResult], int]:
    """Consume SongResult / SongFailed items with a progress bar when there are several songs;
    -> (results, number of failures). Every failure becomes a one-line error entry (in `errors`), never the
    end of the batch; a result whose report (`on_result`) fails is kept, and its failure is an entry too."""
    from audioconcept.runtime.model import SongFailed

    results: list[SongResult] = []
    failed = 0

    def fail(path: str, msg: str) -> None:
        nonlocal failed
        failed += 1
        if errors is not None:
            errors.append(SongError(path, msg))
        if on_error:
            on_error(path, msg)

    with progress_bar(n) as bar:
        task = bar.add_task("songs", total=n)
        for r in stream:
            if isinstance(r, SongFailed):
                fail(r.path, one_line(r.error, r.path))
            else:
                results.append(r)
                if on_result:
                    try:
                        on_result(r)
                    except Exception as e:  # noqa: BLE001 - the prediction stands; its report failed
                        log.debug("report for %s failed", r.path, exc_info=True)
                        fail(r.path, one_line(e, r.path, "prediction kept, but writing its report failed"))
            bar.advance(task)
    return results, failed


def run_files(
    predict: Callable[[Path], SongResult],
    files: list[Path],
    on_result: Callable[[SongResult], None] | None = None,
    on_error: Callable[[str, str], None] | None = None,
    errors: list[SongError] | None = None,
) -> tuple[list[SongResult], int]:
    """`predict` every file, one at a time; whatever one song raises is that song's error."""
    from audioconcept.runtime.model import SongFailed

    def stream():
        for f in files:
            try:
                yield predict(f)
            except Exception as e:  # noqa: BLE001 - one song's failure, whatever it is, is that song's error
                log.debug("%s failed", f, exc_info=True)
                yield SongFailed(str(f), e)

    return collect(stream(), len(files), on_result, on_error, errors)


def run_many(
    model,
    files: list[Path],
    hop_s: float | None = None,
    top_k: int = 3,
    on_result: Callable[[SongResult], None] | None = None,
    on_error: Callable[[str, str], None] | None = None,
    errors: list[SongError] | None = None,
) -> tuple[list[SongResult], int]:
    """Like `run_files`, with the windows of consecutive songs sharing batches (`predict_many`)."""
    from audioconcept.runtime.model import predict_many

    return collect(predict_many(model, files, hop_s, top_k), len(files), on_result, on_error, errors)


def render_output(
    results: list[SongResult], errors: list[SongError], fmt: str, single: bool, order: list[str] | None = None
) -> str:
    """The document `--format json|csv` (or `--output` with a table) writes: every result and every error entry,
    in the input order (`order`, from expand_inputs_ordered; without it results first). JSON: one object for a
    single song that worked, else a list; never NaN or Infinity (not JSON)."""
    import json

    entries = in_input_order([*results, *errors], order)
    if fmt == "csv":
        from audioconcept.runtime.result import to_csv

        return to_csv(results, errors, entries)
    docs = [e.to_dict() for e in entries]
    return json.dumps(docs[0] if single and len(results) == 1 and not errors else docs, indent=2, allow_nan=False)
