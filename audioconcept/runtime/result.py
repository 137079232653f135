"""Prediction results and their JSON / CSV / table renderings (torch-free)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field

RESULT_SCHEMA_VERSION = 1

# what "borderline" means, in every place that shows it (the table note, the live summary; view.js says the same)
BORDERLINE_NOTE = "within its lossy margin of the threshold (the same song as MP3 may say otherwise)"


SILENCE = "silence"  # what a silent window shows for its genre (table, CSV, live rows, pages)


@dataclass
class WindowResult:
    """One window of a song: where it is, its genres, its concept scores and (tag models) its reasons.

    Example:
        ```python
        for w in result.windows:
            print(f"{w.start:.1f}-{w.end:.1f} s {w.genre} {w.probability:.2f}", w.explanation[:3])
        ```
    """

    index: int
    start: float
    end: float
    genre: str
    probability: float
    probabilities: dict[str, float]
    concepts: dict[str, float] = field(default_factory=dict)
    tags: dict[str, float] = field(default_factory=dict)  # a tagger's source tags ("MSD:female vocalists": p)
    explanation: list[dict] = field(default_factory=list)  # the window genre's top named contributions
    # under the silence floor (runtime.silence): the model's answer is kept, but no reason is given and the window
    # counts in none of the song's figures
    silent: bool = False

    @property
    def shown_genre(self) -> str:
        """What a reader sees for the window's genre: "silence" under the silence floor, else its genre."""
        return SILENCE if self.silent else self.genre


@dataclass
class ConceptSpan:
    """Where a present concept sounds: from `start` to `end` seconds, with its strongest score there.

    Example:
        ```python
        for s in result.concept_spans:
            print(f"{s.concept}: {s.start:.1f}-{s.end:.1f} s ({s.strength:.2f})")
        ```
    """

    concept: str
    start: float
    end: float
    strength: float


@dataclass
class SongResult:
    """What the runtime says about one song: genres (top-K, best first), windows, concepts and their spans.

    `concepts` holds every concept's song-level strength (its strongest window), `concepts_present` those above
    their calibrated threshold in a window where no opposite concept outweighs them (runtime.opposites),
    `explanation` the top genres split into named contributions (tag models), and `to_json()` the same as
    `audioconcept-run --format json` (schema: `audioconcept/runtime/result.schema.json`).

    Example:
        ```python
        result = load("musicnn-gtzan").predict("song.mp3")
        print(result.genre, result.genres, result.concepts_present)
        open("song.json", "w").write(result.to_json())
        ```
    """

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
    tags: dict[str, float] = field(default_factory=dict)  # a tagger's source tags, strongest window
    explanation: dict = field(default_factory=dict)  # top genres split into named contributions (genre heads)
    concept_validation: dict[str, dict] = field(default_factory=dict)  # concept -> status, AUC, precision, data
    similar_to: list[str] = field(default_factory=list)  # genre-, style- or era-named concepts present (not reasons)
    ood: dict = field(default_factory=dict)  # distance to the genre head's training music, and whether outside
    # validated concepts within their lossy margin of the threshold (present or not): an MP3 copy may flip them
    concepts_borderline: list[str] = field(default_factory=list)

    @property
    def genre(self) -> str:
        """The top genre.

        Example:
            ```python
            result.genre == result.genres[0][0]  # True
            ```
        """
        return self.genres[0][0]

    def to_dict(self) -> dict:
        """A plain dict with `schema_version`, genres as `{"label", "probability"}` objects.

        Example:
            ```python
            d = result.to_dict()
            d["genres"][0]["label"] == result.genre  # True: genres are {"label", "probability"} objects
            ```
        """
        d = asdict(self)
        d["schema_version"] = RESULT_SCHEMA_VERSION
        d["genres"] = [{"label": g, "probability": p} for g, p in self.genres]
        return d

    def to_json(self, indent: int | None = 2) -> str:
        """`to_dict()` as JSON text.

        Example:
            ```python
            Path("song.json").write_text(result.to_json())
            ```
        """
        return json.dumps(self.to_dict(), indent=indent)


@dataclass(frozen=True)
class SongError:
    """A song (or an input item) that gave no result, with its one-line reason.

    Example:
        ```python
        SongError("missing.mp3", "no such file").to_dict()
        # {'schema_version': 1, 'path': 'missing.mp3', 'error': 'no such file'}
        ```
    """

    path: str
    error: str

    def to_dict(self) -> dict:
        """The error entry of the JSON output.

        Example:
            ```python
            SongError("a.mp3", "cannot decode").to_dict()["error"]  # 'cannot decode'
            ```
        """
        return {"schema_version": RESULT_SCHEMA_VERSION, "path": self.path, "error": self.error}


class _PrintableWriter:
    """A csv writer whose text cells lose control characters and escape sequences (file-supplied names and labels
    are printed, and a CSV is text)."""

    def __init__(self, w, clean) -> None:
        self.w, self.clean = w, clean

    def writerow(self, row) -> None:
        self.w.writerow([self.clean(c) if isinstance(c, str) else c for c in row])


CSV_FIELDS = ("path", "model", "backend", "window", "start", "end", "genre", "probability")


def to_csv(results: list[SongResult], errors: list[SongError] | None = None, entries: list | None = None) -> str:
    """One row per song and per window; with `errors`, a last `error` column and one row per failure. `entries`:
    the results and errors in the order to write them (default: errors, then results)."""
    from audioconcept.utils import printable

    buf = io.StringIO()
    w = _PrintableWriter(csv.writer(buf), printable)
    concept_names = sorted({c for r in results for c in r.concepts})
    w.writerow([*CSV_FIELDS, *concept_names, *(["error"] if errors else [])])
    for r in entries if entries is not None else [*(errors or ()), *results]:
        if isinstance(r, SongError):
            w.writerow([r.path, "", "", "error", "", "", "", "", *[""] * len(concept_names), r.error])
            continue
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
                    win.shown_genre,  # the model's answer on silence is no genre
                    "" if win.silent else round(win.probability, 6),
                    *[round(win.concepts.get(c, 0.0), 4) for c in concept_names],
                ]
            )
    return buf.getvalue()


MAX_CONCEPT_ROWS = 15


def _shown(text: object) -> str:
    """A string from a file (path, model name, label, concept) as rich prints it: no control characters or escape
    sequences, and no rich markup (a label "[red]" stays text)."""
    from rich.markup import escape

    from audioconcept.utils import printable

    return escape(printable(text))


def confidence_cell(v: dict | None) -> str:
    """'precision 0.91, AUC 0.97' / 'real AUC 0.85' / '✗ failed' / '? not validated'."""
    if not v or v.get("status") == "not validated":
        return "? not validated"
    if v.get("status") == "failed":
        return "✗ failed validation"
    parts = []
    if v.get("precision") is not None:
        parts.append(f"precision {v['precision']:.2f}")
    if v.get("auc") is not None and v.get("precision") is not None:
        parts.append(f"AUC {v['auc']:.2f}")
    if v.get("real_auc") is not None:
        parts.append(f"real AUC {v['real_auc']:.2f}")
    return ", ".join(parts) or "validated"


def render_table(r: SongResult, console) -> None:
    from rich.table import Table

    from audioconcept.runtime.tag_concepts import GENRE_NAMED_MARK, describe, describe_contributions

    console.print(
        f"[bold]{_shown(r.path)}[/]  {r.duration_s:.1f} s, {len(r.windows)} window(s), model {_shown(r.model)} via "
        f"{r.backend} on {r.device}",
        highlight=False,
    )
    t = Table()
    t.add_column("genre")
    t.add_column("probability", justify="right")
    if r.explanation:
        t.add_column(f"why (head {r.explanation['head']}: concepts present that speak for the genre)")
    why = {e["genre"]: e for e in (r.explanation or {}).get("genres", [])}
    status = {n: v.get("status", "") for n, v in (r.concept_validation or {}).items()}
    for g, p in r.genres:
        row = [_shown(g), f"{p:.3f}"]
        if r.explanation:
            text = describe(why[g], 5, status, set(r.concepts_borderline)) if g in why else ""
            row.append(_shown(text.split(": ", 1)[1]) if text else "")
        t.add_row(*row)
    console.print(t)
    if r.ood and r.ood.get("outside"):
        console.print(
            f"[bold]{r.ood.get('answer', 'other / none of these')}[/]: this song is far from the music the genre "
            f"head was trained on (distance {r.ood['distance']:.2f} > {r.ood['threshold']:.2f}); the genres above are "
            "only the nearest",
            highlight=False,
        )
    ex = r.explanation or {}
    if ex.get("genres_from"):
        acc = f", {ex['reasons_accuracy']:.2f} cross-validated" if ex.get("reasons_accuracy") is not None else ""
        verdict = "chooses the same genre" if ex.get("agrees") else f"alone would choose {_shown(ex['reasons_genre'])}"
        console.print(
            f"genres from head {_shown(ex['genres_from'])}; reasons from head {_shown(ex['head'])} (validated musical "
            f"concepts only{acc}), which {verdict}",
            highlight=False,
        )
    if any(e.get("typical") for e in why.values()):
        console.print(
            "typical of: measured concepts present in the song that the genre's tracks tend to have more of (GTZAN "
            "features table, at least a medium effect) and that are not among its reasons; not part of the logit",
            highlight=False,
        )
    if r.similar_to:
        console.print(f"similar to (genre-, style- or era-named tags, not reasons): {', '.join(r.similar_to)}")
    top = why.get(r.genres[0][0]) if r.genres else None
    if top and top.get("failed"):
        console.print(
            f"weighs in the {_shown(top['genre'])} logit but failed its check against audio with known content "
            f"(not a reason): {_shown(describe_contributions(top['failed'], 3))}",
            highlight=False,
        )
    if len(r.windows) > 1:
        w = Table(show_header=True, title="windows", title_justify="left")
        for col in ("start", "end", "genre", "p"):
            w.add_column(col, justify="right" if col != "genre" else "left")
        if r.concepts:
            w.add_column("why" if r.explanation else "concepts")
        for win in r.windows[:40]:
            p = "-" if win.silent else f"{win.probability:.2f}"
            row = [f"{win.start:.1f}", f"{win.end:.1f}", _shown(win.shown_genre), p]
            if win.silent:  # no genre and no reason over silence (runtime.silence)
                row += [""] if r.concepts else []
            elif win.explanation:
                row.append(_shown(describe_contributions(win.explanation, 3, status, reasons=True)))
            elif r.concepts:
                # a tagger's present concepts; a CAV model's, where strong in this window (never a failed one)
                present = set(r.concepts_present)
                ranked = sorted(win.concepts.items(), key=lambda kv: -kv[1])
                row.append(_shown(", ".join(c for c, s in ranked if c in present and (r.tags or s >= 0.5))))
            w.add_row(*row)
        if len(r.windows) > 40:
            w.add_row("…", "", f"{len(r.windows) - 40} more", "")
        console.print(w)
    if r.concepts:
        c = Table(title="concepts", title_justify="left")
        c.add_column("concept")
        c.add_column("strength", justify="right")
        c.add_column("where (s)")
        if r.concept_validation:
            c.add_column("confidence")
        # genre-, style- and era-named concepts are "similar to", never reasons: not in this table
        named = set(r.similar_to) | {n for n, v in r.concept_validation.items() if v.get("genre_named")}
        ranked = sorted(
            ((n, v) for n, v in r.concepts.items() if n not in named),
            key=lambda kv: (kv[0] not in r.concepts_present, -kv[1]),
        )
        for name, s in ranked[:MAX_CONCEPT_ROWS] if len(ranked) > MAX_CONCEPT_ROWS else ranked:
            spans = [f"{sp.start:.1f}-{sp.end:.1f}" for sp in r.concept_spans if sp.concept == name]
            row = [_shown(name) + (" *" if name in r.concepts_present else ""), f"{s:.2f}", ", ".join(spans[:6])]
            if r.concept_validation:
                cell = confidence_cell(r.concept_validation.get(name))
                row.append(cell + (" · borderline" if name in r.concepts_borderline else ""))
            c.add_row(*row)
        if len(ranked) > MAX_CONCEPT_ROWS:
            c.add_row(
                f"… {len(ranked) - MAX_CONCEPT_ROWS} more (--format json)", "", "", *([""] * bool(r.concept_validation))
            )
        console.print(c)
        notes = ["* present (strength at or above its calibrated threshold)"]
        if r.concept_validation:
            notes.append(
                "confidence: precision at the threshold and ROC-AUC on held-out renders (real: AUC on real "
                "recordings); ✗ failed validation (never present, never a reason); ? not validated (marked in the "
                "reasons too)"
            )
        if r.concepts_borderline:
            notes.append(f"borderline: {BORDERLINE_NOTE}")
        if r.explanation:
            notes.append(f"{GENRE_NAMED_MARK} named after a genre, style or era")
        console.print("; ".join(notes), style="dim", highlight=False)
