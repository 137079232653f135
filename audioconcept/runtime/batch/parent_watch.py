"""Worker processes die with the process that started them, even when it is killed with SIGKILL.

`kill -9` of `audioconcept batch --engine local` used to leave its workers (about 110 MB each) and
multiprocessing's resource tracker alive under PID 1 for good: a worker blocks on its task queue and never
notices. A worker calls `die_with_parent(pid)` first thing: on Linux the kernel sends it SIGKILL when its parent
dies (prctl PR_SET_PDEATHSIG, through ctypes); everywhere, a daemon thread checks once a second that the parent
is still its parent. With the workers gone, the resource tracker reads the end of its pipe and exits too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading
import time

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1
POLL_S = 1.0


def _pdeathsig(sig: int) -> bool:
    """Ask the kernel to send `sig` to this process when its parent thread exits (Linux only)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    while True:
        time.sleep(POLL_S)
        if os.getppid() != parent:
            os._exit(1)


def die_with_parent(parent: int) -> None:
    """End this process when `parent` (the PID that started it) is gone."""
    ok = _pdeathsig(signal.SIGKILL)
    if os.getppid() != parent:  # it died before the request above: nobody would send the signal
        os._exit(1)
    if not ok:
        log.debug("no parent-death signal here; watching the parent PID instead")
    threading.Thread(target=_watch, args=(parent,), daemon=True, name="parent-watch").start()
