"""Prediction results and their JSON / CSV / table renderings (torch-free)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field

RESULT_SCHEMA_VERSION = 1


@dataclass
class WindowResult:
    index: int
    start: float
    end: float
    genre: str
    probability: float
    probabilities: dict[str, float]
    concepts: dict[str, float] = field(default_factory=dict)


@dataclass
class ConceptSpan:
    concept: str
    start: float
    end: float
    strength: float


@dataclass
class SongResult:
    path: str
    model: str
    arch: str
    trained_on: str
    backend: str
    device: str
    duration_s: float
    genres: list[tuple[str, float]]  # top-K (label, probability), best first
    windows: list[WindowResult]
    concepts: dict[str, float] = field(default_factory=dict)  # song-level strength per concept
    concepts_present: list[str] = field(default_factory=list)
    concept_spans: list[ConceptSpan] = field(default_factory=list)
    timing_ms: dict[str, float] = field(default_factory=dict)

    @property
    def genre(self) -> str:
        return self.genres[0][0]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["schema_version"] = RESULT_SCHEMA_VERSION
        d["genres"] = [{"label": g, "probability": p} for g, p in self.genres]
        return d

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)


@dataclass(frozen=True)
class SongError:
    """A song (or an input item) that gave no result, with its one-line reason."""

    path: str
    error: str

    def to_dict(self) -> dict:
        return {"schema_version": RESULT_SCHEMA_VERSION, "path": self.path, "error": self.error}


CSV_FIELDS = ("path", "model", "backend", "window", "start", "end", "genre", "probability")


def to_csv(results: list[SongResult], errors: list[SongError] | None = None) -> str:
    """One row per song and per window; with `errors`, a last `error` column and one row per failure."""
    buf = io.StringIO()
    w = csv.writer(buf)
    concept_names = sorted({c for r in results for c in r.concepts})
    w.writerow([*CSV_FIELDS, *concept_names, *(["error"] if errors else [])])
    for e in errors or ():
        w.writerow([e.path, "", "", "error", "", "", "", "", *[""] * len(concept_names), e.error])
    for r in results:
        w.writerow(
            [
                r.path,
                r.model,
                r.backend,
                "song",
                0.0,
                round(r.duration_s, 3),
                r.genres[0][0],
                round(r.genres[0][1], 6),
                *[round(r.concepts.get(c, 0.0), 4) for c in concept_names],
            ]
        )
        for win in r.windows:
            w.writerow(
                [
                    r.path,
                    r.model,
                    r.backend,
                    win.index,
                    round(win.start, 3),
                    round(win.end, 3),
                    win.genre,
                    round(win.probability, 6),
                    *[round(win.concepts.get(c, 0.0), 4) for c in concept_names],
                ]
            )
    return buf.getvalue()


def render_table(r: SongResult, console) -> None:
    from rich.table import Table

    console.print(
        f"[bold]{r.path}[/]  {r.duration_s:.1f} s, {len(r.windows)} window(s), model {r.model} via "
        f"{r.backend} on {r.device}",
        highlight=False,
    )
    t = Table()
    t.add_column("genre")
    t.add_column("probability", justify="right")
    for g, p in r.genres:
        t.add_row(g, f"{p:.3f}")
    console.print(t)
    if len(r.windows) > 1:
        w = Table(show_header=True, title="windows", title_justify="left")
        for col in ("start", "end", "genre", "p"):
            w.add_column(col, justify="right" if col != "genre" else "left")
        if r.concepts:
            w.add_column("concepts")
        for win in r.windows[:40]:
            row = [f"{win.start:.1f}", f"{win.end:.1f}", win.genre, f"{win.probability:.2f}"]
            if r.concepts:
                row.append(", ".join(c for c, s in sorted(win.concepts.items(), key=lambda kv: -kv[1]) if s >= 0.5))
            w.add_row(*row)
        if len(r.windows) > 40:
            w.add_row("…", "", f"{len(r.windows) - 40} more", "")
        console.print(w)
    if r.concepts:
        c = Table(title="concepts", title_justify="left")
        c.add_column("concept")
        c.add_column("strength", justify="right")
        c.add_column("where (s)")
        for name, s in sorted(r.concepts.items(), key=lambda kv: -kv[1]):
            spans = [f"{sp.start:.1f}-{sp.end:.1f}" for sp in r.concept_spans if sp.concept == name]
            c.add_row(name + (" *" if name in r.concepts_present else ""), f"{s:.2f}", ", ".join(spans[:6]))
        console.print(c)
