"""Walk a music library: folders (recursively), globs, and text or Parquet lists of paths.

Every song becomes a `SongRef`: its absolute path, size and modification time, and `song_id`, a
hash of the three. A file that changes (re-encoded, re-tagged) gets a new id, so a re-run analyses
it again; an unchanged file keeps its id, so a re-run skips it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from audioconcept.errors import DataSpecError
from audioconcept.runtime.runner import expand_inputs

TEXT_LIST_SUFFIXES = (".txt", ".lst", ".list", ".m3u", ".m3u8")
PARQUET_LIST_SUFFIXES = (".parquet", ".pq")


def song_id(path: str, size: int, mtime_ns: int) -> str:
    """20 hex digits of BLAKE2b over 'path\\nsize\\nmtime_ns' (path absolute, size in bytes, mtime in ns)."""
    return hashlib.blake2b(f"{path}\n{size}\n{mtime_ns}".encode(), digest_size=10).hexdigest()


@dataclass(frozen=True)
class SongRef:
    """One song to analyse. `size_bytes` is -1 (and `mtime_ns` 0) when the file could not be stat'ed."""

    path: str
    size_bytes: int
    mtime_ns: int
    song_id: str

    @classmethod
    def of(cls, path: str | Path) -> SongRef:
        p = os.path.abspath(os.fspath(path))
        try:
            st = os.stat(p)
            size, mtime = int(st.st_size), int(st.st_mtime_ns)
        except OSError:
            size, mtime = -1, 0
        return cls(p, size, mtime, song_id(p, size, mtime))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Library:
    songs: list[SongRef]
    problems: list[tuple[str, str]]  # (input item, why it gave no songs)


def read_text_list(path: Path) -> list[str]:
    """One path per line; blank lines and lines starting with '#' are skipped (so .m3u works);
    relative paths are relative to the list's folder."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as e:
        raise DataSpecError(f"{path}: cannot read the list ({e.strerror or e})") from None
    out = []
    for line in lines:
        s = line.strip().lstrip("\ufeff")
        if s and not s.startswith("#"):
            out.append(s if os.path.isabs(s) else str(path.parent / s))
    return out


def read_parquet_list(path: Path) -> list[str]:
    """The `path` column of a Parquet file (needs pyarrow: the `ray` extra)."""
    from audioconcept.runtime.batch.arrow import parquet

    pq = parquet(f"reading the Parquet list {path}")
    try:
        schema = pq.read_schema(path)
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a bad file
        raise DataSpecError(f"{path}: not a readable Parquet file ({str(e).splitlines()[0]})") from None
    if "path" not in schema.names:
        raise DataSpecError(f"{path}: a Parquet list needs a 'path' column (it has {', '.join(schema.names)})")
    paths = pq.read_table(path, columns=["path"]).column("path").to_pylist()
    return [p if os.path.isabs(p) else str(path.parent / p) for p in paths if p]


def walk_library(items: list[str]) -> Library:
    """Expand every input item, in the user's order, without repeating a song."""
    paths: list[str] = []
    problems: list[tuple[str, str]] = []
    for item in items:
        p = Path(item)
        suffix = p.suffix.lower()
        if p.is_file() and suffix in TEXT_LIST_SUFFIXES + PARQUET_LIST_SUFFIXES:
            listed = read_text_list(p) if suffix in TEXT_LIST_SUFFIXES else read_parquet_list(p)
            if not listed:
                problems.append((item, "the list names no files"))
            paths.extend(listed)
            continue
        files, errors = expand_inputs([item])
        problems.extend(errors)
        paths.extend(str(f) for f in files)
    seen: set[str] = set()
    songs = []
    for path in paths:
        ref = SongRef.of(path)
        if ref.song_id not in seen:
            seen.add(ref.song_id)
            songs.append(ref)
    return Library(songs, problems)
