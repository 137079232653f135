"""Command line: a thin layer over the library. Heavy imports happen inside the commands."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from audioconcept.errors import AudioConceptError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="AudioConcept: genre models, concepts, edge export.")
data_app = typer.Typer(no_args_is_help=True, help="Generate and inspect datasets.")
concepts_app = typer.Typer(no_args_is_help=True, help="Concept activation vectors, TCAV and concept reports.")
bench_app = typer.Typer(no_args_is_help=False, invoke_without_command=True, help="Benchmarks across backends.")
app.add_typer(data_app, name="data")
app.add_typer(concepts_app, name="concepts")
app.add_typer(bench_app, name="bench")

log = logging.getLogger("audioconcept")
_STATE = {"debug": False}


def _setup_logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s",
                        handlers=[RichHandler(show_path=False, show_time=False, console=_stderr())], force=True)


def _stderr():
    from rich.console import Console

    return Console(stderr=True)


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
          verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    _STATE["debug"] = debug
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

    generate_concept_sets(ConceptSetConfig(out, clips_per_concept, random_sets, clips_per_random, seconds, seed,
                                           renderer, workers))
    typer.echo(f"wrote concept sets to {out}")


@data_app.command("summary")
def data_summary(spec: Annotated[str, typer.Argument(help="gtzan:PATH, folder:PATH or synth:PATH")],
                 seed: int = 0) -> None:
    """Count tracks per split and label; list unreadable files."""
    from audioconcept.data.spec import load_tracks, parse_data_spec

    _print_json(load_tracks(parse_data_spec(spec), seed).summary())


# ---------------------------------------------------------------- train / evaluate / import
@app.command()
def train(
    model: Annotated[str, typer.Argument(help="svm, cnn or vggish")],
    data: Annotated[str, typer.Option(help="gtzan:PATH, folder:PATH, synth:PATH or features-csv:PATH")],
    out: Annotated[Optional[Path], typer.Option(help="Default models/checkpoints/MODEL-TIMESTAMP")] = None,
    epochs: int = 30,
    batch_size: int = 16,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    device: str = "auto",
    seed: int = 0,
    width: Annotated[float, typer.Option(help="VGGish width multiplier (1.0 = faithful, 134M params)")] = 1.0,
    time_budget: Annotated[Optional[float], typer.Option(help="Stop after this many seconds")] = None,
    patience: int = 8,
    augment: Annotated[bool, typer.Option("--augment/--no-augment")] = True,
    grid: Annotated[bool, typer.Option("--grid/--no-grid", help="SVM grid search")] = True,
) -> None:
    """Train a genre model and write checkpoint, run JSON and plots."""
    import time

    from audioconcept.models.registry import get_spec

    get_spec(model)
    out = out or Path("models/checkpoints") / f"{model}-{time.strftime('%Y%m%d-%H%M%S')}"
    if model == "svm":
        from audioconcept.train.svm_train import train_svm

        _, run = train_svm(data, out, seed=seed if seed else 42, grid=grid)
        acc = run["test"]["accuracy"]
    else:
        from audioconcept.train.config import AugmentConfig, TrainConfig
        from audioconcept.train.loop import train_torch

        cfg = TrainConfig(model=model, data=data, out=out, epochs=epochs, batch_size=batch_size, lr=lr,
                          weight_decay=weight_decay, device=device, seed=seed, width=width,
                          time_budget_s=time_budget, patience=patience, augment=AugmentConfig(enabled=augment))
        _, run = train_torch(cfg)
        acc = (run["test"] or {}).get("accuracy", float("nan"))
    typer.echo(f"{model}: test accuracy {acc:.3f}  checkpoint {out}")


@app.command()
def evaluate(
    checkpoint: Path,
    data: Annotated[str, typer.Option(help="gtzan:PATH, folder:PATH, synth:PATH or features-csv:PATH")],
    split: str = "test",
    out: Optional[Path] = None,
    seed: int = 0,
) -> None:
    """Song-level accuracy, macro-F1, per-class metrics and a confusion matrix."""
    from audioconcept.train.evaluate import evaluate_checkpoint

    m = evaluate_checkpoint(checkpoint, data, split, out, seed)
    typer.echo(f"{m['arch']} on {data} [{split}]: accuracy {m['accuracy']:.3f}  macro-F1 {m['macro_f1']:.3f}  (n={m['n']})")


@app.command("import-checkpoint")
def import_checkpoint(
    file: Path,
    arch: Annotated[str, typer.Option(help="cnn, vggish or svm")],
    out: Path,
    labels: Annotated[Optional[str], typer.Option(help="Comma-separated labels (default: GTZAN's ten)")] = None,
) -> None:
    """Convert an original AudioConcept pickle (saved on MPS) or a state_dict into a checkpoint."""
    from audioconcept.models.legacy import import_checkpoint as do_import

    lab = labels.split(",") if labels else None
    path = do_import(file, arch, out, lab)
    typer.echo(f"imported {file} as {arch} -> {path}")


def _print_json(obj) -> None:
    import json

    typer.echo(json.dumps(obj, indent=2))


def _usage_errors() -> tuple[type[Exception], ...]:
    try:  # typer < 0.20 uses click; newer releases vendor it
        import click

        return (click.ClickException,)
    except ImportError:
        from typer.exceptions import TyperException

        return (TyperException,)


def main(argv: list[str] | None = None) -> None:
    """Entry point with one-line errors and exit code 2 (tracebacks only with --debug)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        app(args=args, standalone_mode=False, prog_name="audioconcept")
    except typer.Exit as e:
        raise SystemExit(e.exit_code) from None
    except _usage_errors() as e:
        e.show()
        raise SystemExit(e.exit_code) from None
    except typer.Abort:
        typer.echo("aborted", err=True)
        raise SystemExit(130) from None
    except AudioConceptError as e:
        if debug:
            raise
        typer.echo(f"error: {e}", err=True)
        raise SystemExit(e.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise SystemExit(130) from None


def run_main() -> None:
    """`audioconcept-run` = `audioconcept run`."""
    main(["run", *sys.argv[1:]])


if __name__ == "__main__":
    main()
