"""Command line: a thin layer over the library. Heavy imports happen inside the commands."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from audioconcept.errors import AudioConceptError
from audioconcept.runtime.formats import help_text as formats_help
from audioconcept.runtime.torch_trust import TRUST_BOUNDARY
from audioconcept.utils import printable

if TYPE_CHECKING:
    from audioconcept.train.config import TrainConfig
    from audioconcept.train.tracking import MlflowTracker, NullTracker, WandbTracker

    Tracker = NullTracker | WandbTracker | MlflowTracker

app = typer.Typer(add_completion=False, no_args_is_help=True, help="AudioConcept: genre models, concepts, edge export.")
data_app = typer.Typer(no_args_is_help=True, help="Generate and inspect datasets.")
concepts_app = typer.Typer(no_args_is_help=True, help="Concept activation vectors, TCAV and concept reports.")
bench_app = typer.Typer(no_args_is_help=False, invoke_without_command=True, help="Benchmarks across backends.")
docs_app = typer.Typer(no_args_is_help=True, help="The documentation's generated tables.")
app.add_typer(data_app, name="data")
app.add_typer(concepts_app, name="concepts")
app.add_typer(bench_app, name="bench")
app.add_typer(docs_app, name="docs")

log = logging.getLogger("audioconcept")


class _ForPeople(logging.Filter):
    """What reaches the terminal: our own messages, and other libraries' warnings and errors. Their INFO chatter
    (onnxruntime's quantizer logs one line per rescaled weight: thousands for an export) goes to a log file when a
    command keeps one (`_log_file`), nowhere otherwise. `-v` shows everything."""

    def __init__(self, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose
        self.others = logging.WARNING  # raised to ERROR while a command keeps a log file

    def filter(self, record: logging.LogRecord) -> bool:
        if self.verbose:
            return True
        ours = record.name == "audioconcept" or record.name.startswith("audioconcept.")
        return record.levelno >= (logging.INFO if ours else self.others)


_TERMINAL = _ForPeople(False)


def _setup_logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    _TERMINAL.verbose = verbose
    handler = RichHandler(show_path=False, show_time=False, console=_stderr())
    handler.addFilter(_TERMINAL)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[handler],
        force=True,
    )


@contextlib.contextmanager
def _log_file(out: Path, name: str):
    """Every log record and Python warning of the body, in full, to `out/name` (written beside `out` while the
    body runs, since `out` is swapped in whole at the end); the terminal keeps our lines and other libraries'
    errors. A failed run leaves its log beside `out` and says where."""
    import tempfile
    import warnings

    from audioconcept.utils import current_umask

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".log")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~current_umask())  # like the bundle's other files (mkstemp makes it 0600)
    handler = logging.FileHandler(tmp, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_level, old_others = root.level, _TERMINAL.others
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    _TERMINAL.others = logging.ERROR
    logging.captureWarnings(True)
    ok = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            yield
        ok = True
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        handler.close()
        root.setLevel(old_level)
        _TERMINAL.others = old_others
        final = out / name if ok and out.is_dir() else out.parent / f"{out.name}.{name}"
        os.replace(tmp, final)
        log.info("full log: %s", final)


def _stderr():
    from rich.console import Console

    return Console(stderr=True)


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    _setup_logging(verbose or debug)


# ---------------------------------------------------------------- data
@data_app.command("synth")
def data_synth(
    out: Annotated[Path, typer.Option(help="Output root (GTZAN layout under genres/).")] = Path("data/synth"),
    clips_per_genre: Annotated[int, typer.Option(min=1)] = 20,
    seconds: Annotated[float, typer.Option(min=1.0)] = 30.0,
    seed: int = 0,
    renderer: Annotated[str, typer.Option(help="numpy (default) or soundfont")] = "numpy",
    workers: Annotated[int, typer.Option(help="0 = all cores")] = 0,
) -> None:
    """Render a synthetic GTZAN-layout genre dataset with concept ground truth."""
    from audioconcept.data.folder import load_synth
    from audioconcept.data.synth.generate import SynthConfig, generate_genres

    generate_genres(SynthConfig(out, clips_per_genre, seconds, seed, renderer, workers))
    _print_json(load_synth(out, check_readable=False).summary())


@data_app.command("concepts")
def data_concepts(
    out: Path = Path("data/concepts"),
    clips_per_concept: Annotated[int, typer.Option(min=2)] = 12,
    random_sets: Annotated[int, typer.Option(min=2)] = 10,
    clips_per_random: Annotated[int, typer.Option(min=2)] = 12,
    seconds: float = 30.0,
    seed: int = 1,
    renderer: str = "numpy",
    workers: int = 0,
) -> None:
    """Render concept sets: data/concepts/<concept>/*.wav and random_<k>/*.wav."""
    from audioconcept.data.synth.generate import ConceptSetConfig, generate_concept_sets

    generate_concept_sets(
        ConceptSetConfig(out, clips_per_concept, random_sets, clips_per_random, seconds, seed, renderer, workers)
    )
    typer.echo(f"wrote concept sets to {out}")


@data_app.command("render-concepts")
def data_render_concepts(
    out: Annotated[Path, typer.Option(help="Output folder (resumed when it holds an earlier run)")] = Path(
        "data/concept_renders"
    ),
    pieces: Annotated[int, typer.Option(min=1, help="Piece excerpts to draw and arrange")] = 400,
    seed: int = 0,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
    report: Annotated[
        Path | None, typer.Option(help="Also write summary.json and SUMMARY.md here (reports/concept_data)")
    ] = None,
    voices: Annotated[
        bool, typer.Option(help="Add festival's voices (singing, speech) as training negatives, where installed")
    ] = True,
    textures: Annotated[
        int, typer.Option(min=0, help="Clips of each non-music sound (rain, surf, applause ...), training negatives")
    ] = 6,
    orchestral: Annotated[
        int, typer.Option(min=0, help="Extra arrangements of many-part scores for an orchestra (strings, winds, brass)")
    ] = 150,
    band: Annotated[
        int, typer.Option(min=0, help="Extra arrangements of many-part scores for a band (lead, chords, bass, drums)")
    ] = 150,
    mallets: Annotated[
        int, typer.Option(min=0, help="Extra solos on tuned percussion (vibraphone, marimba ...): instrument negatives")
    ] = 60,
    sampled: Annotated[
        int,
        typer.Option(
            min=0, help="Extra arrangements played by real recorded notes (make concept-samples), train and val only"
        ),
    ] = 0,
) -> None:
    """Render real scores through soundfonts with exact per-window concept truth (docs/concept-data.md)."""
    from audioconcept.train.concept_renders import RenderConfig, build

    cfg = RenderConfig(
        out,
        pieces,
        seed,
        workers,
        voices=voices,
        textures=textures,
        orchestral=orchestral,
        band=band,
        mallets=mallets,
        sampled=sampled,
    )
    summary = build(cfg, report)
    typer.echo(
        f"wrote {summary['renders']} renders, {sum(summary['windows_per_split'].values())} windows to {out}"
        f" in {summary['build_wall_s']:.0f} s"
    )


@data_app.command("summary")
def data_summary(
    spec: Annotated[str, typer.Argument(help="gtzan:PATH, folder:PATH or synth:PATH")], seed: int = 0
) -> None:
    """Count tracks per split and label; list unreadable files."""
    from audioconcept.data.spec import load_tracks, parse_data_spec

    _print_json(load_tracks(parse_data_spec(spec), seed).summary())


# ---------------------------------------------------------------- train / evaluate / import
@app.command()
def train(
    model: Annotated[str, typer.Argument(help="svm, cnn, vggish, or probe (a genre head on a pretrained tagger)")],
    data: Annotated[str, typer.Option(help="gtzan:PATH, folder:PATH, synth:PATH or features-csv:PATH")],
    out: Annotated[Path | None, typer.Option(help="Default models/checkpoints/MODEL-TIMESTAMP")] = None,
    epochs: int = 30,
    batch_size: int = 16,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    device: str = "auto",
    seed: int = 0,
    width: Annotated[float, typer.Option(help="VGGish width multiplier (1.0 = faithful, 134M params)")] = 1.0,
    time_budget: Annotated[float | None, typer.Option(help="Stop after this many seconds")] = None,
    patience: Annotated[int, typer.Option(min=0, help="Early stopping after N epochs without progress; 0: off")] = 8,
    augment: Annotated[bool, typer.Option("--augment/--no-augment")] = True,
    grid: Annotated[bool, typer.Option("--grid/--no-grid", help="SVM grid search")] = True,
    track: Annotated[str, typer.Option(help="none | wandb (offline unless logged in) | mlflow (local store)")] = "none",
    track_dir: Annotated[
        Path | None, typer.Option(help="W&B run folder or MLflow store (default ./wandb, ./mlruns)")
    ] = None,
    project: Annotated[str, typer.Option(help="W&B project / MLflow experiment")] = "audioconcept",
    nproc: Annotated[
        int, typer.Option(min=1, help="Data-parallel workers (DDP: gloo on CPU, NCCL on CUDA); batch size per worker")
    ] = 1,
    backbone: Annotated[
        str, typer.Option(help="probe: tagger checkpoint folder or name under models/checkpoints/pretrained")
    ] = "MSD_MTT_musicnn",
    head: Annotated[str, typer.Option(help="probe: concepts (linear on named tags) | embedding")] = "concepts",
    concepts: Annotated[str, typer.Option(help="probe, --head concepts: all tags | musical (no genre-named)")] = "all",
    protocol: Annotated[str, typer.Option(help="probe: auto (split for gtzan:, cv otherwise) | split | cv")] = "auto",
    c: Annotated[float, typer.Option("--C", help="probe: inverse regularisation for --protocol cv")] = 1.0,
    max_windows: Annotated[int | None, typer.Option(help="probe: windows per track (default: all)")] = None,
) -> None:
    """Train a genre model and write checkpoint, run JSON and plots.

    Several processes: --nproc N here, or `torchrun --nproc-per-node N -m audioconcept.cli train ...` (any nodes)."""
    import os
    import time

    from audioconcept.models.registry import get_spec
    from audioconcept.train.tracking import TrackConfig, make_tracker

    if model == "probe":
        from audioconcept.train.probe import ProbeTrainConfig, train_probe

        out = out or Path("models/checkpoints") / f"probe-{time.strftime('%Y%m%d-%H%M%S')}"
        pcfg = ProbeTrainConfig(backbone, data, out, head, concepts, protocol, c, max_windows=max_windows, seed=seed)
        path, run = train_probe(pcfg)
        for name, acc in run["metrics"]["heads"].items():
            what = (
                f"cross-validated accuracy {acc['cv']['accuracy']:.3f} ± {acc['cv']['std']:.3f} (an estimate)"
                if "cv" in acc
                else f"valid {acc['valid']:.3f}, test {acc['test']:.3f}"
            )
            typer.echo(f"{name} head: {what}" + ("  [in the graph]" if name == run["metrics"]["in_graph"] else ""))
        typer.echo(f"checkpoint {path}")
        return
    if get_spec(model).pretrained:
        raise AudioConceptError(f"{model} is pretrained: import it with `audioconcept import-pretrained musicnn`")
    out = out or Path("models/checkpoints") / f"{model}-{time.strftime('%Y%m%d-%H%M%S')}"
    if nproc > 1 and model == "svm":
        raise typer.BadParameter("the svm trains in one process (its grid search uses all cores)", param_hint="--nproc")
    if os.environ.get("RANK", "0") != "0":  # a torchrun worker other than rank 0: rank 0 tracks and reports
        track = "none"
    tracker = make_tracker(TrackConfig(track, project, out.name, track_dir), model)
    try:
        if model == "svm":
            run = _train_svm(data, out, seed, grid, tracker)
        else:
            from audioconcept.train.config import AugmentConfig, TrainConfig

            cfg = TrainConfig(
                model=model,
                data=data,
                out=out,
                epochs=epochs,
                batch_size=batch_size,
                lr=lr,
                weight_decay=weight_decay,
                device=device,
                seed=seed,
                width=width,
                time_budget_s=time_budget,
                patience=patience,
                augment=AugmentConfig(enabled=augment),
            )
            run = _train_torch(cfg, tracker, nproc)
        if not run:
            return
        tracker.log_final(run, out)
    finally:
        tracker.finish()
    acc = (run.get("test") or {}).get("accuracy", float("nan"))
    typer.echo(f"{model}: test accuracy {acc:.3f}  checkpoint {out}")


def _train_svm(data: str, out: Path, seed: int, grid: bool, tracker: Tracker) -> dict:
    from audioconcept.train.svm_train import train_svm

    tracker.log_config({"model": "svm", "data": data, "grid": grid, "data_seed": seed})
    _, run = train_svm(data, out, seed=42, grid=grid, data_seed=seed)
    tracker.log_config({f"search.{k}": v for k, v in (run.get("search") or {}).items()})
    return run


def _train_torch(cfg: TrainConfig, tracker: Tracker, nproc: int) -> dict:
    import dataclasses

    from audioconcept.train.loop import train_torch

    tracker.log_config({k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(cfg).items()})
    if nproc > 1:
        from audioconcept.train.launch import launch_training

        _, run = launch_training(cfg, nproc)
        for row in run["history"]:  # the workers ran in other processes: log their epochs now
            tracker.log_epoch(row)
        return run
    _, run = train_torch(cfg, on_epoch=tracker.log_epoch)
    return run


@app.command()
def evaluate(
    checkpoint: Path,
    data: Annotated[str, typer.Option(help="gtzan:PATH, folder:PATH, synth:PATH or features-csv:PATH")],
    split: str = "test",
    out: Path | None = None,
    seed: Annotated[int | None, typer.Option(help="Split seed (default: the one used in training)")] = None,
) -> None:
    """Song-level accuracy, macro-F1, per-class metrics and a confusion matrix."""
    from audioconcept.train.evaluate import evaluate_checkpoint

    m = evaluate_checkpoint(checkpoint, data, split, out, seed)
    typer.echo(
        f"{m['arch']} on {data} [{split}]: accuracy {m['accuracy']:.3f}  macro-F1 {m['macro_f1']:.3f}  (n={m['n']})"
    )


@app.command("import-checkpoint")
def import_checkpoint(
    file: Path,
    arch: Annotated[str, typer.Option(help="cnn, vggish or svm")],
    out: Path,
    labels: Annotated[str | None, typer.Option(help="Comma-separated labels (default: GTZAN's ten)")] = None,
) -> None:
    """Convert an original AudioConcept pickle (saved on MPS) or a state_dict into a checkpoint."""
    from audioconcept.models.legacy import import_checkpoint as do_import

    lab = labels.split(",") if labels else None
    path = do_import(file, arch, out, lab)
    typer.echo(f"imported {file} as {arch} -> {path}")


@app.command("import-pretrained")
def import_pretrained(
    name: Annotated[str, typer.Argument(help="musicnn (MSD/MTT x musicnn/VGG tag models, ISC licence)")],
    wheel: Annotated[
        Path | None, typer.Option(help="musicnn-0.1.0-py3-none-any.whl (default: the cached one, else pip download)")
    ] = None,
    out: Annotated[Path, typer.Option(help="Parent folder: one checkpoint per model")] = Path(
        "models/checkpoints/pretrained"
    ),
    models: Annotated[
        str | None,
        typer.Option(help="Comma list of MSD_musicnn, MTT_musicnn, MSD_vgg, MTT_vgg (default: all four)"),
    ] = None,
) -> None:
    """Convert pretrained real-music taggers into checkpoints, without TensorFlow. MSD_musicnn and
    MTT_musicnn together also give MSD_MTT_musicnn (both on one mel, 100 tags)."""
    from audioconcept.models.pretrained import import_musicnn

    if name != "musicnn":
        raise AudioConceptError(f"unknown pretrained family {name!r}; choose musicnn")
    for path in import_musicnn(out, wheel, models.split(",") if models else None):
        typer.echo(f"{path.name}: {path}")


@app.command()
def export(
    checkpoint: Path,
    out: Annotated[Path | None, typer.Option(help="Bundle folder (default models/<arch>)")] = None,
    formats: Annotated[
        str | None,
        typer.Option(
            help=f"Comma list of {formats_help('export')} (default: all this host can produce, except torchscript: "
            "deprecated upstream, use pt2 or executorch)"
        ),
    ] = None,
    torchscript: Annotated[
        bool,
        typer.Option(
            "--torchscript",
            help="Also write model.ts (TorchScript is deprecated upstream: pt2 and executorch replace it)",
        ),
    ] = False,
    data: Annotated[str | None, typer.Option(help="Audio for the parity gate (default: the training data)")] = None,
    concepts: Annotated[Path | None, typer.Option(help="Concept folder from `concepts learn`")] = None,
    name: str | None = None,
    int8: Annotated[str, typer.Option(help="auto | always | never")] = "auto",
    force: Annotated[bool, typer.Option(help="Replace a non-empty --out that is not one of our bundles")] = False,
) -> None:
    """Export a checkpoint to a self-describing bundle; every artifact must pass the parity gate."""
    from audioconcept.export.exporter import ExportConfig, export_checkpoint, parse_formats
    from audioconcept.models.checkpoint import read_config

    ck = read_config(checkpoint)
    out = out or Path("models") / ck.arch
    fmts = parse_formats(formats, ck.arch)
    if fmts is not None and int8 == "never":
        fmts = tuple(f for f in fmts if f != "int8")
    with _log_file(out, "export.log"):  # the converters' and quantizer's chatter: in the bundle, off the terminal
        path = export_checkpoint(
            ExportConfig(
                Path(checkpoint),
                out,
                fmts,
                data,
                concepts,
                name,
                int8_policy=int8,
                force=force,
                also=("torchscript",) if torchscript and "torchscript" not in (fmts or ()) else (),
            )
        )
    _print_parity(path)


def _print_parity(bundle: Path) -> None:
    import json

    from rich.console import Console
    from rich.table import Table

    m = json.loads((bundle / "manifest.json").read_text())
    t = Table(title=f"{bundle} ({m['arch']}): parity against the eager model")
    for col in ("artifact", "clips", "max |dlogit|", "top-1 agree", "status"):
        t.add_column(col)
    for k, p in m["parity"].items():
        if "max_abs_logit_diff" in p:
            t.add_row(
                k,
                str(p["n_clips"]),
                f"{p['max_abs_logit_diff']:.2e}",
                f"{p['top1_agreement']:.3f}",
                "passed" if p.get("passed") else "not used by the runtime" if "note" in p else "FAILED",
            )
        elif "reason" in p:
            t.add_row(k, "-", "-", "-", f"spec checked; not run: {p['reason']}")
        elif "one_piece" in p:
            ops = ", ".join(p["unsupported_ops"])
            what = "one piece" if p["one_piece"] else f"{p['partitions']} partitions ({ops})"
            t.add_row(
                "onnx on CoreML EP", "-", "-", "-", f"{what}: {p['supported_nodes']}/{p['nodes']} nodes (static check)"
            )
    for k, why in (m.get("skipped") or {}).items():
        t.add_row(k, "-", "-", "-", f"skipped: {why}")
    Console().print(t)


@app.command("run")
def run(
    songs: Annotated[list[str] | None, typer.Argument(help="Audio files, folders or globs")] = None,
    model: Annotated[
        str | None, typer.Option(help="Bundle folder or name (default: best in ./models, else the packaged default)")
    ] = None,
    backend: Annotated[str, typer.Option(help=f"{formats_help('backend')}. {TRUST_BOUNDARY}")] = "onnx",
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | ane")] = "auto",
    hop: Annotated[
        float | None, typer.Option(help="Window hop in seconds (default: the bundle's hop_s, at most the window)")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table | json | csv (--live: table | jsonl)")] = "table",
    top: Annotated[int, typer.Option(min=1)] = 3,
    threads: Annotated[int, typer.Option(help="CPU threads (0: every core)")] = 0,
    output: Annotated[Path | None, typer.Option(help="Write the results here instead of stdout")] = None,
    explain: Annotated[
        bool, typer.Option(help="Write a timeline PNG and listenable WAV clips (SVM: a Shapley waterfall)")
    ] = False,
    explain_dir: Annotated[Path, typer.Option(help="Where --explain writes")] = Path("reports/explain"),
    html: Annotated[
        Path | None,
        typer.Option(help="Self-contained HTML report (implies --explain); a folder when several songs are given"),
    ] = None,
    attribution: Annotated[
        str | None,
        typer.Option(help="Add a spectrogram attribution heat map (ig | gxi) to --explain; needs torch and captum"),
    ] = None,
    head: Annotated[
        str | None,
        typer.Option(help="Genre head of a tag bundle: all-tags | musical (default: the one its graph computes)"),
    ] = None,
    live: Annotated[
        str | None,
        typer.Option(
            metavar="SOURCE",
            help="Analyse audio as it arrives: - (stdin: WAV, or raw PCM with --rate), device or device:NAME|INDEX "
            "(a sound card), or a file (with --realtime: at real-time speed); --format jsonl | table",
        ),
    ] = None,
    rate: Annotated[int | None, typer.Option(help="--live raw PCM on stdin: its rate; a sound card: the rate")] = None,
    channels: Annotated[int | None, typer.Option(help="--live raw PCM or sound card channels (default 1)")] = None,
    pcm: Annotated[str, typer.Option(help="--live raw PCM sample format: s16 | s32 | f32 (little-endian)")] = "s16",
    realtime: Annotated[bool, typer.Option("--realtime", help="Read a --live file at real-time speed")] = False,
    on_change: Annotated[
        bool, typer.Option("--on-change", help="--live: print only when the top genre or present concepts change")
    ] = False,
    list_devices: Annotated[bool, typer.Option("--list-devices", help="List sound cards and exit")] = False,
) -> None:
    """Classify songs of any length and say which concepts are present and where (= audioconcept-run)."""
    from audioconcept.cli_run import LiveOptions, RunOptions, run_live
    from audioconcept.cli_run import run as run_songs

    opts = RunOptions(
        tuple(songs or ()),
        model,
        backend,
        device,
        hop,
        fmt,
        top,
        threads,
        output,
        explain,
        explain_dir,
        html,
        attribution,
        head,
    )
    lo = LiveOptions(live, rate, channels, pcm, realtime, on_change, list_devices)
    rc = run_live(opts, lo) if live is not None or list_devices else run_songs(opts)
    if rc:
        raise typer.Exit(rc)


@app.command("app")
def web_app(
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8765,
    host: Annotated[str, typer.Option(help="Interface to listen on (local only by default)")] = "127.0.0.1",
    models: Annotated[
        list[Path] | None, typer.Option(help="Bundle folders (repeat; default: ./models/* + packaged)")
    ] = None,
    folder: Annotated[
        list[Path] | None,
        typer.Option(help="Folder of songs to pick from (repeat; the packaged examples are always there)"),
    ] = None,
    max_seconds: Annotated[float, typer.Option(help="Longest song accepted")] = 600.0,
    attribution: Annotated[str, typer.Option(help="Heat map method for CNN/VGGish: ig | gxi | none")] = "gxi",
    allow_host: Annotated[
        list[str] | None, typer.Option(help="Host name the page may be reached by besides loopback (repeat)")
    ] = None,
) -> None:
    """Serve the web app on http://HOST:PORT: upload a song, see genres, concepts and explanations."""
    from audioconcept.app.server import AppConfig, serve

    if attribution not in ("ig", "gxi", "none"):
        raise typer.BadParameter("choose ig, gxi or none", param_hint="--attribution")
    for f in folder or ():
        if not f.is_dir():
            raise typer.BadParameter(f"{f} is not a folder", param_hint="--folder")
    hosts = tuple(allow_host or ())
    songs = tuple(folder or ())
    serve(
        AppConfig(
            host,
            port,
            tuple(models or ()),
            None,
            max_seconds,
            attribution=attribution,
            allowed_hosts=hosts,
            folders=songs,
        )
    )


@app.command("web")
def web(
    bundles: Annotated[
        list[str] | None, typer.Argument(help="Bundles (names or folders; default: every packaged one the page runs)")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder to write the static site to")] = Path("site"),
    serve: Annotated[bool, typer.Option(help="Then serve it on http://HOST:PORT with COOP/COEP (threads)")] = False,
    host: Annotated[str, typer.Option(help="Interface to serve on (local only by default)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535)] = 8000,
    ort: Annotated[Path | None, typer.Option(help="onnxruntime-web's dist folder (default: web/node_modules)")] = None,
    force: Annotated[bool, typer.Option(help="Replace --out even if it is not a site")] = False,
) -> None:
    """Write a static site that analyses songs in the browser (onnxruntime-web; no server needed)."""
    from audioconcept.runtime.site import build_site, make_server

    site = build_site(list(bundles or ()), out, ort, force)
    typer.echo(
        f"wrote {out}: {', '.join(m['name'] for m in site['models'])} (onnxruntime-web {site['ort_version']})"
        + "".join(f"; skipped {k}: {v}" for k, v in site["skipped"].items())
    )
    if serve:
        srv = make_server(out, host, port)
        where = f"http://{host}:{srv.server_address[1]}/"
        typer.echo(f"serving {out} on {where} (cross-origin isolated: threads); Ctrl-C stops")
        try:
            srv.serve_forever()
        finally:
            srv.server_close()


@app.command("explain")
def explain(
    song: Annotated[Path, typer.Argument(help="Audio file")],
    model: Annotated[Path, typer.Option(help="Checkpoint folder or exported bundle (cnn or vggish)")],
    method: Annotated[str, typer.Option(help="ig (integrated gradients) | gxi (gradient x input)")] = "ig",
    target: Annotated[str | None, typer.Option(help="Genre to explain (default: the song's top genre)")] = None,
    steps: Annotated[int, typer.Option(min=2, help="Integrated-gradients steps")] = 32,
    max_seconds: Annotated[float | None, typer.Option(help="Only the first N seconds")] = None,
    out: Annotated[Path, typer.Option(help="Folder for the heat map PNG and the JSON summary")] = Path(
        "reports/explain"
    ),
) -> None:
    """Attribution heat map on the mel spectrogram (Captum), with per-band and per-second summaries."""
    from audioconcept.concepts.attribution import AttributionConfig, explain_to_files

    s = explain_to_files(song, model, out, AttributionConfig(method, steps, target, max_seconds=max_seconds))
    top = sorted(s["per_second"], key=lambda r: -r["mass"])[:3]
    band = max(s["per_band"], key=lambda r: r["mass"])
    typer.echo(
        f"{s['target']} (p = {s['probabilities'][s['target']]:.2f}); most evidence at "
        + ", ".join(f"{r['start']:.0f}-{r['end']:.0f} s ({r['mass']:.0%})" for r in top)
        + f"; strongest band {band['f_lo_hz']:.0f}-{band['f_hi_hz']:.0f} Hz ({band['mass']:.0%})"
    )
    typer.echo(f"heat map: {s['heatmap']}")
    typer.echo(f"summary: {out / (song.stem + '.' + method + '.json')}")


@app.command("batch")
def batch(
    library: Annotated[list[str], typer.Argument(help="Folders (recursive), globs, or .txt/.m3u/.parquet lists")],
    out: Annotated[Path, typer.Option(help="Output folder: songs/ and windows/ Parquet tables (resumable)")],
    model: Annotated[str | None, typer.Option(help="Bundle folder or name (default as for `run`)")] = None,
    engine: Annotated[str, typer.Option(help="local (a process pool) | ray (Ray Data, local or a cluster)")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster: 'auto' (after `ray start`) or host:port")] = None,
    workers: Annotated[int, typer.Option(min=0, help="Processes (local) or actors (ray); 0 = from cores/GPUs")] = 0,
    threads: Annotated[int, typer.Option(min=0, help="onnxruntime threads per worker (0 = cores / workers)")] = 0,
    backend: Annotated[str, typer.Option(help=f"{formats_help('backend')}. {TRUST_BOUNDARY}")] = "onnx",
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    hop: Annotated[float | None, typer.Option(help="Window hop in seconds (default: the bundle's)")] = None,
    top: Annotated[int, typer.Option(min=1, help="Genres kept per song")] = 3,
    part_songs: Annotated[int, typer.Option(min=1, help="Songs per Parquet part (a kill loses at most this)")] = 128,
    retry_errors: Annotated[bool, typer.Option(help="Analyse again the songs that failed in earlier runs")] = False,
    song_timeout: Annotated[
        float, typer.Option(min=0, help="Seconds one song may take before it becomes an error row (0: no limit)")
    ] = 600.0,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Analyse a music library into Parquet tables of songs and windows (resumable: re-run to finish).

    Exit code 0: every song analysed; 1: some songs failed (they have error rows); 2: nothing ran.
    """
    from audioconcept.runtime.batch.run import BatchConfig, run_batch

    if hop is not None:
        from audioconcept.cli_run import check_hop_option

        check_hop_option(hop)
    cfg = BatchConfig(
        tuple(library), out, model, engine, address, workers, threads, backend, device, hop, top,
        part_songs=part_songs, retry_errors=retry_errors, progress=progress, song_timeout_s=song_timeout,
    )  # fmt: skip
    s = run_batch(cfg)
    err = _stderr()
    for item, why in s.problems:
        err.print(printable(f"error: {item}: {why}"), highlight=False, markup=False, soft_wrap=True)
    for path, why in s.failed_now[:20]:
        line = f"failed: {why}" if path in why else f"failed: {path}: {why}"
        err.print(printable(line), highlight=False, markup=False, soft_wrap=True)
    if len(s.failed_now) > 20:
        err.print(f"... and {len(s.failed_now) - 20} more (status 'error' in {out}/songs)", soft_wrap=True)
    rate = f" in {s.elapsed_s:.1f} s ({s.songs_per_s:.2f} songs/s)" if s.analysed else ""
    err.print(
        f"{s.analysed} song(s) analysed{rate} with {s.engine} x{s.workers} on {s.device}, "
        f"{s.skipped} already in {out}, {len(s.failed_now)} failed now"
        + (f", {s.failed_before} failed in earlier runs (--retry-errors tries them again)" if s.failed_before else ""),
        highlight=False,
        soft_wrap=True,
    )
    if s.failed:
        raise typer.Exit(1)


@concepts_app.command("learn")
def concepts_learn(
    model: Annotated[Path, typer.Option(help="Checkpoint folder (cnn or vggish)")],
    concepts: Annotated[Path, typer.Option(help="Folder with <concept>/ and random_<k>/ clip folders")],
    out: Annotated[Path | None, typer.Option(help="Default: <checkpoint>/concepts")] = None,
    layers: Annotated[str | None, typer.Option(help="Comma list (default: every layer)")] = None,
    eval_data: Annotated[str | None, typer.Option(help="Class clips for TCAV (default: the training data)")] = None,
    clips_per_class: int = 10,
    head_layer: Annotated[str | None, typer.Option(help="Layer whose CAVs are baked into exports")] = None,
    seed: int = 0,
) -> None:
    """Learn CAVs per layer, TCAV scores with significance tests, and the concept head for export."""
    from audioconcept.concepts.learn import LearnConfig, learn_concepts

    out = out or Path(model) / "concepts"
    lay = tuple(x.strip() for x in layers.split(",")) if layers else None
    r = learn_concepts(
        LearnConfig(Path(model), Path(concepts), out, lay, eval_data, clips_per_class, head_layer=head_layer, seed=seed)
    )
    typer.echo(
        f"{len(r['significant_findings'])} significant findings; random-concept false positives "
        f"{r['random_sanity']['significant']}/{r['random_sanity']['tests']}; head layer {r['head']['layer']}; "
        f"report {out / 'report.md'}"
    )


@concepts_app.command("derive")
def concepts_derive(
    data: Annotated[str, typer.Option(help="Any dataset: gtzan:PATH, folder:PATH or synth:PATH")],
    out: Annotated[Path, typer.Option(help="Concept folder to write")] = Path("data/derived_concepts"),
    quantile: float = 0.25,
    random_sets: int = 10,
    clips_per_random: int = 12,
    seed: int = 0,
) -> None:
    """Concept sets from librosa descriptors (fast/slow, percussive/harmonic, bright/dark)."""
    from audioconcept.concepts.derived import DerivedConfig, derive_concepts

    s = derive_concepts(DerivedConfig(data, out, quantile, random_sets, clips_per_random, seed))
    typer.echo(", ".join(f"{k}: {v['clips']} clips" for k, v in s["concepts"].items()) + f" -> {out}")


@concepts_app.command("study")
def concepts_study(
    model: Annotated[Path, typer.Option(help="A tag probe checkpoint (`audioconcept train probe`)")],
    out: Annotated[Path, typer.Option(help="Report folder")] = Path("reports/real_music"),
    data: Annotated[str | None, typer.Option(help="Audio (default: the probe's training data)")] = None,
    tcav: Annotated[bool, typer.Option("--tcav/--no-tcav", help="TCAV on the tagger's layers")] = True,
    derived: Annotated[bool, typer.Option("--derived/--no-derived", help="Also TCAV on `concepts derive` sets")] = True,
) -> None:
    """Real-music concept study: per genre, the exact head contributions of named concepts, and TCAV with
    concept sets chosen from real audio by tag activation; one figure per genre."""
    from audioconcept.concepts.tag_study import StudyConfig, run_study

    s = run_study(StudyConfig(Path(model), out, data, tcav, derived))
    typer.echo(f"{len(s['labels'])} genres, {s['tracks']} tracks; report {out / 'README.md'}")


@concepts_app.command("validate-probes")
def concepts_validate_probes(
    renders: Annotated[Path, typer.Option(help="Concept audio with exact truth (docs/concept-data.md)")],
    bundle: Annotated[str, typer.Option(help="The tag bundle whose embedding the probes read")] = "musicnn-gtzan",
    instruments: Annotated[Path, typer.Option(help="Real solos with LABELS.tsv (validation only)")] = Path(
        "../shared/instruments"
    ),
    clips: Annotated[Path, typer.Option(help="The real GTZAN clips the genre head trains on")] = Path(
        "../shared/gtzan/clips"
    ),
    out: Annotated[Path, typer.Option(help="Report folder")] = Path("reports/real_music"),
    patch: Annotated[Path, typer.Option(help="The manifest patch to write")] = Path(
        "models/concept_probes/musicnn-gtzan.json"
    ),
    precision: Annotated[float, typer.Option(min=0.5, max=1.0, help="Target precision of 'present'")] = 0.9,
    before: Annotated[bool, typer.Option("--before/--no-before", help="Also measure the bundle as it was")] = True,
    lossy_copies: Annotated[
        bool,
        typer.Option("--lossy-copies/--no-lossy-copies", help="Also train on the train renders through MP3/Vorbis"),
    ] = True,
) -> None:
    """Concept probes on a tag bundle's embedding, validated on held-out renders and real recordings; the
    honest genre head on the validated concepts; the distance to training; the issue-22 figures."""
    from audioconcept.concepts.validated import ValidateConfig, run_all

    for p, what in ((renders, "--renders"), (clips, "--clips")):
        if not p.is_dir():
            raise typer.BadParameter(f"{p}: no such folder", param_hint=what)
    cfg = ValidateConfig(
        renders, bundle, instruments, clips, out, patch, target_precision=precision, lossy_train_copies=lossy_copies
    )
    r = run_all(cfg, before)
    v = r["report"]["validation"]
    n_ok = sum(x["status"] == "validated" for x in v.values())
    n_fail = sum(x["status"] == "failed" for x in v.values())
    typer.echo(f"{n_ok} concepts validated, {n_fail} failed; patch {patch}; reports in {out}")


@concepts_app.command("timeline")
def concepts_timeline(
    renders: Annotated[Path, typer.Option(help="Concept audio with exact truth (docs/concept-data.md)")],
    bundle: Annotated[str, typer.Option(help="A bundle whose concepts are named as the renders' truth")] = (
        "musicnn-gtzan"
    ),
    medleys: Annotated[int, typer.Option(min=1, help="Medleys of held-out renders to analyse")] = 20,
    parts: Annotated[int, typer.Option(min=2, help="Renders per medley, each of another arrangement style")] = 4,
    out: Annotated[Path | None, typer.Option(help="Also write the figures as JSON here")] = None,
) -> None:
    """Where in time: the bundle's concept spans on held-out renders strung together, against the renders' exact
    truth each second (time precision and recall per concept; parts a concept is misplaced in)."""
    from audioconcept.concepts.real_music_report import timeline_markdown
    from audioconcept.concepts.timeline_check import MedleySettings, timeline_figures
    from audioconcept.runtime.model import load

    for name in ("windows.csv", "renders.csv"):
        if not (renders / name).is_file():
            raise typer.BadParameter(
                f"{renders}: no {name} (build it with `make concept-audio`)", param_hint="--renders"
            )
    model = load(bundle)
    t = timeline_figures(model, renders, model.settings.validation, MedleySettings(medleys=medleys, parts=parts))
    if not t["concepts"]:
        raise AudioConceptError(f"{bundle}: none of its concepts is named as a truth column of {renders}")
    if out is not None:
        from audioconcept.utils import atomic_write_json

        atomic_write_json(out, t)
    typer.echo("\n".join(timeline_markdown(t)).rstrip())


@concepts_app.command("validate-cavs")
def concepts_validate_cavs(
    renders: Annotated[Path, typer.Option(help="Concept audio with exact truth (docs/concept-data.md)")],
    bundle: Annotated[str, typer.Option(help="A bundle whose concepts are CAVs")] = "cnn-synth",
    instruments: Annotated[Path, typer.Option(help="Real solos with LABELS.tsv (validation only)")] = Path(
        "../shared/instruments"
    ),
    out: Annotated[Path, typer.Option(help="Report folder")] = Path("reports/real_music"),
    patch: Annotated[Path, typer.Option(help="The manifest patch to write")] = Path(
        "models/concept_probes/cnn-synth.json"
    ),
    max_renders: Annotated[int | None, typer.Option(min=1, help="Only the first N renders (a quick look)")] = None,
) -> None:
    """A CAV bundle's concepts (cnn-synth) against rendered audio and real recordings whose content is known, at
    the bundle's own thresholds; writes the validation patch (`make bundles` ships it) and a report."""
    from audioconcept.concepts.validate_cavs import CavValidateConfig, validate_cavs

    if not renders.is_dir():
        raise typer.BadParameter(f"{renders}: no such folder", param_hint="--renders")
    r = validate_cavs(CavValidateConfig(renders, bundle, instruments, out, patch, max_renders))
    v = r["validation"]
    counts = {s: sum(x["status"] == s for x in v.values()) for s in ("validated", "failed", "not validated")}
    typer.echo(
        f"{bundle}: {counts['validated']} concepts validated, {counts['failed']} failed, "
        f"{counts['not validated']} not validated; patch {patch}; report in {out}"
    )


@concepts_app.command("validate")
def concepts_validate(
    bundle: Annotated[Path, typer.Argument(help="Exported bundle with a concept output")],
    data: Annotated[str, typer.Option(help="synth:PATH with ground_truth.json")],
    out: Annotated[Path, typer.Option(help="Report folder")] = Path("reports/concepts"),
    attribution: Annotated[
        str | None, typer.Option(help="Also check spectrogram attribution (ig | gxi) against the concept spans")
    ] = None,
    steps: Annotated[int, typer.Option(min=2, help="Integrated-gradients steps")] = 16,
    splits: Annotated[str, typer.Option(help="Comma list of splits (all three for a held-out set)")] = "test,valid",
) -> None:
    """ROC-AUC of concept detection and IoU of localisation against synthetic ground truth."""
    from audioconcept.concepts.validate import validate_bundle, write_validation_report

    split_t = tuple(s.strip() for s in splits.split(",") if s.strip())
    if not split_t or any(s not in ("train", "valid", "test") for s in split_t):
        raise typer.BadParameter("a comma list of train, valid, test", param_hint="--splits")
    r = validate_bundle(bundle, data, split_t)
    if attribution:
        from audioconcept.concepts.attribution import AttributionConfig, ground_truth_check

        r["attribution"] = ground_truth_check(bundle, data, AttributionConfig(attribution, steps), split_t)
        a = r["attribution"]
        typer.echo(
            f"attribution ({attribution}): {a['mean_mass_in_span']:.0%} of the genre's evidence inside the "
            f"concept span on average (span covers {a['mean_span_share']:.0%}); majority inside on "
            f"{a['clips_with_majority_in_span']:.0%} of {a['clips']} clips"
        )
    write_validation_report(r, out)
    typer.echo(
        f"ROC-AUC >= 0.9 for {r['auc_at_least_0.9']}/{r['concepts_with_auc']} concepts; mean IoU "
        f"{'n/a' if r['mean_iou'] is None else format(r['mean_iou'], '.2f')} over {r['spans_checked']} spans; "
        f"report {out / 'validation.md'}"
    )


@bench_app.callback()
def bench(
    ctx: typer.Context,
    models: Annotated[
        list[str] | None, typer.Option(help="Bundle folders or names, or a folder of bundles (repeat the option)")
    ] = None,
    backends: Annotated[str, typer.Option(help="Comma list or 'available'")] = "available",
    threads: Annotated[str, typer.Option(help="Comma list; 'all' = every core; counts above the cores are dropped")] = (
        "1,2,4,8,all"
    ),
    batch: Annotated[str, typer.Option(help="Comma list")] = "1,16",
    repeats: int = 20,
    warmup: int = 3,
    data: Annotated[str | None, typer.Option(help="Evaluation audio (default: each model's training data)")] = None,
    quick: Annotated[bool, typer.Option(help="Fewer repeats, batch 1, one thread count")] = False,
    out: Annotated[Path | None, typer.Option(help="Results JSON")] = None,
    min_agreement: Annotated[float | None, typer.Option(help="Fail if any row's top-1 agreement is lower")] = None,
) -> None:
    """Latency, throughput, memory, size and faithfulness per backend; `bench report` merges hosts."""
    if ctx.invoked_subcommand is not None:
        return
    import glob

    from audioconcept.benchmarks.harness import BenchConfig, check_agreement, run_bench
    from audioconcept.benchmarks.report import headline, host_label, terminal_table
    from audioconcept.runtime.registry import local_bundles, resolve_bundle

    roots: list[Path] = []
    for m in models or [Path("models")]:
        if any(ch in str(m) for ch in "*?"):
            roots += [Path(p) for p in sorted(glob.glob(str(m))) if (Path(p) / "manifest.json").exists()]
        elif Path(m).is_dir() and not (Path(m) / "manifest.json").exists():  # a folder of bundles
            roots += list(local_bundles(Path(m)).values())
        else:  # a bundle folder, or the name of one in ./models or inside the package
            roots.append(resolve_bundle(str(m)))
    if not roots:
        raise typer.BadParameter("no bundle found", param_hint="--models")
    cfg = BenchConfig(
        tuple(roots),
        None if backends == "available" else tuple(backends.split(",")),
        (1,) if quick else thread_counts(threads),
        (1,) if quick else tuple(int(b) for b in batch.split(",")),
        warmup=1 if quick else warmup,
        repeats=5 if quick else repeats,
        eval_windows=16 if quick else 32,
        data=data,
        out=out,
        min_agreement=min_agreement,
    )
    res = run_bench(cfg)
    from rich.console import Console

    console = Console()
    console.print(f"host: {host_label(res)}")
    console.print(terminal_table(headline([res], host_column=False)))
    if out:
        typer.echo(f"results: {out}")
    if min_agreement is not None:
        bad = check_agreement(res, min_agreement)
        for line in bad:
            typer.echo(f"error: {line}", err=True)
        if bad:
            raise typer.Exit(1)


@bench_app.command("batch")
def bench_batch(
    out: Annotated[Path | None, typer.Option(help="Results JSON (give it to `bench report` with the others)")] = None,
    model: str = "cnn-synth",
    songs: Annotated[int, typer.Option(min=2)] = 32,
    seconds: Annotated[float, typer.Option(help="Length of each generated song")] = 180.0,
    audio_format: Annotated[str, typer.Option("--format", help="mp3 | flac | ogg | wav")] = "mp3",
    engines: Annotated[str, typer.Option(help="Comma list: local, ray")] = "local,ray",
    workers: Annotated[str, typer.Option(help="Comma list of worker counts")] = "1,2",
    rounds: Annotated[int, typer.Option(min=1, help="Each configuration this many times, interleaved")] = 2,
    cores_per_node: Annotated[int, typer.Option(help="Node size for the 1 M-song estimate")] = 16,
) -> None:
    """songs/s of `audioconcept batch` per engine and worker count, Ray's overhead, 1 M-song estimates."""
    from audioconcept.benchmarks.batch_bench import BatchBenchConfig, markdown, run_batch_bench

    if audio_format not in ("mp3", "flac", "ogg", "wav"):
        raise typer.BadParameter("choose mp3, flac, ogg or wav", param_hint="--format")
    cfg = BatchBenchConfig(
        out, model, songs, seconds, audio_format, tuple(engines.split(",")),
        tuple(int(w) for w in workers.split(",")), rounds, cores_per_node=cores_per_node,
    )  # fmt: skip
    typer.echo("\n".join(markdown(run_batch_bench(cfg))))
    if out:
        typer.echo(f"results: {out}")


@bench_app.command("browser")
def bench_browser(
    song: Annotated[Path, typer.Option(help="A real song; looped to --seconds at each model's rate")] = Path(
        "../shared/gtzan/clips/jazz/jazz.00005.flac"
    ),
    out: Annotated[Path, typer.Option(help="Folder for bench.json and BENCH.md")] = Path("reports/browser"),
    models: Annotated[list[str] | None, typer.Option(help="Bundles the page runs (repeat)")] = None,
    threads: Annotated[str, typer.Option(help="Thread counts: 1 = no COOP/COEP, >1 = cross-origin isolated")] = "1,2",
    seconds: float = 30.0,
    repeats: Annotated[int, typer.Option(min=1)] = 3,
    screenshot: Annotated[Path | None, typer.Option(help="Also save a PNG of the page analysing --song")] = None,
) -> None:
    """The in-browser page (headless Chromium) against audioconcept-run on the same song, threads off and on."""
    from audioconcept.benchmarks.browser_bench import BrowserBenchConfig, run_browser_bench

    if not song.is_file():
        raise typer.BadParameter(f"{song} is not a file", param_hint="--song")
    cfg = BrowserBenchConfig(
        song, out, tuple(models or ("musicnn-gtzan", "cnn-synth")), thread_counts(threads), seconds, repeats, screenshot
    )
    res = run_browser_bench(cfg)
    typer.echo((out / "BENCH.md").read_text())
    typer.echo(f"results: {out / 'bench.json'} ({len(res['rows'])} rows)")


@bench_app.command("live")
def bench_live(
    song: Annotated[Path, typer.Argument(help="A real song to pace through a pipe at real time")],
    models: Annotated[str, typer.Option(help="Comma list of bundle names or folders")] = (
        "musicnn-gtzan,cnn-synth,svm-gtzan"
    ),
    threads: Annotated[str, typer.Option(help="Comma list")] = "1,2",
    min_windows: Annotated[int, typer.Option(min=2, help="Loop the song until each model gets this many windows")] = 5,
    max_hop: Annotated[float, typer.Option(help="Hop for models whose own hop is longer (s)")] = 5.0,
    out: Annotated[Path | None, typer.Option(help="Results JSON")] = None,
    table: Annotated[Path | None, typer.Option(help="Generated Markdown table")] = None,
) -> None:
    """Latency (median, p95), real-time factor and CPU share of `audioconcept-run --live` on a paced pipe."""
    from audioconcept.benchmarks.live_bench import LiveBenchConfig, markdown, run_live_bench
    from audioconcept.data.audio import audio_info

    audio_info(song)  # a missing or undecodable song: one line now, not one per run
    try:
        counts = tuple(int(t) for t in threads.split(","))
    except ValueError:
        raise typer.BadParameter(f"{threads!r}: a comma list of numbers", param_hint="--threads") from None
    if max_hop <= 0 or any(t < 1 for t in counts):
        raise typer.BadParameter("--max-hop must be positive and --threads at least 1")
    cfg = LiveBenchConfig(song, tuple(models.split(",")), counts, min_windows, max_hop, out, table)
    typer.echo("\n".join(markdown(run_live_bench(cfg))))
    if out:
        typer.echo(f"results: {out}")


@bench_app.command("report")
def bench_report(
    results: Annotated[list[Path], typer.Argument(help="Result JSON files from any hosts")],
    out: Path = Path("benchmarks/REPORT.md"),
) -> None:
    """Merge benchmark results from several machines into one Markdown report with plots."""
    from audioconcept.benchmarks.report import write_report

    typer.echo(f"report: {write_report(results, out)}")


# ---------------------------------------------------------------- docs
@docs_app.command("tables")
def docs_tables(
    check: Annotated[bool, typer.Option(help="Write nothing; exit 1 if a committed table is stale")] = False,
    root: Annotated[Path, typer.Option(help="Repository root")] = Path("."),
) -> None:
    """Write the docs' generated tables (formats, packaged models, speed, batch) from the files they read."""
    from audioconcept.benchmarks import docs_tables as dt

    if check:
        stale = dt.stale(root)
        for rel in stale:
            typer.echo(f"stale: {rel} (run `audioconcept docs tables`)", err=True)
        if stale:
            raise typer.Exit(1)
        typer.echo("docs tables are up to date")
        return
    for rel in dt.write(root):
        typer.echo(f"wrote {rel}")


# ---------------------------------------------------------------- examples at the end of every --help
# one command a line, short enough for an 80-column terminal (a test checks both)
EXAMPLES: dict[str, tuple[str, ...]] = {
    "": ("audioconcept run song.mp3", "audioconcept train probe --data folder:MY_SONGS"),
    "data": ("audioconcept data synth --out data/synth --clips-per-genre 20",),
    "data synth": ("audioconcept data synth --out data/synth --clips-per-genre 20 --seed 0",),
    "data concepts": ("audioconcept data concepts --out data/concepts --clips-per-concept 32",),
    "data render-concepts": ("audioconcept data render-concepts --out data/concept_renders --pieces 60",),
    "data summary": ("audioconcept data summary gtzan:/path/to/gtzan", "audioconcept data summary folder:MY_SONGS"),
    "train": (
        "audioconcept train probe --data folder:MY_SONGS --backbone MSD_MTT_musicnn",
        "audioconcept train cnn --data synth:data/synth --epochs 35 --patience 0",
    ),
    "evaluate": ("audioconcept evaluate models/checkpoints/cnn --data synth:data/synth",),
    "import-checkpoint": ("audioconcept import-checkpoint best_cnn_model.pkl --arch cnn models/orig",),
    "import-pretrained": ("audioconcept import-pretrained musicnn --out models/checkpoints/pretrained",),
    "export": (
        "audioconcept export models/checkpoints/cnn --out models/cnn",
        "audioconcept export models/checkpoints/svm --out models/svm --formats onnx",
    ),
    "run": (
        "audioconcept run song.mp3",
        "audioconcept run song.mp3 --model svm-gtzan --format json",
    ),
    "app": ("audioconcept app --port 8765 --folder ~/Music",),
    "explain": ("audioconcept explain song.wav --model models/cnn --method ig",),
    "batch": (
        "audioconcept batch ~/Music --out library.ac",
        "audioconcept batch /shared/music --out lib.ac --engine ray --address auto",
    ),
    "concepts": ("audioconcept concepts validate models/cnn --data synth:data/synth",),
    "concepts learn": ("audioconcept concepts learn --model CHECKPOINT --concepts data/concepts",),
    "concepts derive": ("audioconcept concepts derive --data folder:MY_SONGS --out data/derived",),
    "concepts study": ("audioconcept concepts study --model models/checkpoints/musicnn-gtzan",),
    "concepts validate-probes": ("audioconcept concepts validate-probes --renders data/concept_renders",),
    "concepts validate-cavs": ("audioconcept concepts validate-cavs --renders data/concept_renders",),
    "concepts timeline": ("audioconcept concepts timeline --renders data/concept_renders --out t.json",),
    "concepts validate": ("audioconcept concepts validate models/cnn --data synth:data/synth",),
    "bench": (
        "audioconcept bench --models cnn-synth --models svm-gtzan --quick",
        "audioconcept bench --models models --out benchmarks/results/HOST-DATE.json",
    ),
    "bench batch": ("audioconcept bench batch --out benchmarks/results/batch-HOST-DATE.json",),
    "bench report": ("audioconcept bench report benchmarks/results/*.json",),
    "bench live": ("audioconcept bench live song.flac --threads 1,2 --out live.json",),
    "bench browser": ("audioconcept bench browser --models musicnn-gtzan --models cnn-synth",),
    "web": ("audioconcept web --out site", "audioconcept web musicnn-gtzan cnn-synth --out site --serve"),
    "docs": ("audioconcept docs tables --check",),
    "docs tables": ("audioconcept docs tables", "audioconcept docs tables --check"),
}


def examples_epilog(lines: tuple[str, ...]) -> str | None:
    """The epilog every --help ends with: 'Examples:' and one command a line (None where a command has none;
    tests/test_cli_help.py fails for such a command, while the CLI itself keeps working)."""
    if not lines:
        return None
    return "Examples:\n\n" + "\n\n".join(f"  $ {line}" for line in lines)


def _command_name(info) -> str:
    return info.name or info.callback.__name__.replace("_", "-")


def _add_examples() -> None:
    """Give every command and group its EXAMPLES epilog (one place, so a new command cannot forget it)."""
    app.info.epilog = examples_epilog(EXAMPLES.get("", ()))
    for info in app.registered_commands:
        info.epilog = examples_epilog(EXAMPLES.get(_command_name(info), ()))
    for group in app.registered_groups:
        sub = group.typer_instance
        group.epilog = sub.info.epilog = examples_epilog(EXAMPLES.get(group.name, ()))
        for info in sub.registered_commands:
            info.epilog = examples_epilog(EXAMPLES.get(f"{group.name} {_command_name(info)}", ()))


def thread_counts(spec: str) -> tuple[int, ...]:
    """'1,2,4,8,all' -> the distinct counts this host can run, 'all' being every usable core."""
    from audioconcept.runtime.threads import usable_cores

    cores = usable_cores()
    try:
        asked = [cores if t.strip() == "all" else int(t) for t in spec.split(",") if t.strip()]
    except ValueError:
        raise typer.BadParameter(f"{spec!r}: a comma list of numbers or 'all'", param_hint="--threads") from None
    return tuple(sorted({t for t in asked if 1 <= t <= cores})) or (1,)


def _print_json(obj) -> None:
    import json

    typer.echo(json.dumps(obj, indent=2))


def _usage_errors() -> tuple[type[Exception], ...]:
    """Click's usage errors: typer >= 0.20 vendors its own click, and a separately installed click (another
    package may pull it in) has different classes; both must end as a one-line message and exit code 2."""
    vendored = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
    try:
        import click

        return (vendored, click.ClickException)
    except ImportError:
        return (vendored,)


_add_examples()


def main(argv: list[str] | None = None) -> None:
    """Entry point with one-line errors and exit code 2 (tracebacks only with --debug)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        rc = app(args=args, standalone_mode=False, prog_name="audioconcept")
        if isinstance(rc, int) and rc:
            raise SystemExit(rc)
    except typer.Exit as e:
        raise SystemExit(e.exit_code) from None
    except _usage_errors() as e:
        ctx = getattr(e, "ctx", None)
        hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        typer.echo(f"error: {e.format_message()}{hint}", err=True)
        raise SystemExit(e.exit_code) from None
    except typer.Abort:
        typer.echo("aborted", err=True)
        raise SystemExit(130) from None
    except AudioConceptError as e:
        if debug:
            raise
        typer.echo(printable(f"error: {e}"), err=True)
        raise SystemExit(e.exit_code) from None
    except OSError as e:  # a path the user gave cannot be read or written (--output on a folder, a full disk)
        if debug:
            raise
        from audioconcept.cli_run import os_error_line

        typer.echo(printable(os_error_line(e)), err=True)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
