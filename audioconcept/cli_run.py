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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from audioconcept.errors import AudioConceptError
from audioconcept.runtime.formats import DEVICES
from audioconcept.runtime.formats import help_text as formats_help
from audioconcept.runtime.torch_trust import TRUST_BOUNDARY

FORMATS = ("table", "json", "csv")
EXAMPLES = (
    ("audioconcept-run song.mp3", "genres and concepts with the packaged real-music model"),
    ("audioconcept-run song.mp3 --format json --output song.json", "the same as JSON"),
    ("audioconcept-run song.mp3 --model svm-gtzan --html report.html", "another model, and a self-contained report"),
    ("audioconcept-run --live song.flac --realtime --format jsonl", "live: a JSON line per window as it plays"),
)
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


# --- live analysis (`--live SOURCE`): its options, arguments and run, apart from the file path's -----------------

LIVE_FORMATS = ("jsonl", "table")
LIVE_ONLY = ("live", "rate", "channels", "pcm", "realtime", "on_change", "list_devices")


@dataclass(frozen=True)
class LiveOptions:
    source: str | None = None  # -: stdin; device or device:NAME|INDEX: a sound card; else a file
    rate: int | None = None  # raw PCM on stdin, or the sound card's rate
    channels: int | None = None
    pcm: str = "s16"
    realtime: bool = False  # read a file at real-time speed
    on_change: bool = False
    list_devices: bool = False

    def check(self, opts: RunOptions) -> None:
        if self.list_devices:
            return
        if opts.fmt not in LIVE_FORMATS:
            raise UsageError(f"--format {opts.fmt!r}: --live prints jsonl or table")
        if opts.songs:
            raise UsageError("--live reads its one SOURCE; give no songs beside it")
        if opts.explain or opts.html is not None or opts.attribution is not None or opts.output is not None:
            raise UsageError("--explain, --html, --attribution and --output do not apply to --live")
        if opts.hop is not None and opts.hop <= 0:
            raise UsageError("--hop must be positive")
        if opts.threads < 0:
            raise UsageError("--threads must be 0 (every core) or more")
        if opts.top < 1:
            raise UsageError("--top must be at least 1")
        if self.realtime and (self.source == "-" or self.source.startswith("device")):
            raise UsageError("--realtime paces a file; stdin and sound cards arrive in real time already")


def add_live_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("live analysis")
    g.add_argument(
        "--live", metavar="SOURCE", help="analyse audio as it arrives: - (stdin: WAV, or raw PCM with --rate), "
        "device or device:NAME|INDEX (a sound card), or a file (with --realtime: at real-time speed)"
    )  # fmt: skip
    g.add_argument("--rate", type=int, help="raw PCM on stdin: its sample rate; a sound card: the rate to open")
    g.add_argument("--channels", type=int, help="raw PCM or sound card channels (default 1)")
    g.add_argument("--pcm", default="s16", help="raw PCM sample format: s16 | s32 | f32 (little-endian)")
    g.add_argument("--realtime", action="store_true", help="read a --live file at real-time speed")
    g.add_argument("--on-change", action="store_true", help="print only when the top genre or present concepts change")
    g.add_argument("--list-devices", action="store_true", help="list sound cards (the live extra) and exit")


def live_options(args: argparse.Namespace) -> LiveOptions:
    return LiveOptions(
        args.live, args.rate, args.channels, args.pcm, args.realtime, args.on_change, args.list_devices
    )  # fmt: skip


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """`kill PID` (SIGTERM) ends a live run as Ctrl-C does: with the summary. A run started in the background by a
    shell without job control (`cmd &` in a script) ignores SIGINT, as Unix asks, so SIGTERM is how it is stopped."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):  # noqa: ARG001 - the signal handler's signature
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def run_live(opts: RunOptions, lo: LiveOptions) -> int:
    """Analyse a live source until it ends or Ctrl-C; the song-level summary last; -> 0."""
    from audioconcept.runtime.live_sources import list_devices, open_source

    lo.check(opts)
    if lo.list_devices:
        print(list_devices())
        return 0
    from audioconcept.runtime.live_view import ChangeDetector, LiveView
    from audioconcept.runtime.model import load

    src = open_source(lo.source, lo.rate, lo.channels, lo.pcm, lo.realtime)
    try:
        m = load(opts.model, backend=opts.backend, device=opts.device, threads=opts.threads, head=opts.head)
        _err(
            f"model {m.name} live from {src.name} ({src.rate} Hz, {src.channels} ch), a window of {m.window_s:g} s "
            f"every {opts.hop or m.hop_s:g} s via {m.backend.name}"
        )
        # live input cannot wait: one window waits while one runs, older ones are skipped (and counted)
        stream = m.stream(
            src.chunks, src.rate, src.channels, opts.hop, opts.top, max_pending=1 if src.live else None, source=src.name
        )  # fmt: skip
        detector = (
            ChangeDetector(dict(zip(m.concept_names, m.concept_thresholds, strict=True))) if lo.on_change else None
        )
        view = LiveView(sys.stdout, "jsonl" if opts.fmt == "jsonl" else "table", detector)
        interrupted = False
        try:
            with _sigterm_as_interrupt():
                for w in stream.windows():
                    view.window(w)
        except KeyboardInterrupt:
            interrupted = True
        if stream.agg.seen == 0:
            _err(f"{src.name}: {'interrupted' if interrupted else 'ended'} before a window was complete")
            return 0 if interrupted else 2
        view.summary(stream.summary(), interrupted)
        if dropped := src.dropped_blocks():
            _err(f"warning: {src.name}: {dropped} blocks were lost before analysis (the sound card's queue was full)")
    except BrokenPipeError:  # the reader went away (| head): not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        src.close()
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2
        _err(f"error: {message} (see {self.prog} --help)")
        raise SystemExit(2)


def examples(prog: str = "audioconcept-run") -> str:
    """The examples --help ends with, and that a bare `audioconcept-run` shows."""
    width = max(len(cmd) for cmd, _ in EXAMPLES)
    lines = [f"  {cmd.replace('audioconcept-run', prog, 1):<{width}}  # {what}" for cmd, what in EXAMPLES]
    return "examples:\n" + "\n".join(lines)


def short_usage(prog: str = "audioconcept-run") -> str:
    """What a bare `audioconcept-run` prints: the usage line, the examples and where the full help is."""
    return (
        f"usage: {prog} SONG [SONG ...] [--model NAME_OR_FOLDER] [--format table|json|csv] [--html REPORT.html]\n"
        "Classify songs of any length and say which concepts are present and where.\n\n"
        f"{examples(prog)}\n\nall options: {prog} --help"
    )


def parser(prog: str = "audioconcept-run") -> argparse.ArgumentParser:
    p = _Parser(
        prog=prog,
        description="Classify songs of any length and say which concepts are present and where.",
        epilog=examples(prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("songs", nargs="*", help="audio files, folders or globs")
    p.add_argument("--model", help="bundle folder or name (default: the packaged real-music model)")
    p.add_argument("--backend", default="onnx", help=f"{formats_help('backend')} {TRUST_BOUNDARY}")
    p.add_argument("--device", default="auto", help=" | ".join(DEVICES))
    p.add_argument("--hop", type=float, help="window hop in seconds (default: the bundle's hop_s)")
    p.add_argument("--format", dest="fmt", default="table", help="table | json | csv (--live: table | jsonl)")
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
    add_live_arguments(p)
    return p


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:  # a bare command: how to use it, not a bare error
        _err(short_usage())
        raise SystemExit(2)
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s", force=True)
    fields = {k: v for k, v in vars(args).items() if k not in ("debug", "verbose", "songs", *LIVE_ONLY)}
    opts = RunOptions(songs=tuple(args.songs), **fields)
    live = live_options(args)
    try:
        rc = run_live(opts, live) if live.source is not None or live.list_devices else run(opts)
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
