"""What the live command prints: one JSON line or one table row per window (or per change, `--on-change`), each with
its stream time and its latency, and the song-level summary at the end."""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import TextIO

import numpy as np

from audioconcept.runtime.result import BORDERLINE_NOTE
from audioconcept.runtime.stream import LiveSummary, LiveWindow

LATENCY_KEPT = 4096  # the latency figures of the summary cover the last this many windows


@dataclass
class ChangeDetector:
    """The top genre and the set of present concepts, with hysteresis so that they do not flicker. A new top genre
    counts once it has led `hold` windows in a row. A concept turns on once it has been present (`LiveWindow.present`:
    at or above its threshold, not failed, not outweighed by an opposite) `hold` windows in a row, and off once it has
    been below its threshold minus `margin`, or above it and outweighed, `hold` windows in a row."""

    thresholds: dict[str, float]
    hold: int = 2
    margin: float = 0.1
    genre: str | None = None
    present: frozenset[str] = frozenset()
    _candidate: str | None = None
    _run: int = 0
    _flips: dict[str, int] = field(default_factory=dict)  # concept -> windows in a row that argue for a flip

    def update(self, w: LiveWindow) -> tuple[bool, list[str], list[str]] | None:
        """-> (genre changed, concepts added, concepts removed) when the state changed, else None. The first window
        sets the state at once (and counts as a change)."""
        first = self.genre is None
        g = w.genre  # "silence" under the silence floor
        genre_changed = first
        if first:
            self.genre = g
        elif g != self.genre:
            self._run = self._run + 1 if g == self._candidate else 1
            self._candidate = g
            if self._run >= self.hold:
                self.genre, genre_changed, self._run, self._candidate = g, True, 0, None
        else:
            self._run, self._candidate = 0, None
        now = set(self.present)
        for c, v in w.result.concepts.items():
            t = self.thresholds.get(c, 0.5)
            on = c in self.present
            # on: present in the window by the song's rule (so never a failed concept, nor one an opposite
            # outweighs); off: clearly under its threshold, or over it but not present (an opposite won)
            flip = (v < t - self.margin or (v >= t and c not in w.present)) if on else c in w.present
            self._flips[c] = self._flips.get(c, 0) + 1 if flip else 0
            if flip and (first or self._flips[c] >= self.hold):
                (now.discard if on else now.add)(c)
                self._flips[c] = 0
        added = sorted(now - self.present)
        removed = sorted(self.present - now)
        self.present = frozenset(now)
        if genre_changed or added or removed:
            return genre_changed, added, removed
        return None


@dataclass
class LiveView:
    """Writes window lines (`fmt` jsonl or table) to `out`; `on_change` writes only when the state changes."""

    out: TextIO
    fmt: str = "jsonl"
    on_change: ChangeDetector | None = None
    latencies: deque = field(default_factory=lambda: deque(maxlen=LATENCY_KEPT))
    lines: int = 0

    def window(self, w: LiveWindow) -> None:
        change = self.on_change.update(w) if self.on_change is not None else None
        if self.on_change is not None and change is None:
            self.latencies.append(time.perf_counter() - w.arrived)
            return
        latency = time.perf_counter() - w.arrived  # the line is written right after
        self.latencies.append(latency)
        if self.fmt == "jsonl":
            self._write(json.dumps(self._record(w, latency, change)))
        else:
            if self.lines == 0:
                self._write(f"{'start':>8} {'end':>8}  {'genre':<10} {'p':>5}  {'latency':>8}  concepts present")
            flag = ""
            if change is not None:
                genre_changed, added, removed = change
                flag = " ".join(
                    ["genre!" if genre_changed else ""] + [f"+{c}" for c in added] + [f"-{c}" for c in removed]
                )
                flag = f"  [{flag.strip()}]" if flag.strip() else ""
            skipped = f"  ({w.skipped} skipped)" if w.skipped else ""
            r = w.result
            self._write(
                f"{r.start:8.2f} {r.end:8.2f}  {w.genre:<10} {'-' if r.silent else f'{r.probability:5.2f}':>5}  "
                f"{latency * 1e3:6.0f} ms  "
                f"{', '.join(w.present)}{flag}{skipped}"
            )

    def _record(self, w: LiveWindow, latency: float, change) -> dict:
        row = asdict(w.result)
        row.pop("tags", None)  # a tagger's 50 source tags: in the summary, not on every line
        rec = {
            "type": "window" if change is None else "change",
            **row,
            "present": list(w.present),
            "similar_to": list(w.similar_to),
        }
        if change is not None:
            rec.update(genre_changed=change[0], added=change[1], removed=change[2])
        rec.update(latency_s=round(latency, 4), analysis_s=round(w.compute_s, 4), skipped=w.skipped)
        return rec

    def latency_figures(self) -> dict:
        if not self.latencies:
            return {}
        a = np.asarray(self.latencies)
        return {
            "median": round(float(np.median(a)), 4),
            "p95": round(float(np.percentile(a, 95)), 4),
            "max": round(float(a.max()), 4),
        }

    def summary(self, s: LiveSummary, interrupted: bool = False) -> None:
        d = s.result.to_dict()
        d.pop("windows")  # already printed, line by line
        rec = {
            "type": "summary",
            "windows": s.windows,
            "skipped": s.skipped,
            "heard_s": s.heard_s,
            "interrupted": interrupted,
            "latency_s": self.latency_figures(),
            "real_time_factor": round(s.real_time_factor, 4),
            "wall_s": round(s.wall_s, 3),
            "cpu_s": round(s.cpu_s, 3),
            "song": d,
        }
        if self.fmt == "jsonl":
            self._write(json.dumps(rec))
            return
        r = s.result
        genres = ", ".join(f"{g} {p:.2f}" for g, p in r.genres)
        lat = rec["latency_s"]
        self._write(
            f"-- {s.heard_s:.1f} s heard{' (interrupted)' if interrupted else ''}, {s.windows} window(s) analysed, "
            f"{s.skipped} skipped; latency median {lat.get('median', 0) * 1e3:.0f} ms, "
            f"p95 {lat.get('p95', 0) * 1e3:.0f} ms; real-time factor {s.real_time_factor:.3f}"
        )
        self._write(f"-- song: {genres}")
        if r.concepts_present:
            self._write(f"-- concepts present: {', '.join(r.concepts_present)}")
        if r.concepts_borderline:  # within their lossy margin of the threshold: the same song as MP3 may differ
            self._write(f"-- borderline, {BORDERLINE_NOTE}: {', '.join(r.concepts_borderline)}")

    def _write(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()
        self.lines += 1
