"""An arrangement: who plays each part of a piece excerpt, with which effects and levels, at which tempo,
with drums or not, over a real background or not. Every draw comes from one seeded generator."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audioconcept.data.render.gm import DISTORTABLE, FAMILIES, concepts_of, family_of, uncertain_concepts_of
from audioconcept.data.render.pieces import Part, Piece

MIN_NOTE_S = 0.05  # notes clipped shorter than this at the excerpt's edges are dropped (and not rendered)
MIN_SECONDS = 3.5  # an excerpt must hold at least one model window
# programs a part is given, per family, in arrangements of scores (no ambiguous programs)
LEAD_PROGRAMS = {
    "piano": (0, 1, 2, 4, 5),
    "organ": (16, 17, 18, 19),
    "acoustic_guitar": (24, 25),
    "electric_guitar": (26, 27),
    "distorted_guitar": (29, 30),
    "strings": (40, 40, 41, 48, 49),
    "violin": (40,),
    "brass": (56, 57, 60, 61),
    "trumpet": (56, 59),
    "saxophone": (64, 65, 66),
    "woodwinds": (68, 71, 73, 72, 74),
    "flute": (73, 72),
    "synth": (80, 81, 82, 87, 88, 89, 90, 91, 94),
    "choir": (52, 53),
}
BASS_PROGRAMS = (32, 33, 34, 35, 36, 38, 42, 43, 57, 58, 70, 0, 19, 52)
# solo instruments that play every part at once (chords); the others play the top line
POLYPHONIC = ("piano", "organ", "acoustic_guitar", "electric_guitar", "distorted_guitar", "choir", "synth")
SOLO_FAMILIES = (
    "piano",
    "piano",
    "acoustic_guitar",
    "acoustic_guitar",
    "electric_guitar",
    "distorted_guitar",
    "violin",
    "strings",
    "trumpet",
    "saxophone",
    "flute",
    "woodwinds",
    "organ",
    "synth",
    "choir",
)
# solo families only asked for by name (draw's `solo_family`), never drawn at random: tuned percussion, which is
# none of the instrument concepts (a vibraphone is no guitar and no woodwind)
NAMED_SOLO_PROGRAMS = {"mallets": (8, 9, 11, 12, 13)}
ENSEMBLES = {  # top part first; the last program is repeated for further parts
    "strings": (40, 40, 41, 42, 43),
    "brass": (56, 56, 60, 57, 58),
    "saxophone": (65, 64, 66, 67),
    "woodwinds": (73, 68, 71, 70),
    "choir": (52, 52, 52, 52),
}
# an orchestra by register: each part a string section (top: violins, inner: violins or violas, lowest: celli
# with contrabasses an octave below), doubled by winds of the same register; or a string orchestra alone; or a
# wind and brass band with no strings (orchestral texture that is not strings)
ORCHESTRA_STRINGS = {"top": (40, 40, 48, 49), "inner": (40, 41, 41, 48), "low": (42,)}
ORCHESTRA_WINDS = {"top": (73, 68, 71, 56), "inner": (71, 68, 60, 57), "low": (70, 58, 60)}
ORCHESTRA_KINDS = ("full", "full", "strings", "winds")
MIN_STYLED_PARTS = 3  # parts a score needs for an orchestra or a band
# a band: the top part a lead, the inner parts as chords on one or two rhythm instruments, the lowest on a bass,
# and a drum kit throughout (the textures of rock, pop, country and jazz that `mixed` lacks)
BAND_LEADS = {
    "distorted_guitar": (29, 30),
    "electric_guitar": (26, 27),
    "saxophone": (65, 66),
    "trumpet": (56,),
    "synth": (80, 81),
    "piano": (0, 1),
    "organ": (16, 17),
    "flute": (73,),
}
BAND_RHYTHM = {
    "acoustic_guitar": (24, 25),
    "electric_guitar": (26, 27),
    "distorted_guitar": (29, 30),
    "piano": (0, 1, 4),
    "organ": (16, 17),
    "synth": (88, 89),
}
BAND_BASS = (33, 33, 34, 32, 35, 38)
DRUM_GENRES = ("rock", "pop", "disco", "hiphop", "country", "reggae", "blues", "jazz", "metal")
DRUM_KITS = (0, 0, 0, 8, 16, 24, 25, 32, 40)


@dataclass(frozen=True)
class Stem:
    name: str
    program: int  # GM program, or the drum kit for drums
    is_drum: bool
    notes: np.ndarray  # (n, 4): start s, end s, pitch, velocity, in the render's time
    concepts: tuple[str, ...]
    uncertain: tuple[str, ...]
    gain_db: float
    effects: tuple[tuple[str, dict], ...]


@dataclass(frozen=True)
class Arrangement:
    arrangement_id: str
    piece_id: str
    style: str  # solo | ensemble | mixed | original | orchestra | band
    seconds: float
    offset_s: float  # the excerpt's start in the piece (the piece's own time)
    tempo_changes: np.ndarray  # (k, 2): render time s, quarter notes per minute
    stems: tuple[Stem, ...]
    master: tuple[tuple[str, dict], ...]
    target_lufs: float
    background: dict | None  # {"path", "gain_db", "offset_s"}: a real recording under the render


def _pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


def _fit_register(notes: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Shift by octaves until the mean pitch lies in [lo, hi]."""
    notes = notes.copy()
    if len(notes) == 0:
        return notes
    while notes[:, 2].mean() > hi:
        notes[:, 2] -= 12
    while notes[:, 2].mean() < lo:
        notes[:, 2] += 12
    notes[:, 2] = np.clip(notes[:, 2], 0, 127)
    return notes


def _excerpt(notes: np.ndarray, scale: float, offset: float, seconds: float) -> np.ndarray:
    """Notes in render time: the piece's time divided by `scale`, shifted by `offset`, clipped to [0, seconds]."""
    n = notes.copy()
    n[:, :2] = n[:, :2] / scale - offset
    n = n[(n[:, 1] > 0) & (n[:, 0] < seconds)]
    n[:, 0] = np.maximum(n[:, 0], 0.0)
    n[:, 1] = np.minimum(n[:, 1], seconds)
    return n[n[:, 1] - n[:, 0] >= MIN_NOTE_S]


def _mean_pitch(p: Part) -> float:
    return float(p.notes[:, 2].mean()) if len(p.notes) else 0.0


def _effects_for(rng: np.random.Generator, program: int, is_drum: bool) -> tuple[tuple[tuple[str, dict], ...], bool]:
    fx: list[tuple[str, dict]] = []
    distorted = False
    if not is_drum and (program in DISTORTABLE and rng.random() < 0.5 or program in (29, 30) and rng.random() < 0.3):
        fx.append(("distortion", {"drive_db": float(rng.uniform(18, 36)), "tone_hz": float(rng.uniform(3500, 7000))}))
        distorted = True
    if rng.random() < 0.3:
        fx.append(
            (
                "peak_eq",
                {
                    "hz": float(np.exp(rng.uniform(np.log(150), np.log(6000)))),
                    "gain_db": float(rng.uniform(-8, 8)),
                    "q": float(rng.uniform(0.5, 2.0)),
                },
            )
        )
    if rng.random() < 0.2:
        fx.append(("compressor", {"threshold_db": float(rng.uniform(-30, -12)), "ratio": float(rng.uniform(2, 6))}))
    return tuple(fx), distorted


def _stem(name: str, notes: np.ndarray, program: int, is_drum: bool, rng: np.random.Generator, gain_db: float) -> Stem:
    fx, distorted = _effects_for(rng, program, is_drum)
    vel = notes[:, 3] * rng.uniform(0.75, 1.15) + rng.normal(0, 6, len(notes))
    notes = np.column_stack([notes[:, :3], np.clip(np.round(vel), 20, 127)]) if len(notes) else notes
    return Stem(
        name,
        int(program),
        is_drum,
        notes,
        concepts_of(program, is_drum, distorted),
        uncertain_concepts_of(program, is_drum),
        float(gain_db),
        fx,
    )


def _span(notes: np.ndarray, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Keep the notes of a random sub-span (at least 4 s, at most 70 % of the excerpt), so the stem also rests."""
    length = rng.uniform(min(4.0, seconds * 0.5), seconds * 0.7)
    a = rng.uniform(0, seconds - length)
    keep = (notes[:, 0] >= a) & (notes[:, 1] <= a + length)
    return notes[keep]


def _drums(
    piece: Piece, qpm: float, offset: float, scale: float, seconds: float, rng: np.random.Generator
) -> np.ndarray:
    """Drum notes from the project's synthetic patterns at the render's tempo, bars starting on the piece's downbeat."""
    from audioconcept.data.synth.score import ClipSpec, compose
    from audioconcept.data.synth.soundfont import DRUMS

    genre = _pick(rng, DRUM_GENRES)
    concepts = {"drums", "backbeat"} | ({"four_on_the_floor"} if genre == "disco" else set())
    concepts |= {"swing"} if genre in ("jazz", "blues") and rng.random() < 0.7 else set()
    bar = 4 * 60.0 / qpm
    spec = ClipSpec(genre, seconds + 2 * bar, float(qpm), 0, False, frozenset(concepts), seed=int(rng.integers(2**31)))
    notes = [
        (n.start, n.start + max(n.dur, 0.05), n.pitch, n.velocity * 110)
        for n in compose(spec).notes
        if n.instrument in DRUMS
    ]
    arr = np.asarray(notes, dtype=np.float64).reshape(-1, 4)
    phase = (piece.downbeat_s / scale - offset) % bar  # render time of a downbeat in [0, bar)
    arr[:, :2] += phase - bar
    arr = arr[(arr[:, 0] >= 0) & (arr[:, 0] < seconds)]
    arr[:, 1] = np.minimum(arr[:, 1], seconds)
    return arr[arr[:, 1] - arr[:, 0] >= 0.01]


def _register(i: int, n: int) -> str:
    return "top" if i == 0 else "low" if i == n - 1 else "inner"


def _orchestra(melodic: list[Part], clip: dict, rng: np.random.Generator) -> list[Stem]:
    """The parts of a score (highest first) given to an orchestra's sections by register (ORCHESTRA_KINDS)."""
    kind = _pick(rng, ORCHESTRA_KINDS)
    n = len(melodic)
    doubled = rng.random(n) < (0.5 if kind == "full" else 0.0)
    if kind == "full" and not doubled.any():
        doubled[int(rng.integers(n))] = True
    stems: list[Stem] = []
    for i, p in enumerate(melodic):
        reg = _register(i, n)
        notes = clip[id(p)]
        if reg == "low":
            notes = _fit_register(notes, 40, 55)
        if kind in ("full", "strings"):
            stems.append(_stem(p.name, notes, _pick(rng, ORCHESTRA_STRINGS[reg]), False, rng, rng.normal(0, 2)))
            if reg == "low" and rng.random() < 0.6 and len(notes):
                basses = notes.copy()
                basses[:, 2] = np.clip(basses[:, 2] - 12, 28, 127)
                stems.append(_stem(f"{p.name} (contrabass)", basses, 43, False, rng, rng.normal(-3, 2)))
        if kind == "winds" or doubled[i]:
            gain = rng.normal(0, 2) if kind == "winds" else rng.normal(-4, 2)
            stems.append(_stem(f"{p.name} (winds)", notes, _pick(rng, ORCHESTRA_WINDS[reg]), False, rng, gain))
    return stems


def _band(melodic: list[Part], clip: dict, rng: np.random.Generator) -> list[Stem]:
    """The parts of a score (highest first) given to a band: a lead on the top part, the inner parts as chords on
    one rhythm instrument (sometimes two), the lowest on a bass guitar in its register; the drums come from draw()."""
    lead_fam = _pick(rng, tuple(BAND_LEADS))
    stems = [
        _stem(
            f"{melodic[0].name} (lead)",
            _fit_register(clip[id(melodic[0])], 60, 79),
            _pick(rng, BAND_LEADS[lead_fam]),
            False,
            rng,
            rng.normal(1.0, 2),
        )
    ]
    inner = [clip[id(p)] for p in melodic[1:-1]]
    chords = _fit_register(np.concatenate(inner), 50, 67) if inner else np.zeros((0, 4))
    rhythm = [f for f in BAND_RHYTHM if f != lead_fam]
    for fam in [_pick(rng, rhythm)] + ([_pick(rng, rhythm)] if rng.random() < 0.35 else []):
        stems.append(_stem(f"chords ({fam})", chords, _pick(rng, BAND_RHYTHM[fam]), False, rng, rng.normal(-1, 2)))
    bass = _fit_register(clip[id(melodic[-1])], 31, 45)
    stems.append(_stem(f"{melodic[-1].name} (bass)", bass, _pick(rng, BAND_BASS), False, rng, rng.normal(0, 2)))
    return stems


def draw(
    piece: Piece,
    rng: np.random.Generator,
    arrangement_id: str,
    seconds_range: tuple[float, float] = (24.0, 42.0),
    backgrounds: tuple[str, ...] = (),
    p_background: float = 0.12,
    style: str | None = None,
    solo_family: str | None = None,
) -> Arrangement | None:
    """One arrangement of an excerpt of `piece`; None when the piece is too short or has no notes, or cannot take
    the `style` asked for ("orchestra", "band": a score of at least MIN_STYLED_PARTS parts; "solo": a score).
    Without `style`, the arrangement draws its own (solo, ensemble or mixed for a score; a MIDI file keeps its own
    parts). `solo_family` (with style "solo"): the soloist's family (a SOLO_FAMILIES one, or NAMED_SOLO_PROGRAMS')
    instead of a random one."""
    if style not in (None, "orchestra", "band", "solo"):
        raise ValueError(f"unknown arrangement style {style!r}")
    if solo_family is not None and (style != "solo" or solo_family not in {*SOLO_FAMILIES, *NAMED_SOLO_PROGRAMS}):
        raise ValueError(f"solo_family {solo_family!r} needs style 'solo' and a known family")
    parts = [p for p in piece.parts if len(p.notes)]
    melodic = sorted((p for p in parts if not p.is_drum), key=_mean_pitch, reverse=True)
    if style is not None and (not piece.from_score or len(melodic) < (1 if style == "solo" else MIN_STYLED_PARTS)):
        return None
    if piece.from_score:
        qpm = float(np.exp(rng.uniform(np.log(56), np.log(190))))
        scale = qpm / 60.0  # score time is in quarter notes (60 per minute)
        base_changes = np.array([[0.0, qpm]])
    else:
        scale = float(rng.uniform(0.85, 1.2))
        base_changes = piece.tempo_changes.copy()
        base_changes[:, 0] /= scale
        base_changes[:, 1] *= scale
    total = piece.duration / scale
    if total < MIN_SECONDS:
        return None
    seconds = float(min(rng.uniform(*seconds_range), total))
    offset = float(rng.uniform(0, total - seconds)) if total > seconds else 0.0
    tempo_changes = base_changes.copy()
    tempo_changes[:, 0] -= offset
    before = tempo_changes[:, 0] <= 0
    first = int(np.flatnonzero(before)[-1]) if before.any() else 0
    tempo_changes = tempo_changes[first:]
    tempo_changes[0, 0] = 0.0
    tempo_changes = tempo_changes[tempo_changes[:, 0] < seconds]
    clip = {id(p): _excerpt(p.notes, scale, offset, seconds) for p in parts}
    stems: list[Stem] = []

    if style is None and piece.from_score:
        style = _pick(rng, ("solo", "solo", "ensemble", "mixed", "mixed", "mixed")) if len(melodic) > 1 else "solo"
    elif style is None:
        style = "original"
    if style == "orchestra":
        stems += _orchestra(melodic, clip, rng)
    elif style == "band":
        stems += _band(melodic, clip, rng)
        kit = _drums(piece, float(base_changes[0, 1]), offset, scale, seconds, rng)
        stems.append(_stem("drums", kit, _pick(rng, DRUM_KITS), True, rng, rng.normal(0, 2)))
    elif style == "solo":
        fam = solo_family or _pick(rng, SOLO_FAMILIES)
        prog = _pick(rng, NAMED_SOLO_PROGRAMS.get(fam) or LEAD_PROGRAMS[fam])
        if fam == "mallets":  # the top line, up where tuned percussion rings
            notes = _fit_register(clip[id(melodic[0])], 60, 90)
        elif fam in POLYPHONIC:
            notes = np.concatenate([clip[id(p)] for p in melodic])
            notes = _fit_register(notes, 52, 76) if fam != "choir" else _fit_register(notes, 52, 70)
        else:
            notes = _fit_register(clip[id(melodic[0])], 62 if fam in ("flute", "violin") else 55, 84)
        stems.append(_stem(fam, notes, prog, False, rng, 0.0))
    elif style == "ensemble":
        fam = _pick(rng, tuple(ENSEMBLES) + ("piano", "organ"))
        if fam in ("piano", "organ"):
            notes = np.concatenate([clip[id(p)] for p in melodic])
            stems.append(_stem(fam, notes, _pick(rng, LEAD_PROGRAMS[fam]), False, rng, 0.0))
        else:
            progs = ENSEMBLES[fam]
            for i, p in enumerate(melodic):
                stems.append(_stem(p.name, clip[id(p)], progs[min(i, len(progs) - 1)], False, rng, rng.normal(0, 2)))
    elif style == "mixed":
        for i, p in enumerate(melodic):
            if i == len(melodic) - 1:
                prog = _pick(rng, BASS_PROGRAMS)
                notes = _fit_register(clip[id(p)], 36, 50) if prog in FAMILIES["bass"] else clip[id(p)]
            else:
                fam = _pick(rng, tuple(LEAD_PROGRAMS))
                prog = _pick(rng, LEAD_PROGRAMS[fam])
                notes = clip[id(p)]
                if fam in ("flute", "violin", "trumpet"):
                    notes = _fit_register(notes, 62, 84)
            if i > 0 and len(melodic) > 2 and rng.random() < 0.25:
                notes = _span(notes, seconds, rng)
            stems.append(_stem(p.name, notes, prog, False, rng, rng.normal(1.0 if i == 0 else 0.0, 3)))
    else:  # a MIDI file's own arrangement, its programs redrawn within their families
        for p in parts:
            if p.is_drum:
                stems.append(_stem(p.name, clip[id(p)], _pick(rng, DRUM_KITS), True, rng, rng.normal(0, 2)))
                continue
            prog = int(p.program or 0)
            fam = family_of(prog)
            if fam is not None and rng.random() < 0.7:
                prog = _pick(rng, FAMILIES[fam])
            notes = clip[id(p)]
            if len(parts) > 2 and rng.random() < 0.15:
                notes = _span(notes, seconds, rng)
            stems.append(_stem(p.name, notes, prog, False, rng, rng.normal(0, 3)))
    drummable = piece.from_score and style not in ("solo", "orchestra", "band") and piece.bar_quarters in (2.0, 4.0)
    if drummable and rng.random() < 0.4:
        drums = _drums(piece, float(base_changes[0, 1]), offset, scale, seconds, rng)
        if rng.random() < 0.3:
            drums = _span(drums, seconds, rng)
        stems.append(_stem("drums", drums, _pick(rng, DRUM_KITS), True, rng, rng.normal(0, 2)))
    stems = [s for s in stems if len(s.notes)]
    if not stems:
        return None
    master: list[tuple[str, dict]] = []
    if rng.random() < 0.4:
        master.append(("low_shelf", {"hz": float(rng.uniform(100, 300)), "gain_db": float(rng.uniform(-6, 6))}))
    if rng.random() < 0.4:
        master.append(("high_shelf", {"hz": float(rng.uniform(2500, 6000)), "gain_db": float(rng.uniform(-9, 6))}))
    if rng.random() < 0.35:
        master.append(("compressor", {"threshold_db": float(rng.uniform(-28, -10)), "ratio": float(rng.uniform(2, 5))}))
    if rng.random() < 0.55:
        master.append(
            (
                "reverb",
                {
                    "room": float(rng.uniform(0.1, 0.9)),
                    "damping": float(rng.uniform(0.2, 0.8)),
                    "wet": float(rng.uniform(0.05, 0.4)),
                },
            )
        )
    background = None
    if backgrounds and rng.random() < p_background:
        background = {
            "path": _pick(rng, backgrounds),
            "gain_db": float(rng.uniform(-14, -4)),
            "offset_s": float(rng.uniform(0, 60)),
        }
    return Arrangement(
        arrangement_id,
        piece.piece_id,
        style,
        seconds,
        offset * scale,
        tempo_changes,
        tuple(stems),
        tuple(master),
        float(rng.uniform(-30, -8)),
        background,
    )
