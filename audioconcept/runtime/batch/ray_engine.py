"""--engine ray: Ray Data decodes songs in tasks and feeds an actor pool, one onnxruntime session per actor.

    paths --from_items--> decode (tasks, `decode_cpus` each) --map_batches--> SongAnalyser actors --> driver
                                                                                  (CUDA when the cluster has GPUs)

The driver only writes Parquet parts; every song's rows are built in the actors. On a cluster the
songs must be readable at the same path on every node (a shared or network file system), and every
node needs `pip install 'audioconcept[ray]'` (plus onnxruntime-gpu on GPU nodes).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from audioconcept.errors import AudioConceptError, BackendUnavailable, BatchError, MissingExtra
from audioconcept.runtime.batch.analyse import AnalysisSettings, SongAnalyser, decode
from audioconcept.runtime.batch.inputs import SongRef
from audioconcept.runtime.batch.schema import error_rows, table_from_bytes, table_to_bytes, to_tables

log = logging.getLogger(__name__)
DECODE_CPUS = 0.25  # logical CPUs per decode task
ACTOR_SHARE = 0.8  # of the cluster's CPUs for actors by default; the rest decodes
LOST = "no result came back from Ray (a worker died on this song or on another song of its block)"


def require_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise MissingExtra("ray", "ray", "--engine ray") from None
    return ray


@dataclass(frozen=True)
class RayPlan:
    workers: int  # actors
    actor_cpus: float  # logical CPUs each actor holds
    actor_gpus: float
    threads: int  # onnxruntime intra-op threads per actor
    device: str  # what the actors load the model on
    cluster_cpus: float
    cluster_gpus: float


def plan_ray(resources: dict, workers: int = 0, threads: int = 0, device: str = "auto") -> RayPlan:
    """Size the actor pool from the cluster's resources (`ray.cluster_resources()`)."""
    cpus = float(resources.get("CPU", 1.0))
    gpus = float(resources.get("GPU", 0.0))
    if device == "cuda" and gpus < 1:
        raise BackendUnavailable("--device cuda: the Ray cluster has no GPU")
    if gpus >= 1 and device in ("auto", "cuda"):
        n = workers if workers > 0 else int(gpus)
        actor_cpus = min(1.0, max(0.25, (cpus - DECODE_CPUS) / n))
        return RayPlan(n, actor_cpus, min(1.0, gpus / n), threads or 1, "cuda", cpus, gpus)
    if device not in ("auto", "cpu"):
        raise BackendUnavailable(f"--engine ray runs on cpu or cuda, not {device}")
    t = threads if threads > 0 else 1
    n = workers if workers > 0 else max(1, math.floor(cpus * ACTOR_SHARE / t))
    # leave room for a decode task, or the actors would hold every CPU and decoding would never start
    actor_cpus = round(min(float(t), max(0.1, (cpus - DECODE_CPUS) / n)), 3)
    return RayPlan(n, actor_cpus, 0.0, t, "cpu", cpus, gpus)


def _decode_row(row: dict, sample_rate: int) -> dict:
    audio, error, ms = decode(row["path"], sample_rate)
    return row | {"audio": b"" if audio is None else audio.tobytes(), "error": error, "decode_ms": ms}


class RayAnalyser:
    """The actor: one model session, a batch of decoded songs in, Arrow IPC bytes of their rows out."""

    def __init__(self, settings: AnalysisSettings) -> None:
        logging.getLogger("audioconcept").setLevel(logging.WARNING)
        self.analyser = SongAnalyser(settings)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        a = self.analyser
        rows = []
        for i in range(len(batch["song_id"])):
            ref = SongRef(
                str(batch["path"][i]), int(batch["size_bytes"][i]), int(batch["mtime_ns"][i]), str(batch["song_id"][i])
            )
            ms = float(batch["decode_ms"][i])
            if batch["error"][i]:
                rows.append(error_rows(ref, str(batch["error"][i]), a.info, a.hop_s, ms))
            else:
                rows.append(a.analyse_audio(ref, np.frombuffer(batch["audio"][i], dtype=np.float32), ms))
        songs, windows = to_tables(rows)
        return {"songs": [table_to_bytes(songs)], "windows": [table_to_bytes(windows)], "n": [len(rows)]}


def _unwrap(e: BaseException) -> BaseException:
    """A RayTaskError carries the worker's exception as `cause`; our own errors keep their one line."""
    seen = 0
    while seen < 5 and not isinstance(e, AudioConceptError) and getattr(e, "cause", None) is not None:
        e, seen = e.cause, seen + 1
    return e


def connect(address: str | None, num_cpus: int | None = None) -> bool:
    """Join the cluster at `address` ('auto' = the one `ray start` set up here), or start a local Ray.
    -> whether this call started Ray (and so should shut it down)."""
    ray = require_ray()
    if ray.is_initialized():
        return False
    kwargs = {"include_dashboard": False, "logging_level": logging.WARNING, "log_to_driver": False}
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=num_cpus, **kwargs)
    except ConnectionError as e:
        raise BatchError(f"--address {address}: cannot reach a Ray cluster ({str(e).splitlines()[0]})") from None
    return True


def run_ray(
    todo: list[SongRef],
    settings: AnalysisSettings,
    plan: RayPlan,
    on_tables: Callable,
    songs_per_task: int = 4,
) -> None:
    """Run `todo` through Ray Data; `on_tables(songs, windows, n)` receives each actor batch's tables."""
    ray = require_ray()
    from ray.data import ActorPoolStrategy, DataContext

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.enable_operator_progress_bars = False
    ctx.enable_auto_log_stats = False
    ctx.max_errored_blocks = -1  # a crashed decode task costs its songs (error rows below), not the run
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    settings = replace(settings, device=plan.device, threads=plan.threads)
    k = max(1, min(songs_per_task, len(todo) // (2 * plan.workers)))  # enough blocks to keep every actor busy
    ds = ray.data.from_items([r.to_dict() for r in todo], override_num_blocks=max(1, math.ceil(len(todo) / k)))
    ds = ds.map(_decode_row, fn_kwargs={"sample_rate": settings.sample_rate}, num_cpus=DECODE_CPUS)
    ds = ds.map_batches(
        RayAnalyser,
        fn_constructor_kwargs={"settings": settings},
        batch_size=k,
        batch_format="numpy",
        compute=ActorPoolStrategy(size=plan.workers),
        num_cpus=plan.actor_cpus,
        num_gpus=plan.actor_gpus or None,
    )
    seen: set[str] = set()
    batches = iter(ds.iter_batches(batch_size=None, batch_format="numpy"))
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            break
        except Exception as e:  # noqa: BLE001 - Ray wraps worker errors; say the cause in one line
            cause = _unwrap(e)
            if isinstance(cause, AudioConceptError):
                raise cause from None
            raise BatchError(f"ray: {type(cause).__name__}: {(str(cause).strip().splitlines() or [''])[0]}") from None
        for s, w in zip(batch["songs"], batch["windows"], strict=True):
            songs = table_from_bytes(bytes(s))
            seen.update(songs.column("song_id").to_pylist())
            on_tables(songs, table_from_bytes(bytes(w)), songs.num_rows)
    lost = [r for r in todo if r.song_id not in seen]
    if lost:
        log.warning("%d song(s) came back from Ray without a result; they get error rows", len(lost))
        songs, windows = to_tables([error_rows(r, LOST, settings.model, settings.hop_s) for r in lost])
        on_tables(songs, windows, songs.num_rows)
