"""`run_batch`: walk the library, skip what OUT already holds, analyse the rest on an engine, write Parquet."""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from audioconcept.errors import BatchError
from audioconcept.runtime.batch.analyse import AnalysisSettings
from audioconcept.runtime.batch.arrow import require_pyarrow
from audioconcept.runtime.batch.inputs import SongRef, walk_library
from audioconcept.runtime.batch.schema import ModelInfo, SongRows
from audioconcept.runtime.batch.store import ResultStore

log = logging.getLogger(__name__)
ENGINES = ("local", "ray")


@dataclass(frozen=True)
class BatchConfig:
    inputs: tuple[str, ...]
    out: Path
    model: str | None = None  # bundle folder or name (None: the runtime's default)
    engine: str = "local"
    address: str | None = None  # ray: None = a local Ray; 'auto' = the cluster `ray start` joined
    workers: int = 0  # local: processes; ray: actors (0 = sized from the cores / GPUs)
    threads: int = 0  # onnxruntime intra-op threads per worker (0 = cores / workers locally, 1 on Ray)
    backend: str = "onnx"
    device: str = "auto"
    hop_s: float | None = None
    top_k: int = 3
    batch_size: int | None = None  # windows per inference call (None: the runtime's choice for the device)
    part_songs: int = 128  # songs per Parquet part (what a kill can lose)
    songs_per_task: int = 4  # ray: songs per decode task and per actor call
    retry_errors: bool = False
    progress: bool = True
    song_timeout_s: float = 600.0  # one song may take this long, then it is an error row (0: no limit)


@dataclass
class BatchSummary:
    out: Path
    engine: str
    workers: int
    threads: int
    device: str
    model: ModelInfo
    total: int = 0  # songs in the library
    skipped: int = 0  # already in OUT
    analysed: int = 0  # written by this run (ok + error rows)
    failed_now: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    failed_before: int = 0  # error rows of earlier runs, for songs of this library
    problems: list[tuple[str, str]] = field(default_factory=list)  # inputs that gave no songs
    elapsed_s: float = 0.0  # analysing: from handing the first song to the engine to the last row back
    setup_s: float = 0.0  # before that: walking, opening OUT, connecting to Ray
    events: list[tuple[float, int]] = field(default_factory=list)  # (seconds into analysing, songs back)

    @property
    def failed(self) -> int:
        return len(self.failed_now) + self.failed_before + len(self.problems)

    @property
    def songs_per_s(self) -> float:
        return self.analysed / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def steady_songs_per_s(self) -> float:
        """Songs/s after the first results came back (leaves out starting workers and loading models)."""
        if len(self.events) < 2:
            return 0.0
        (t1, n1), (t2, _) = self.events[0], self.events[-1]
        n = sum(n for _, n in self.events) - n1
        return n / (t2 - t1) if t2 > t1 else 0.0

    def to_dict(self) -> dict:
        return {
            "out": str(self.out),
            "engine": self.engine,
            "workers": self.workers,
            "threads": self.threads,
            "device": self.device,
            "model": self.model.name,
            "model_sha256": self.model.sha256,
            "total": self.total,
            "skipped": self.skipped,
            "analysed": self.analysed,
            "failed_now": len(self.failed_now),
            "failed_before": self.failed_before,
            "problems": len(self.problems),
            "elapsed_s": round(self.elapsed_s, 3),
            "setup_s": round(self.setup_s, 3),
            "songs_per_s": round(self.songs_per_s, 3),
            "steady_songs_per_s": round(self.steady_songs_per_s, 3),
        }


def model_info(bundle: Path) -> tuple[ModelInfo, int]:
    """(name, sha256 of manifest.json, arch), and the bundle's sample rate, without loading a session."""
    from audioconcept.runtime.bundle import MANIFEST, read_manifest
    from audioconcept.utils import sha256_file

    m = read_manifest(bundle)
    return ModelInfo(m["name"], sha256_file(bundle / MANIFEST), m["arch"]), int(m["sample_rate"])


def _progress(enabled: bool):
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.text import Text

    class SongsPerSecond(ProgressColumn):
        """Songs/s since the engine started (results come back in bursts, so a short window misleads)."""

        def render(self, task) -> Text:
            rate = task.completed / task.elapsed if task.elapsed and task.completed else 0.0
            return Text(f"{rate:.2f} songs/s" if rate else "- songs/s")

    class Eta(ProgressColumn):
        def render(self, task) -> Text:
            if not task.elapsed or not task.completed or task.total is None:
                return Text("ETA -")
            left = (task.total - task.completed) * task.elapsed / task.completed
            return Text(f"ETA {int(left // 3600)}:{int(left % 3600 // 60):02d}:{int(left % 60):02d}")

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        SongsPerSecond(),
        Eta(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[failed]} failed"),
        console=Console(stderr=True),
        disable=not enabled,
    )


def run_batch(cfg: BatchConfig) -> BatchSummary:
    from audioconcept.runtime.model import load
    from audioconcept.runtime.registry import resolve_bundle

    if cfg.engine not in ENGINES:
        raise BatchError(f"--engine {cfg.engine}: choose {' or '.join(ENGINES)}")
    require_pyarrow()  # before anything slow: a missing extra is a one-line error at once
    if cfg.engine == "ray":
        from audioconcept.runtime.batch.ray_engine import require_ray

        require_ray()
    t0 = time.perf_counter()
    bundle = resolve_bundle(cfg.model)
    info, sr = model_info(bundle)
    # load once here: a wrong backend, device or bundle fails now, in one line, not in every worker
    probe = load(bundle, cfg.backend, "cpu" if cfg.engine == "ray" else cfg.device, threads=1)
    info = ModelInfo(info.name, info.sha256, info.arch, probe.backend.name, probe.backend.device)
    del probe
    library = walk_library(list(cfg.inputs))
    settings = AnalysisSettings(
        str(bundle),
        info,
        sr,
        cfg.backend,
        cfg.device,
        cfg.threads,
        cfg.batch_size,
        cfg.hop_s,
        cfg.top_k,
        song_timeout_s=cfg.song_timeout_s,
    )
    with ResultStore(cfg.out, info, cfg.part_songs) as store, contextlib.ExitStack() as stack:
        done = store.done()
        ids = {r.song_id for r in library.songs}
        if cfg.retry_errors:
            retry = [sid for sid, st in done.items() if st != "ok" and sid in ids]
            if retry:
                log.info("retrying %d song(s) that failed before", store.drop_errors(retry))
                done = store.done()
        todo: list[SongRef] = [r for r in library.songs if r.song_id not in done]
        summary = BatchSummary(cfg.out, cfg.engine, 0, 0, info.device, info, len(library.songs))
        summary.skipped = len(library.songs) - len(todo)
        summary.failed_before = sum(1 for sid, st in done.items() if st != "ok" and sid in ids)
        summary.problems = library.problems
        if summary.skipped:
            log.info("%d of %d song(s) are already in %s: skipping them", summary.skipped, summary.total, cfg.out)
        engine = _engine(cfg, settings, todo, summary, stack) if todo else None
        with _progress(cfg.progress and bool(todo)) as bar:
            task = bar.add_task(f"{cfg.engine}", total=len(todo), failed=0, start=False)
            started = [0.0]

            def count(n: int, failed: list[tuple[str, str]]) -> None:
                summary.events.append((time.perf_counter() - started[0], n))
                summary.analysed += n
                summary.failed_now.extend(failed)
                bar.update(task, advance=n, failed=len(summary.failed_now))

            def on_rows(rows: SongRows) -> None:
                store.add(rows)
                count(1, [] if rows.ok else [(rows.song["path"], rows.song["error"])])

            def on_tables(songs, windows, n: int) -> None:
                store.add_tables(songs, windows)
                bad = [
                    (p, e)
                    for p, e, st in zip(
                        songs.column("path").to_pylist(),
                        songs.column("error").to_pylist(),
                        songs.column("status").to_pylist(),
                        strict=True,
                    )
                    if st != "ok"
                ]
                count(n, bad)

            if engine is not None:
                started[0] = time.perf_counter()
                summary.setup_s = started[0] - t0
                bar.start_task(task)
                engine(on_rows, on_tables)
                summary.elapsed_s = time.perf_counter() - started[0]
    return summary


def _engine(cfg: BatchConfig, settings: AnalysisSettings, todo: list[SongRef], summary: BatchSummary, stack):
    """Set the engine up (plan the workers; connect to Ray, shut down by `stack` if this started it)
    -> `run(on_rows, on_tables)`. Fills the summary's workers, threads and device."""
    if cfg.engine == "local":
        from audioconcept.runtime.batch.local import LocalPlan, plan_local, run_local

        plan = plan_local(cfg.workers, cfg.threads)
        plan = LocalPlan(min(plan.workers, len(todo)), plan.threads)
        summary.workers, summary.threads = plan.workers, plan.threads
        log.info("local engine: %d process(es) x %d thread(s)", plan.workers, plan.threads)
        local_settings = replace(settings, threads=plan.threads)
        return lambda on_rows, on_tables: run_local(todo, local_settings, plan, on_rows)
    from audioconcept.runtime.batch.ray_engine import connect, plan_ray, require_ray, run_ray

    ray = require_ray()
    if connect(cfg.address):
        stack.callback(ray.shutdown)
    plan = plan_ray(ray.cluster_resources(), cfg.workers, cfg.threads, cfg.device)
    summary.workers, summary.threads, summary.device = plan.workers, plan.threads, plan.device
    log.info(
        "ray engine: %d actor(s) on %s (%.3g CPU, %.3g GPU, %d thread(s) each); cluster %.0f CPU, %.0f GPU",
        plan.workers,
        plan.device,
        plan.actor_cpus,
        plan.actor_gpus,
        plan.threads,
        plan.cluster_cpus,
        plan.cluster_gpus,
    )
    return lambda on_rows, on_tables: run_ray(todo, settings, plan, on_tables, cfg.songs_per_task)
