"""Small helpers shared across subpackages (torch-free)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def cache_root() -> Path:
    """Where downloads and computed features are kept: $AUDIOCONCEPT_CACHE, else ~/.cache/audioconcept."""
    return Path(os.environ.get("AUDIOCONCEPT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "audioconcept"))


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_tree(path: str | Path) -> str:
    """Hash of a file, or of every file below a folder (for .mlpackage)."""
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    h = hashlib.sha256()
    for p in sorted(q for q in path.rglob("*") if q.is_file()):
        h.update(str(p.relative_to(path)).encode())
        h.update(sha256_file(p).encode())
    return h.hexdigest()


def tree_size(path: str | Path) -> int:
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


@contextlib.contextmanager
def dirs_removed_on_error(path: str | Path) -> Iterator[Path]:
    """Create `path` (and missing parents); if the body raises, remove the folders this created that are still
    empty, so a failed run leaves no empty output folder behind."""
    path = Path(path)
    created = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    try:
        yield path
    except BaseException:
        for d in created:  # innermost first; stops at the first folder that holds something
            try:
                d.rmdir()
            except OSError:
                break
        raise


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# A temporary folder that atomic_dir made beside FINAL: ".FINAL.<8 mkdtemp characters>.tmp", and the
# ".FINAL.old-PID" it moves the previous version to while swapping
_TEMP_NAME = r"\.{name}\.(?:[a-z0-9_]{{8}}\.tmp|old-\d+)"
_HELD: dict[str, tuple[int, int]] = {}  # resolved lock path -> (fd, depth): re-entrant within a process


@contextlib.contextmanager
def dir_lock(final: str | Path) -> Iterator[None]:
    """Exclusive lock on `final` across processes (an fcntl lock on ".FINAL.lock" beside it), so two
    writers never race into one folder: the second one refuses at once with a one-line error.
    Re-entrant within a process. The holder deletes the lock file before releasing it; a process
    that locked a file which is no longer at that path (deleted meanwhile) tries again."""
    import fcntl

    from audioconcept.errors import OutputDirError

    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    key = str(final.parent.resolve() / f".{final.name}.lock")
    if key in _HELD:
        fd, depth = _HELD[key]
        _HELD[key] = (fd, depth + 1)
        try:
            yield
        finally:
            fd, depth = _HELD[key]
            _HELD[key] = (fd, depth - 1)
        return
    while True:
        fd = os.open(key, os.O_RDWR | os.O_CREAT, 0o666 & ~current_umask())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputDirError(
                f"{final}: another process is writing this folder right now; wait for it or choose another output"
            ) from None
        try:
            if os.stat(key).st_ino == os.fstat(fd).st_ino:
                break  # the file we locked is still the lock file
        except FileNotFoundError:
            pass
        os.close(fd)  # its holder deleted it as we opened it: take the new one
    _HELD[key] = (fd, 1)
    try:
        yield
    finally:
        del _HELD[key]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(key)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


# ANSI escape sequences whole (CSI such as colours and cursor moves, OSC such as window titles), then any single
# control character left (C0, DEL, C1)
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: object) -> str:
    """`text` without terminal escape sequences or control characters (tabs and newlines become spaces): for
    anything a file supplies (a manifest's name or labels, a file name, an error quoting them) before it is
    printed."""
    return _CONTROL.sub("", _ANSI.sub("", str(text)).replace("\t", " ").replace("\n", " "))


def check_out_name(final: str | Path) -> None:
    """An output folder must have a name of its own: not '.', '..', '/', nor the current folder or one above it
    (replacing it would pull the folder from under the running process)."""
    from audioconcept.errors import OutputDirError

    final = Path(final)
    if final.name in ("", ".", "..") or final.resolve() in (Path.cwd(), *Path.cwd().parents):
        raise OutputDirError(f"{final}: is the current folder or one above it; give a new folder, e.g. {final}/bundle")


def check_replaceable(
    final: str | Path,
    marker: str,
    force: bool = False,
    what: str = "bundle",
    ours: Callable[[Path], bool] | None = None,
) -> None:
    """Refuse to replace `final` unless it is missing, an empty folder, or one of ours (`ours(final)`; by default:
    it holds `marker`); `force` replaces anything but a file or a symlink's target (a symlink itself is replaced)."""
    from audioconcept.errors import OutputDirError

    final = Path(final)
    check_out_name(final)
    if final.is_symlink():
        if not force:
            raise OutputDirError(f"{final}: is a symbolic link; give a real folder, or --force to replace the link")
        return
    if not final.exists():
        return
    if not final.is_dir():
        raise OutputDirError(f"{final}: is a file, not a folder; choose another output")
    if force or (ours(final) if ours is not None else (final / marker).is_file()):
        return
    entries = sorted(p.name for p in final.iterdir())
    if entries:
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise OutputDirError(
            f"{final}: not empty and not a {what} (holds {shown}); choose an empty or new folder, "
            "or pass --force to replace it"
        )


def clean_stale_temps(final: str | Path) -> list[Path]:
    """Remove what a killed atomic_dir left beside `final` (call it holding `dir_lock(final)`)."""
    import re

    final = Path(final)
    if not final.parent.is_dir():
        return []
    pat = re.compile(_TEMP_NAME.format(name=re.escape(final.name)))
    removed = []
    for p in final.parent.iterdir():
        if pat.fullmatch(p.name) and p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


@contextlib.contextmanager
def atomic_dir(
    final: str | Path, marker: str | None = None, force: bool = False, ours: Callable[[Path], bool] | None = None
) -> Iterator[Path]:
    """Yield a temporary folder beside `final`; on success it replaces `final` in one rename.

    With `marker` (the file that makes a folder ours, e.g. manifest.json), an existing `final` is
    replaced only if it is empty or holds the marker (or `ours(final)` says it is ours), unless `force`. The
    whole write holds `dir_lock(final)`, and temporary folders left by killed writers are removed first.
    """
    final = Path(final)
    check_out_name(final)
    with dir_lock(final):
        if marker is not None:
            check_replaceable(final, marker, force, ours=ours)
        for p in clean_stale_temps(final):
            logging.getLogger(__name__).info("removed %s, left by an interrupted write", p)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp"))
        try:
            yield tmp
            if marker is not None:  # the folder may have changed while we worked
                check_replaceable(final, marker, force, ours=ours)
            os.chmod(tmp, 0o777 & ~current_umask())
            for p in tmp.rglob("*"):
                os.chmod(p, (0o777 if p.is_dir() else 0o666) & ~current_umask())
            if final.is_symlink():
                final.unlink()
            if final.exists():
                old = final.with_name(f".{final.name}.old-{os.getpid()}")
                os.replace(final, old)
                os.replace(tmp, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
