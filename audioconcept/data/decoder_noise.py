"""Keep libmpg123's chatter about recoverable MP3 frames off the terminal, and nothing else.

libsndfile decodes MP3 through libmpg123, which prints to the C library's stderr (file descriptor 2, out of
Python's reach) when a frame's bit reservoir is short: `[src/libmpg123/layer3.c:...] error: part2_3_length (1024)
too large for available bit count (936)`. The frame is concealed and the song decodes; the lines only alarm the
reader. Around a decode, `quiet_decoder()` points descriptor 2 at a temporary file; afterwards every line that is
not one of those known, recoverable messages is written back to the real stderr (real errors still show), and
the known ones are counted in the debug log.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator

log = logging.getLogger(__name__)

# libmpg123 messages about a frame it conceals (the decode goes on and succeeds)
RECOVERABLE = re.compile(
    rb"^\[src/libmpg123/[^\]]*\] error: (part2_3_length \(\d+\) too large for available bit count \(\d+\)"
    rb"|big_values too large!?.*)$"
    rb"|^Warning: Xing stream size off by more than 1%.*$"
)

_lock = threading.Lock()
_depth = 0
_saved: int | None = None
_capture = None


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _start() -> None:
    global _saved, _capture
    _flush()
    _capture = tempfile.TemporaryFile()  # noqa: SIM115 - open across the redirection, closed in _stop
    _saved = os.dup(2)
    os.dup2(_capture.fileno(), 2)


def _stop() -> None:
    global _saved, _capture
    _flush()
    os.dup2(_saved, 2)
    os.close(_saved)
    _saved = None
    _capture.seek(0)
    data = _capture.read()
    _capture.close()
    _capture = None
    kept, dropped = [], 0
    for line in data.splitlines(keepends=True):
        if RECOVERABLE.match(line.rstrip(b"\r\n")):
            dropped += 1
        else:
            kept.append(line)
    if kept:
        os.write(2, b"".join(kept))
    if dropped:
        log.debug("libmpg123 concealed %d damaged MP3 frame(s) while decoding", dropped)


@contextlib.contextmanager
def quiet_decoder(enabled: bool = True) -> Iterator[None]:
    """Filter descriptor 2 while the body decodes (nested and concurrent uses share one redirection)."""
    global _depth
    if not enabled:
        yield
        return
    with _lock:
        try:
            if _depth == 0:
                _start()
            _depth += 1
            active = True
        except OSError:  # no descriptor 2 to redirect (a daemon): decode as is
            active = False
    if not active:
        yield
        return
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _stop()
