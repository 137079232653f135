"""Compositions as note lists: scores from the music21 corpus and MIDI files from Debian packages."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MIDI_FOLDERS = (Path("/usr/share/planetblupi/music"),)  # Debian: planetblupi-music-midi (GPL-3+)
# music21 corpus composers per group; `tonal` groups are major/minor music, the others modal
GROUPS: dict[str, tuple[str, ...]] = {
    "chorale": ("bach",),
    "renaissance": ("palestrina", "monteverdi", "josquin"),
    "quartet": ("haydn", "mozart", "beethoven"),
    "piano": ("joplin", "schumann_robert", "schumann_clara", "chopin", "beach", "cpebach"),
    "song": ("schubert", "handel", "verdi", "weber", "corelli"),
    "folk": ("ryansMammoth", "oneills1850", "essenFolksong", "airdsAirs"),
}
TONAL_GROUPS = ("chorale", "quartet", "piano", "song", "folk", "midi")
GROUP_WEIGHTS = {
    "chorale": 0.25,
    "renaissance": 0.1,
    "quartet": 0.1,
    "piano": 0.08,
    "song": 0.05,
    "folk": 0.14,
    "midi": 0.28,
}
SCORE_GROUPS = tuple(g for g in GROUP_WEIGHTS if g != "midi")  # every group but the MIDI files is a score


@dataclass(frozen=True)
class Part:
    name: str
    notes: np.ndarray  # (n, 4) float64: start s, end s, MIDI pitch, velocity 1..127, at the piece's own tempo
    program: int | None = None  # the file's General MIDI program; None for a score part
    is_drum: bool = False


@dataclass(frozen=True)
class Piece:
    piece_id: str  # "m21:bach/bwv66.6", "m21:ryansMammoth/x.abc#3", "midi:planetblupi/music003"
    group: str
    parts: tuple[Part, ...]
    tempo_changes: np.ndarray  # (k, 2): time s, quarter notes per minute; scores get one row at 60 (s == quarters)
    downbeat_s: float = 0.0  # the first full bar's start
    bar_quarters: float = 4.0
    sharps: int | None = None  # key signature, when the source states one
    key: tuple[int, str] | None = None  # (tonic pitch class, mode), when the source states it
    from_score: bool = True  # True: the arrangement chooses the tempo; False: the file's tempo map is kept (scaled)
    extra: dict = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return max((float(p.notes[:, 1].max()) for p in self.parts if len(p.notes)), default=0.0)

    @property
    def tonal(self) -> bool:
        return self.group in TONAL_GROUPS


def stable_fraction(text: str) -> float:
    """A number in [0, 1) fixed by `text` (sha1), for splits and draws that must not depend on the run."""
    return int(hashlib.sha1(text.encode()).hexdigest()[:12], 16) / 16**12


def candidates() -> dict[str, list[str]]:
    """Every source available here, by group: music21 corpus paths relative to the corpus, MIDI file paths."""
    out: dict[str, list[str]] = {}
    try:
        from music21 import corpus

        for group, composers in GROUPS.items():
            paths = []
            for c in composers:
                for p in corpus.getComposer(c):
                    rel = str(p).split("/corpus/", 1)[-1]
                    if group == "chorale" and "bwv" not in rel:
                        continue
                    paths.append(rel)
            if paths:
                out[group] = sorted(paths)
    except ImportError:
        log.warning("music21 is not installed: no corpus pieces")
    midi = sorted(str(p) for folder in MIDI_FOLDERS if folder.is_dir() for p in folder.glob("*.mid"))
    try:
        import pretty_midi  # noqa: F401
    except ImportError:
        if midi:
            log.warning("pretty_midi is not installed: the MIDI files are left out")
        midi = []
    if midi:
        out["midi"] = midi
    else:
        log.warning("no MIDI files (Debian: planetblupi-music-midi)")
    return out


def load(group: str, ref: str, rng: np.random.Generator) -> Piece:
    return load_midi(ref) if group == "midi" else load_score(group, ref, rng)


@lru_cache(maxsize=16)
def _parsed(rel: str):
    """A corpus file parsed once per process (music21 parses a large score in seconds)."""
    from music21 import corpus

    return corpus.parse(rel)


def _score_rows(part) -> list[list[float]]:
    """[start, end, pitch, velocity] in quarter notes; tied notes joined into one (music21's stripTies, which
    costs seconds per score, does the same)."""
    from music21 import chord, harmony, note

    rows: list[list[float]] = []
    open_ties: dict[int, int] = {}
    for el in part.flatten().notes:
        if isinstance(el, harmony.ChordSymbol) or not isinstance(el, note.Note | chord.Chord):
            continue
        ql = float(el.duration.quarterLength)
        if ql <= 0:  # grace notes
            continue
        t0 = float(el.offset)
        vel = el.volume.velocity if el.volume is not None and el.volume.velocity else 80
        for n in el.notes if isinstance(el, chord.Chord) else (el,):
            pitch = int(n.pitch.midi)
            tie = n.tie.type if n.tie is not None else (el.tie.type if el.tie is not None else None)
            if tie in ("stop", "continue") and pitch in open_ties:
                rows[open_ties[pitch]][1] = t0 + ql
                if tie == "stop":
                    del open_ties[pitch]
                continue
            rows.append([t0, t0 + ql, pitch, vel])
            if tie == "start":
                open_ties[pitch] = len(rows) - 1
    return rows


@lru_cache(maxsize=16)
def load_midi(path: str) -> Piece:
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(path)
    parts = []
    for i, inst in enumerate(pm.instruments):
        if not inst.notes:
            continue
        notes = np.array([[n.start, n.end, n.pitch, n.velocity] for n in inst.notes], dtype=np.float64)
        parts.append(Part(inst.name or f"track{i}", notes, int(inst.program), bool(inst.is_drum)))
    times, qpm = pm.get_tempo_changes()
    downbeats = pm.get_downbeats()
    ts = pm.time_signature_changes
    bar_q = ts[0].numerator * 4 / ts[0].denominator if ts else 4.0
    # a single C major signature at time 0 is what sequencers write by default: not a statement of the key
    ks = pm.key_signature_changes
    key = None
    if ks and not (len(ks) == 1 and ks[0].key_number == 0):
        key = (ks[0].key_number % 12, "minor" if ks[0].key_number >= 12 else "major")
    folder = Path(path).parent.parent.name if Path(path).parent.name == "music" else Path(path).parent.name
    return Piece(
        f"midi:{folder}/{Path(path).stem}",
        "midi",
        tuple(parts),
        np.stack([times, qpm], axis=1),
        float(downbeats[0]) if len(downbeats) else 0.0,
        bar_q,
        key=key,
        from_score=False,
    )


def load_score(group: str, rel: str, rng: np.random.Generator) -> Piece:
    from music21 import key, meter, stream

    s = _parsed(rel)
    piece_id = f"m21:{rel}"
    if isinstance(s, stream.Opus):
        scores = list(s.scores)
        k = int(rng.integers(len(scores)))
        s = scores[k]
        piece_id += f"#{k}"
    parts = []
    for i, part in enumerate(s.parts or [s]):
        rows = _score_rows(part)
        if rows:
            parts.append(Part(part.partName or f"part{i}", np.asarray(rows, dtype=np.float64)))
    flat = s.flatten()
    sigs = list(flat.getElementsByClass(key.KeySignature))
    sharps = int(sigs[0].sharps) if sigs else None
    stated = None
    if sigs and isinstance(sigs[0], key.Key) and sigs[0].mode in ("major", "minor"):
        stated = (int(sigs[0].tonic.pitchClass), str(sigs[0].mode))
    tss = list(flat.getElementsByClass(meter.TimeSignature))
    bar_q = float(tss[0].barDuration.quarterLength) if tss else 4.0
    downbeat = 0.0
    measures = list((s.parts[0] if s.parts else s).getElementsByClass("Measure"))
    if len(measures) > 1 and float(measures[0].duration.quarterLength) < bar_q - 1e-6:
        downbeat = float(measures[1].offset)  # a pickup bar
    return Piece(
        piece_id,
        group,
        tuple(parts),
        np.array([[0.0, 60.0]]),
        downbeat,
        bar_q,
        sharps=sharps,
        key=stated,
        extra={"meter": tss[0].ratioString if tss else None},
    )
