"""--engine local: a process pool over every core of this machine, one onnxruntime session per process.

`workers` processes x `threads` intra-op threads = the cores (by default one single-threaded
session per core, which keeps every core busy with no thread hand-offs). A process that dies on a
file (a crash inside a decoder, the kernel's out-of-memory killer) breaks the pool; the songs it
had in flight are then run one at a time in a fresh process, so the culprit gets an error row and
the others their results.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from audioconcept.runtime.batch.analyse import AnalysisSettings, SongAnalyser
from audioconcept.runtime.batch.inputs import SongRef
from audioconcept.runtime.batch.parent_watch import die_with_parent
from audioconcept.runtime.batch.schema import SongRows, error_rows
from audioconcept.runtime.threads import usable_cores

log = logging.getLogger(__name__)
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
CRASHED = "the worker process died while analysing this file (a crash in the decoder, or out of memory)"

_analyser: SongAnalyser | None = None


@dataclass(frozen=True)
class LocalPlan:
    workers: int
    threads: int


def plan_local(workers: int = 0, threads: int = 0, cores: int | None = None) -> LocalPlan:
    """Processes x threads = cores unless told otherwise."""
    cores = cores or usable_cores()
    n = workers if workers > 0 else cores
    t = threads if threads > 0 else max(1, cores // n)
    return LocalPlan(n, t)


@contextlib.contextmanager
def thread_env(threads: int) -> Iterator[None]:
    """Spawned workers inherit these: numpy's BLAS (the mel front end) then uses `threads` too."""
    old = {k: os.environ.get(k) for k in THREAD_ENV}
    os.environ.update({k: str(threads) for k in THREAD_ENV})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _init(settings: AnalysisSettings, parent: int | None = None) -> None:
    global _analyser
    if parent is not None:  # a kill -9 of the batch takes its workers with it (no orphans under PID 1)
        die_with_parent(parent)
    logging.getLogger("audioconcept").setLevel(logging.WARNING)
    _analyser = SongAnalyser(settings)


def _work(ref: SongRef) -> SongRows:
    assert _analyser is not None, "worker not initialised"
    return _analyser.analyse_file(ref)


def _pool(settings: AnalysisSettings, workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        workers, mp_context=mp.get_context("spawn"), initializer=_init, initargs=(settings, os.getpid())
    )


def _drain(
    pending: deque[SongRef], settings: AnalysisSettings, workers: int, on_rows: Callable[[SongRows], None], work
) -> list[SongRef]:
    """Run `pending` on a pool until it is empty (-> []) or the pool breaks (-> the songs in flight)."""
    ex = _pool(settings, workers)
    inflight: dict[Future, SongRef] = {}
    try:
        while pending or inflight:
            while pending and len(inflight) < 2 * workers:
                ref = pending.popleft()
                inflight[ex.submit(work, ref)] = ref
            done, _ = wait(inflight, return_when=FIRST_COMPLETED)
            for f in done:
                try:
                    rows = f.result()
                except BrokenProcessPool:
                    return list(inflight.values())
                del inflight[f]
                on_rows(rows)
        return []
    finally:
        ex.shutdown(wait=not inflight, cancel_futures=True)


def _isolate(ref: SongRef, settings: AnalysisSettings, work) -> SongRows:
    """One suspect song alone in a fresh process: its rows, or an error row if the process dies again."""
    ex = _pool(settings, 1)
    try:
        return ex.submit(work, ref).result()
    except BrokenProcessPool:
        log.warning("%s: %s", ref.path, CRASHED)
        return error_rows(ref, CRASHED, settings.model, settings.hop_s)
    finally:
        ex.shutdown(wait=False, cancel_futures=True)


def run_local(
    todo: list[SongRef],
    settings: AnalysisSettings,
    plan: LocalPlan,
    on_rows: Callable[[SongRows], None],
    work: Callable[[SongRef], SongRows] = _work,
) -> None:
    """Analyse `todo` on `plan.workers` processes; `work` runs in them (a module-level function: it
    is pickled by name) after `_init(settings)` loaded the model."""
    pending = deque(todo)
    with thread_env(plan.threads):
        while pending:
            suspects = _drain(pending, settings, plan.workers, on_rows, work)
            if suspects:
                log.warning("a worker process died; re-running its %d song(s) one by one", len(suspects))
            for ref in suspects:
                on_rows(_isolate(ref, settings, work))
