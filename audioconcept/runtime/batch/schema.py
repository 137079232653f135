"""The two Parquet tables that `audioconcept batch` writes, and the rows that fill them (schema version 3).

songs table, ``OUT/songs/part-*.parquet``, one row per song:

- ``song_id`` string: 20 hex digits of BLAKE2b over "path\\nsize_bytes\\nmtime_ns"
- ``path`` string: absolute path as the driver saw it
- ``size_bytes`` int64 (-1 when the file could not be stat'ed); ``mtime_ns`` int64 (ns since the epoch)
- ``status`` string: "ok" or "error"; ``error`` string: the one-line reason (null when ok)
- ``duration_s`` float64: seconds analysed; ``n_windows`` int32
- ``genre`` string, ``genre_probability`` float32: the top genre and its song-level probability
- ``genres`` list<struct<label: string, probability: float32>>: the top-k genres, best first
- ``concepts`` list<struct<name: string, strength: float32, present: bool, borderline: bool>>: every concept
  the bundle knows, with its song-level strength (the strongest window), whether it passes its threshold, and
  whether it lies within its lossy margin of it (`SongResult.concepts_borderline`: the same song as MP3 may say
  otherwise) (empty for a bundle without concepts)
- ``concept_spans`` list<struct<concept: string, start_s: float32, end_s: float32, strength: float32>>:
  where each present concept sounds
- ``model`` string: bundle name; ``model_sha256`` string: sha256 of the bundle's manifest.json, which
  pins every artifact by its own sha256; ``arch`` string
- ``backend`` string, ``device`` string: what ran (onnx on cpu, onnx on cuda, ...)
- ``hop_s`` float32: the window hop used
- ``host`` string: "hostname:pid" of the worker; ``analysed_at`` timestamp[ms, UTC]
- ``elapsed_ms`` float32: decode + inference time of the song in its worker

windows table, ``OUT/windows/part-*.parquet``, one row per analysed window (error songs have none):

- ``song_id`` string (joins the songs table), ``path`` string
- ``window`` int32: 0-based index; ``start_s``, ``end_s`` float32: where it lies in the song
- ``genre`` string, ``probability`` float32: the window's top genre
- ``probabilities`` list<struct<label: string, probability: float32>>: every label, in the bundle's order
- ``concepts`` list<struct<name: string, score: float32>>: the window's concept scores (may be empty)
- ``silent`` bool: under the silence floor (runtime.silence): its genre is the model's answer on silence, and it
  counts in none of the song's figures

Nested columns are Parquet lists of structs, not JSON strings, so pyarrow, pandas, DuckDB, Spark and
Polars read them as typed values (DuckDB: ``SELECT path, unnest(genres) FROM 'OUT/songs/*.parquet'``).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache

from audioconcept.runtime.batch.arrow import require_pyarrow
from audioconcept.runtime.batch.inputs import SongRef
from audioconcept.runtime.result import SongResult

SCHEMA_VERSION = 3  # 2: windows.silent; 3: songs.concepts.borderline
SONGS = "songs"
WINDOWS = "windows"


@cache
def songs_schema():
    pa = require_pyarrow()
    label_p = pa.struct([("label", pa.string()), ("probability", pa.float32())])
    concept = pa.struct(
        [("name", pa.string()), ("strength", pa.float32()), ("present", pa.bool_()), ("borderline", pa.bool_())]
    )
    span = pa.struct(
        [("concept", pa.string()), ("start_s", pa.float32()), ("end_s", pa.float32()), ("strength", pa.float32())]
    )
    return pa.schema(
        [
            ("song_id", pa.string()),
            ("path", pa.string()),
            ("size_bytes", pa.int64()),
            ("mtime_ns", pa.int64()),
            ("status", pa.string()),
            ("error", pa.string()),
            ("duration_s", pa.float64()),
            ("n_windows", pa.int32()),
            ("genre", pa.string()),
            ("genre_probability", pa.float32()),
            ("genres", pa.list_(label_p)),
            ("concepts", pa.list_(concept)),
            ("concept_spans", pa.list_(span)),
            ("model", pa.string()),
            ("model_sha256", pa.string()),
            ("arch", pa.string()),
            ("backend", pa.string()),
            ("device", pa.string()),
            ("hop_s", pa.float32()),
            ("host", pa.string()),
            ("analysed_at", pa.timestamp("ms", tz="UTC")),
            ("elapsed_ms", pa.float32()),
        ],
        metadata={"audioconcept.table": SONGS, "audioconcept.schema_version": str(SCHEMA_VERSION)},
    )


@cache
def windows_schema():
    pa = require_pyarrow()
    label_p = pa.struct([("label", pa.string()), ("probability", pa.float32())])
    score = pa.struct([("name", pa.string()), ("score", pa.float32())])
    return pa.schema(
        [
            ("song_id", pa.string()),
            ("path", pa.string()),
            ("window", pa.int32()),
            ("start_s", pa.float32()),
            ("end_s", pa.float32()),
            ("genre", pa.string()),
            ("probability", pa.float32()),
            ("probabilities", pa.list_(label_p)),
            ("concepts", pa.list_(score)),
            ("silent", pa.bool_()),
        ],
        metadata={"audioconcept.table": WINDOWS, "audioconcept.schema_version": str(SCHEMA_VERSION)},
    )


def schema_for(table: str):
    return songs_schema() if table == SONGS else windows_schema()


@dataclass(frozen=True)
class ModelInfo:
    """What every row says about the model; `backend`/`device` are what the worker actually ran."""

    name: str
    sha256: str
    arch: str
    backend: str = ""
    device: str = ""


@dataclass
class SongRows:
    """One song's row in the songs table and its rows in the windows table."""

    song: dict
    windows: list[dict]

    @property
    def ok(self) -> bool:
        return self.song["status"] == "ok"


def _host() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _base(ref: SongRef, info: ModelInfo, hop_s: float | None) -> dict:
    return {
        "song_id": ref.song_id,
        "path": ref.path,
        "size_bytes": ref.size_bytes,
        "mtime_ns": ref.mtime_ns,
        "model": info.name,
        "model_sha256": info.sha256,
        "arch": info.arch,
        "backend": info.backend,
        "device": info.device,
        "hop_s": hop_s,
        "host": _host(),
        "analysed_at": datetime.now(timezone.utc),
    }


def one_line(e: BaseException) -> str:
    """An exception as one line: our errors say what happened; anything else also says its type."""
    from audioconcept.errors import AudioConceptError

    text = (str(e).strip().splitlines() or [""])[0]
    if isinstance(e, AudioConceptError) and text:
        return text
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def error_rows(ref: SongRef, reason: str, info: ModelInfo, hop_s: float | None = None, elapsed_ms=None) -> SongRows:
    reason = (reason.strip().splitlines() or ["unknown error"])[0]
    song = _base(ref, info, hop_s) | {
        "status": "error",
        "error": reason,
        "duration_s": None,
        "n_windows": 0,
        "genre": None,
        "genre_probability": None,
        "genres": [],
        "concepts": [],
        "concept_spans": [],
        "elapsed_ms": elapsed_ms,
    }
    return SongRows(song, [])


def result_rows(ref: SongRef, r: SongResult, info: ModelInfo, hop_s: float, elapsed_ms: float) -> SongRows:
    song = _base(ref, info, hop_s) | {
        "backend": r.backend,
        "device": r.device,
        "status": "ok",
        "error": None,
        "duration_s": float(r.duration_s),
        "n_windows": len(r.windows),
        "genre": r.genres[0][0],
        "genre_probability": float(r.genres[0][1]),
        "genres": [{"label": g, "probability": float(p)} for g, p in r.genres],
        "concepts": [
            {
                "name": n,
                "strength": float(s),
                "present": n in r.concepts_present,
                "borderline": n in r.concepts_borderline,
            }
            for n, s in r.concepts.items()
        ],
        "concept_spans": [
            {"concept": sp.concept, "start_s": float(sp.start), "end_s": float(sp.end), "strength": float(sp.strength)}
            for sp in r.concept_spans
        ],
        "elapsed_ms": float(elapsed_ms),
    }
    windows = [
        {
            "song_id": ref.song_id,
            "path": ref.path,
            "window": int(w.index),
            "start_s": float(w.start),
            "end_s": float(w.end),
            "genre": w.genre,
            "probability": float(w.probability),
            "probabilities": [{"label": k, "probability": float(v)} for k, v in w.probabilities.items()],
            "concepts": [{"name": k, "score": float(v)} for k, v in w.concepts.items()],
            "silent": bool(w.silent),
        }
        for w in r.windows
    ]
    return SongRows(song, windows)


def to_tables(rows: list[SongRows]):
    """-> (songs table, windows table) with the documented schemas."""
    pa = require_pyarrow()
    songs = pa.Table.from_pylist([r.song for r in rows], schema=songs_schema())
    windows = pa.Table.from_pylist([w for r in rows for w in r.windows], schema=windows_schema())
    return songs, windows


def table_to_bytes(table) -> bytes:
    """Arrow IPC stream bytes: how a Ray actor hands finished tables back to the driver."""
    pa = require_pyarrow()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue().to_pybytes()


def table_from_bytes(data: bytes):
    pa = require_pyarrow()
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()
