"""A resumable Parquet store: part files written atomically, songs committed after their windows.

Layout of OUT::

    batch.json                         schema version and the model (name, sha256) the rows come from
    songs/part-<run>-<seq>.parquet     the songs table, one part per flushed batch
    windows/part-<run>-<seq>.parquet   the windows of the same songs, same part name
    .lock                              held while a run writes (a second run on OUT stops at once)
    set-aside/                         parts found unreadable when OUT was opened (their songs are analysed again)

A part is written to a hidden temporary file and renamed into place, windows first, then songs.
The songs part is the commit: a song counts as done when its row is in a songs part. A kill between
the two renames leaves a windows part with no songs part, which the next open deletes, so a killed
run loses at most the batch it had not yet flushed, and a re-run writes no row twice.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import time
from collections.abc import Iterable
from pathlib import Path

from audioconcept.errors import BatchError
from audioconcept.runtime.batch.arrow import compute, parquet, require_pyarrow
from audioconcept.runtime.batch.schema import (
    SCHEMA_VERSION,
    SONGS,
    WINDOWS,
    ModelInfo,
    SongRows,
    schema_for,
    to_tables,
)
from audioconcept.utils import atomic_write_json, current_umask

log = logging.getLogger(__name__)
MANIFEST = "batch.json"
SET_ASIDE = "set-aside"  # unreadable parts are moved here (see ResultStore._set_aside_unreadable)


def _lock(path: Path):
    """An exclusive, non-blocking lock on `path` (released when the process ends, even by kill -9)."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock
        return None
    f = open(path, "a+")  # noqa: SIM115 - held open for the lifetime of the store
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        where = path.parent
        raise BatchError(f"{where}: another batch run is writing there; wait for it, or use another --out") from None
    return f


class ResultStore:
    def __init__(self, out: str | Path, model: ModelInfo, part_songs: int = 128, flush_s: float = 60.0) -> None:
        require_pyarrow()
        self.out = Path(out)
        self.model = model
        self.part_songs = max(1, part_songs)
        self.flush_s = flush_s
        self.run_id = time.strftime("%Y%m%d%H%M%S") + "-" + secrets.token_hex(3)
        self.seq = 0
        self.buffer: list[SongRows] = []
        self.table_buffer: list[tuple] = []
        self.buffered = 0
        self.last_flush = time.monotonic()
        if self.out.exists() and not self.out.is_dir():
            raise BatchError(f"{self.out}: exists and is not a folder")
        for sub in (SONGS, WINDOWS):
            (self.out / sub).mkdir(parents=True, exist_ok=True)
        self._lockfile = _lock(self.out / ".lock")
        self._check_manifest()
        self._clean()
        self._set_aside_unreadable()

    # ---------------------------------------------------------------- opening
    def _check_manifest(self) -> None:
        p = self.out / MANIFEST
        if p.exists():
            try:
                m = json.loads(p.read_text())
            except (OSError, json.JSONDecodeError) as e:
                raise BatchError(f"{p}: unreadable ({e})") from None
            if m.get("schema_version") != SCHEMA_VERSION:
                raise BatchError(
                    f"{p}: written with table schema {m.get('schema_version')!r}, this version writes "
                    f"{SCHEMA_VERSION}; use another --out"
                )
            old = m.get("model") or {}
            if old.get("sha256") != self.model.sha256:
                raise BatchError(
                    f"{self.out}: holds results of model {old.get('name')} (sha256 {str(old.get('sha256'))[:12]}), "
                    f"not {self.model.name} (sha256 {self.model.sha256[:12]}); use another --out"
                )
            return
        atomic_write_json(
            p,
            {
                "schema_version": SCHEMA_VERSION,
                "model": {"name": self.model.name, "sha256": self.model.sha256, "arch": self.model.arch},
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "tables": {SONGS: f"{SONGS}/*.parquet", WINDOWS: f"{WINDOWS}/*.parquet"},
            },
        )

    def parts(self, table: str) -> list[Path]:
        return sorted((self.out / table).glob("part-*.parquet"))

    def _clean(self) -> None:
        """Delete what a killed run left: temporary files, and windows parts whose songs never committed."""
        for sub in (SONGS, WINDOWS):
            for tmp in (self.out / sub).glob(".part-*"):
                tmp.unlink(missing_ok=True)
        committed = {p.name for p in self.parts(SONGS)}
        for w in self.parts(WINDOWS):
            if w.name not in committed:
                log.info("removing %s: its songs part was never written (an interrupted run)", w)
                w.unlink()

    def _set_aside_unreadable(self) -> list[str]:
        """Move parts that cannot be read (a corrupted or truncated file) to OUT/set-aside/, the songs part and the
        windows part of the same name together, so that their songs count as not done and are analysed again. One
        warning names what was moved. Songs parts are read (their two key columns), windows parts' footers."""
        pq = parquet()
        bad: set[str] = set()
        for p in self.parts(SONGS):
            try:
                pq.read_table(p, columns=["song_id", "status"])
            except Exception:  # noqa: BLE001 - ArrowInvalid, OSError, ...: whatever it is, the part is unusable
                bad.add(p.name)
        for p in self.parts(WINDOWS):
            try:
                pq.ParquetFile(p).metadata  # noqa: B018 - reads and checks the footer
            except Exception:  # noqa: BLE001
                bad.add(p.name)
        if not bad:
            return []
        aside = self.out / SET_ASIDE
        for name in sorted(bad):
            for table in (SONGS, WINDOWS):
                src = self.out / table / name
                if src.exists():
                    (aside / table).mkdir(parents=True, exist_ok=True)
                    os.replace(src, aside / table / name)
        log.warning(
            "%s: %d unreadable part(s) moved to %s (%s); their songs will be analysed again",
            self.out,
            len(bad),
            aside,
            ", ".join(sorted(bad)[:3]) + (", ..." if len(bad) > 3 else ""),
        )
        return sorted(bad)

    def done(self, retry_errors: bool = False) -> dict[str, str]:
        """song_id -> status of every committed song (error rows left out with `retry_errors`)."""
        pq = parquet()
        out: dict[str, str] = {}
        for p in self.parts(SONGS):
            t = pq.read_table(p, columns=["song_id", "status"])
            for sid, st in zip(t.column("song_id").to_pylist(), t.column("status").to_pylist(), strict=True):
                if not (retry_errors and st != "ok"):
                    out[sid] = st
        return out

    def drop_errors(self, song_ids: Iterable[str]) -> int:
        """Rewrite the songs parts without the error rows of `song_ids` (before retrying them)."""
        pa, pc, pq = require_pyarrow(), compute(), parquet()
        ids = pa.array(sorted(set(song_ids)), type=pa.string())
        dropped = 0
        for p in self.parts(SONGS):
            t = pq.read_table(p)
            drop = pc.and_(pc.is_in(t.column("song_id"), value_set=ids), pc.not_equal(t.column("status"), "ok"))
            n = pc.sum(drop).as_py() or 0
            if not n:
                continue
            dropped += n
            keep = t.filter(pc.invert(drop))
            if keep.num_rows:
                self._write_part(SONGS, p.name, keep)
            else:
                p.unlink()
                (self.out / WINDOWS / p.name).unlink(missing_ok=True)
        return dropped

    # ---------------------------------------------------------------- writing
    def _write_part(self, table: str, name: str, data) -> None:
        pq = parquet()
        final = self.out / table / name
        tmp = final.with_name(f".{name}.{os.getpid()}.tmp")
        try:
            pq.write_table(data.cast(schema_for(table)), tmp, compression="zstd", row_group_size=1 << 16)
            os.chmod(tmp, 0o666 & ~current_umask())
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def add(self, rows: SongRows) -> None:
        """One finished song (local workers hand over rows)."""
        self.buffer.append(rows)
        self.buffered += 1
        self._maybe_flush()

    def add_tables(self, songs, windows) -> None:
        """Finished songs as tables (a Ray actor builds them remotely)."""
        if songs.num_rows:
            self.table_buffer.append((songs, windows))
            self.buffered += songs.num_rows
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if self.buffered >= self.part_songs or time.monotonic() - self.last_flush >= self.flush_s:
            self.flush()

    def flush(self) -> None:
        """Write everything buffered as one part (windows, then songs: the commit)."""
        pa = require_pyarrow()
        self.last_flush = time.monotonic()
        if not self.buffered:
            return
        pairs = list(self.table_buffer)
        if self.buffer:
            pairs.append(to_tables(self.buffer))
        self.buffer, self.table_buffer, self.buffered = [], [], 0
        songs = pa.concat_tables([s.cast(schema_for(SONGS)) for s, _ in pairs])
        windows = pa.concat_tables([w.cast(schema_for(WINDOWS)) for _, w in pairs])
        self._commit(songs, windows)

    def _commit(self, songs, windows) -> None:
        self.seq += 1
        name = f"part-{self.run_id}-{self.seq:06d}.parquet"
        if windows.num_rows:
            self._write_part(WINDOWS, name, windows)
        self._write_part(SONGS, name, songs)  # the commit

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._lockfile is not None:
                with contextlib.suppress(OSError):
                    self._lockfile.close()
                self._lockfile = None

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_table(out: str | Path, table: str = SONGS):
    """Both tables read back as one pyarrow Table each, with the documented schema."""
    pa, pq = require_pyarrow(), parquet()
    parts = sorted((Path(out) / table).glob("part-*.parquet"))
    if not parts:
        return schema_for(table).empty_table()
    return pa.concat_tables([pq.read_table(p, schema=schema_for(table)) for p in parts])
