"""`audioconcept-run` (also `audioconcept run`): classify songs and say which concepts are present and where.

The entry point parses with argparse and imports only the runtime, so a cold start pays for numpy, onnxruntime
and the audio decoder, not for the rest of the command line (typer, pydantic): `audioconcept run` builds the
same RunOptions and calls the same `run()`. Explanations (`--explain`, `--html`, `--attribution`) import what
they need when asked.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from audioconcept.errors import AudioConceptError
from audioconcept.runtime.formats import BACKENDS, DEVICES
from audioconcept.runtime.torch_trust import TRUST_BOUNDARY

FORMATS = ("table", "json", "csv")
ATTRIBUTIONS = ("ig", "gxi")


@dataclass(frozen=True)
class RunOptions:
    songs: tuple[str, ...]
    model: str | None = None
    backend: str = "onnx"
    device: str = "auto"
    hop: float | None = None
    fmt: str = "table"
    top: int = 3
    threads: int = 0
    output: Path | None = None
    explain: bool = False
    explain_dir: Path = Path("reports/explain")
    html: Path | None = None
    attribution: str | None = None
    head: str | None = None  # genre head of a tag bundle (all-tags | musical); None: the one its graph computes

    def check(self) -> None:
        """One-line errors for values a parser cannot check alone."""
        if self.fmt not in FORMATS:
            raise UsageError(f"--format {self.fmt!r}: choose table, json or csv")
        if self.hop is not None:
            check_hop_option(self.hop)
        if self.top < 1:
            raise UsageError("--top must be at least 1")
        if self.threads < 0:
            raise UsageError("--threads must be 0 (every core) or more")
        if self.attribution is not None and self.attribution not in ATTRIBUTIONS:
            raise UsageError(f"--attribution {self.attribution!r}: choose ig or gxi")
        if not self.songs:
            raise UsageError("give at least one song, folder or glob")


class UsageError(AudioConceptError):
    pass


def check_hop_option(hop: float) -> None:
    """--hop within the runtime's bounds (at most 10 windows per second of audio), as one line."""
    from audioconcept.data.audio import check_hop
    from audioconcept.errors import InvalidHop

    try:
        check_hop(hop, "--hop")
    except InvalidHop as e:
        raise UsageError(str(e)) from None


class ReportFailed(AudioConceptError):
    """A song was classified, but its explanation or report could not be written."""


def os_error_line(e: OSError) -> str:
    """`error: PATH: reason` for a path the user gave that cannot be read or written (--output on a folder, a
    full disk); both command lines print it."""
    where = e.filename2 or e.filename
    return f"error: {where}: {e.strerror or e}" if where else f"error: {e.strerror or e}"


def _err(line: str) -> None:
    from audioconcept.utils import printable

    print(printable(line), file=sys.stderr, flush=True)


def run(opts: RunOptions) -> int:
    """Run the songs; -> exit code (2 if any song or input failed)."""
    from audioconcept.runtime.model import load
    from audioconcept.runtime.runner import expand_inputs_ordered, run_files, run_many

    opts.check()
    explain = opts.explain or opts.html is not None or opts.attribution is not None
    files, bad_inputs, order = expand_inputs_ordered(list(opts.songs))
    m = load(opts.model, backend=opts.backend, device=opts.device, threads=opts.threads, head=opts.head)
    _err(
        f"model {m.name} ({m.bundle.arch}, trained on {m.bundle.manifest.get('trained_on') or '?'}) "
        f"from {m.bundle.root} via {m.backend.name} on {m.backend.device}"
    )
    for item, why in bad_inputs:
        _err(f"error: {item}: {why}")
    console = None
    report_failures: dict[str, str] = {}  # path -> why its explanation could not be written

    def on_result(r) -> None:
        nonlocal console
        if opts.fmt == "table" and opts.output is None:
            from rich.console import Console

            from audioconcept.runtime.result import render_table

            console = console or Console()
            render_table(r, console)
        if why := report_failures.pop(r.path, None):  # the result stands; the failure is an error entry
            raise ReportFailed(why)

    def on_error(path: str, why: str) -> None:
        _err(f"error: {why}" if path in why else f"error: {path}: {why}")

    from audioconcept.runtime.result import SongError
    from audioconcept.runtime.runner import render_output

    errors = [SongError(item, why) for item, why in bad_inputs]
    if explain:

        def predict(path: Path):
            from audioconcept.concepts.analyze import AnalyzeConfig, analyze

            target = None
            if opts.html is not None:
                html = opts.html
                several = len(files) > 1 or html.is_dir() or html.suffix.lower() not in (".html", ".htm")
                target = html / f"{Path(path).stem}.html" if several else html
            cfg = AnalyzeConfig(opts.explain_dir, opts.hop, opts.top, attribution=opts.attribution, html=target)
            a = analyze(m, path, cfg)
            for line in a.lines:
                _err(line)
            if a.failure:
                report_failures[a.result.path] = a.failure
            return a.result

        results, failed = run_files(predict, files, on_result, on_error, errors)
    else:  # windows of consecutive songs share batches
        results, failed = run_many(m, files, opts.hop, opts.top, on_result, on_error, errors)
    if opts.fmt != "table" or opts.output is not None:  # every good result and every error entry
        fmt = "json" if opts.fmt == "table" else opts.fmt
        text = render_output(results, errors, fmt, single=len(opts.songs) == 1, order=order)
        if opts.output is not None:
            from audioconcept.utils import atomic_write_text

            atomic_write_text(opts.output, text + ("" if text.endswith("\n") else "\n"))
        else:
            print(text)
    return 2 if failed or bad_inputs else 0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2
        _err(f"error: {message} (see {self.prog} --help)")
        raise SystemExit(2)


def parser(prog: str = "audioconcept-run") -> argparse.ArgumentParser:
    p = _Parser(prog=prog, description="Classify songs of any length and say which concepts are present and where.")
    p.add_argument("songs", nargs="+", help="audio files, folders or globs")
    p.add_argument("--model", help="bundle folder or name (default: the packaged real-music model)")
    p.add_argument("--backend", default="onnx", help=f"{' | '.join(BACKENDS)}. {TRUST_BOUNDARY}")
    p.add_argument("--device", default="auto", help=" | ".join(DEVICES))
    p.add_argument("--hop", type=float, help="window hop in seconds (default: the bundle's hop_s)")
    p.add_argument("--format", dest="fmt", default="table", help="table | json | csv")
    p.add_argument("--top", type=int, default=3, help="genres to list (default 3)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: every core)")
    p.add_argument("--output", type=Path, help="write the results here instead of stdout")
    p.add_argument("--explain", action="store_true", help="timeline PNG and listenable clips (SVM: Shapley)")
    p.add_argument("--explain-dir", type=Path, default=Path("reports/explain"), help="where --explain writes")
    p.add_argument("--html", type=Path, help="self-contained HTML report (implies --explain)")
    p.add_argument("--attribution", help="spectrogram heat map, ig | gxi (needs torch and captum)")
    p.add_argument("--head", help="genre head of a tag bundle: all-tags | musical (default: the one in its graph)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s", force=True)
    fields = {k: v for k, v in vars(args).items() if k not in ("debug", "verbose", "songs")}
    opts = RunOptions(songs=tuple(args.songs), **fields)
    try:
        rc = run(opts)
    except AudioConceptError as e:
        if args.debug:
            raise
        _err(f"error: {e}")
        raise SystemExit(e.exit_code) from None
    except OSError as e:  # a path the user gave cannot be read or written (--output on a folder, a full disk)
        if args.debug:
            raise
        _err(os_error_line(e))
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        _err("interrupted")
        raise SystemExit(130) from None
    raise SystemExit(rc)
