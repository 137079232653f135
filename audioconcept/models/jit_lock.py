"""Serialise numba's first use across processes, so parallel runs cannot corrupt its on-disk cache.

librosa compiles its numba kernels with `cache=True`; its `guvectorize` functions are cached as two
entries (the kernel and the gufunc wrapper) written separately. Processes that compile on a fresh
cache at the same time can pair one process's wrapper with another's kernel, and the next call
through it segfaults (numba issue 10128; seen here as signal 11 in `librosa.core.pitch`'s
`_parabolic_interpolation` in about 1 of 40 parallel `audioconcept-run --model svm-gtzan` runs).

`first_jit_use()` holds an exclusive file lock around the first feature extraction of each process,
which imports librosa's submodules, compiles (or loads) every kernel the extraction uses and writes
the cache; later processes then read a complete cache. Later calls in the process take no lock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

WAIT_S = 600.0  # a compile takes seconds to a minute; past this, go on without the lock
_done = False


def lock_path() -> Path:
    """Beside numba's cache when NUMBA_CACHE_DIR names it, else one per user (in the user's cache)."""
    base = os.environ.get("NUMBA_CACHE_DIR")
    if base:
        return Path(base) / ".audioconcept-jit.lock"
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "audioconcept" / "jit.lock"


@contextlib.contextmanager
def first_jit_use() -> Iterator[None]:
    global _done
    if _done:
        yield
        return
    fd = _acquire(lock_path())
    try:
        yield
        _done = True
    finally:
        if fd is not None:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _acquire(p: Path) -> int | None:
    import fcntl

    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as e:
        log.debug("no JIT lock at %s (%s); going on without it", p, e)
        return None
    t0 = time.monotonic()
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() - t0 > WAIT_S:
                log.warning("waited %.0f s for %s; compiling without it", WAIT_S, p)
                os.close(fd)
                return None
            time.sleep(0.05)
