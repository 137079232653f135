"""Musical rules: genre profiles -> clip specification -> a score of note events.

The score is renderer-independent: `instruments.render_numpy` plays it with numpy
synthesis, `soundfont.render_soundfont` through a General MIDI soundfont.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CONCEPTS: tuple[str, ...] = (
    "drums",
    "four_on_the_floor",
    "backbeat",
    "swing",
    "offbeat_skank",
    "walking_bass",
    "distorted_guitar",
    "piano",
    "strings",
    "fast_tempo",
    "slow_tempo",
    "minor_mode",
    "lead_melody",
)

# Concepts that are an instrument layer and may therefore play only inside a span.
LAYER_CONCEPTS = ("drums", "offbeat_skank", "walking_bass", "distorted_guitar", "piano", "strings", "lead_melody")
# Drum-pattern concepts only exist while the drums play.
DRUM_CONCEPTS = ("four_on_the_floor", "backbeat")

FAST_BPM = 140.0
SLOW_BPM = 90.0


@dataclass(frozen=True)
class GenreProfile:
    tempo: tuple[float, float]
    p_minor: float
    p: dict[str, float]  # probability of each optional concept
    kick_style: str = "rock"  # rock | four | hiphop | onedrop | jazz | metal | none
    comp: str = "piano"  # the default harmony layer when no concept layer is drawn
    bass_style: str = "root"  # root | octave | walking | pedal


# Every concept keeps a small probability in every genre, so no concept is a genre label.
_BASE = {c: 0.08 for c in CONCEPTS if c not in ("fast_tempo", "slow_tempo", "minor_mode", "drums")}

PROFILES: dict[str, GenreProfile] = {
    "blues": GenreProfile(
        (65, 110),
        0.3,
        {
            **_BASE,
            "drums": 0.9,
            "swing": 0.7,
            "backbeat": 0.85,
            "piano": 0.5,
            "walking_bass": 0.35,
            "lead_melody": 0.6,
            "distorted_guitar": 0.12,
        },
        kick_style="rock",
        comp="shuffle_guitar",
        bass_style="boogie",
    ),
    "classical": GenreProfile(
        (60, 130),
        0.5,
        {
            **_BASE,
            "drums": 0.06,
            "strings": 0.9,
            "piano": 0.6,
            "lead_melody": 0.4,
            "backbeat": 0.0,
            "four_on_the_floor": 0.0,
            "distorted_guitar": 0.03,
            "offbeat_skank": 0.03,
        },
        kick_style="none",
        comp="organ",
        bass_style="pedal",
    ),
    "country": GenreProfile(
        (95, 150),
        0.12,
        {**_BASE, "drums": 0.9, "backbeat": 0.8, "piano": 0.3, "lead_melody": 0.5, "walking_bass": 0.15},
        kick_style="country",
        comp="boomchick",
        bass_style="root_fifth",
    ),
    "disco": GenreProfile(
        (110, 132),
        0.45,
        {**_BASE, "drums": 0.97, "four_on_the_floor": 0.92, "backbeat": 0.6, "strings": 0.55, "lead_melody": 0.3},
        kick_style="four",
        comp="scratch",
        bass_style="octave",
    ),
    "hiphop": GenreProfile(
        (78, 100),
        0.6,
        {
            **_BASE,
            "drums": 0.97,
            "backbeat": 0.9,
            "swing": 0.35,
            "piano": 0.35,
            "four_on_the_floor": 0.03,
            "strings": 0.15,
        },
        kick_style="hiphop",
        comp="pad",
        bass_style="sub",
    ),
    "jazz": GenreProfile(
        (95, 210),
        0.35,
        {
            **_BASE,
            "drums": 0.85,
            "swing": 0.9,
            "walking_bass": 0.85,
            "piano": 0.8,
            "lead_melody": 0.5,
            "backbeat": 0.05,
            "four_on_the_floor": 0.02,
        },
        kick_style="jazz",
        comp="organ_swing",
        bass_style="twofeel",
    ),
    "metal": GenreProfile(
        (100, 210),
        0.85,
        {
            **_BASE,
            "drums": 0.97,
            "distorted_guitar": 0.95,
            "backbeat": 0.7,
            "lead_melody": 0.25,
            "piano": 0.03,
            "swing": 0.02,
        },
        kick_style="metal",
        comp="dist",
        bass_style="gallop",
    ),
    "pop": GenreProfile(
        (90, 130),
        0.3,
        {
            **_BASE,
            "drums": 0.92,
            "backbeat": 0.75,
            "four_on_the_floor": 0.3,
            "strings": 0.35,
            "piano": 0.45,
            "lead_melody": 0.7,
        },
        kick_style="pop",
        comp="pluck",
        bass_style="synco",
    ),
    "reggae": GenreProfile(
        (66, 96),
        0.45,
        {**_BASE, "drums": 0.95, "offbeat_skank": 0.92, "backbeat": 0.1, "four_on_the_floor": 0.05, "lead_melody": 0.3},
        kick_style="onedrop",
        comp="organ",
        bass_style="onedrop",
    ),
    "rock": GenreProfile(
        (100, 160),
        0.4,
        {**_BASE, "drums": 0.97, "backbeat": 0.92, "distorted_guitar": 0.45, "piano": 0.2, "lead_melody": 0.35},
        kick_style="rock",
        comp="eighths_guitar",
        bass_style="eighths",
    ),
}

MAJOR_PROGS = ([0, 7, 9, 5], [0, 5, 7, 5], [0, 5, 0, 7], [0, 9, 5, 7])  # semitone roots of the chords
MINOR_PROGS = ([0, 8, 3, 10], [0, 5, 7, 0], [0, 10, 8, 7], [0, 3, 5, 7])
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)


@dataclass(frozen=True)
class ClipSpec:
    """Everything that decides a clip. `spans` maps layer concepts to a (start_bar, end_bar) range;
    a layer concept absent from `spans` but present in `concepts` plays throughout."""

    genre: str
    seconds: float
    tempo: float
    key: int
    minor: bool
    concepts: frozenset[str]
    spans: tuple[tuple[str, int, int], ...] = ()
    seed: int = 0


@dataclass(frozen=True)
class Note:
    instrument: str
    pitch: int  # MIDI note; drums use GM percussion numbers
    start: float
    dur: float
    velocity: float = 0.8


@dataclass
class Score:
    spec: ClipSpec
    notes: list[Note] = field(default_factory=list)
    truth: dict[str, list[list[float]]] = field(default_factory=dict)

    @property
    def beat(self) -> float:
        return 60.0 / self.spec.tempo


def _bool(rng: np.random.Generator, p: float) -> bool:
    return bool(rng.random() < p)


def sample_spec(
    genre: str,
    rng: np.random.Generator,
    seconds: float = 30.0,
    force_on: tuple[str, ...] = (),
    force_off: tuple[str, ...] = (),
    p_span: float = 0.3,
) -> ClipSpec:
    """Draw a clip for `genre`; concepts in force_on are present throughout."""
    prof = PROFILES[genre]
    lo, hi = prof.tempo
    if "fast_tempo" in force_on:
        lo, hi = max(lo, FAST_BPM + 5), max(hi, FAST_BPM + 40)
    if "slow_tempo" in force_on:
        lo, hi = min(lo, SLOW_BPM - 25), min(hi, SLOW_BPM - 5)
    if "fast_tempo" in force_off:
        hi = min(hi, FAST_BPM - 5)
        lo = min(lo, hi - 10)
    if "slow_tempo" in force_off:
        lo = max(lo, SLOW_BPM + 5)
        hi = max(hi, lo + 10)
    tempo = float(np.round(rng.uniform(lo, hi), 1))
    minor = _bool(rng, prof.p_minor)
    if "minor_mode" in force_on:
        minor = True
    if "minor_mode" in force_off:
        minor = False
    concepts = {c for c, p in prof.p.items() if _bool(rng, p)}
    concepts |= set(force_on)
    concepts -= set(force_off)
    if any(c in concepts for c in DRUM_CONCEPTS):
        concepts.add("drums")
    if "drums" not in concepts:
        concepts -= set(DRUM_CONCEPTS)
    if "four_on_the_floor" in concepts and prof.kick_style in ("onedrop",) and "four_on_the_floor" not in force_on:
        concepts.discard("four_on_the_floor")
    # derived concepts
    concepts.discard("fast_tempo")
    concepts.discard("slow_tempo")
    concepts.discard("minor_mode")
    if tempo > FAST_BPM:
        concepts.add("fast_tempo")
    if tempo < SLOW_BPM:
        concepts.add("slow_tempo")
    if minor:
        concepts.add("minor_mode")
    bar = 4 * 60.0 / tempo
    n_bars = max(1, int(np.ceil(seconds / bar)))
    spans = []
    for c in sorted(concepts & set(LAYER_CONCEPTS)):
        if c in force_on or n_bars < 6 or not _bool(rng, p_span):
            continue
        length = int(rng.integers(max(2, n_bars // 4), max(3, n_bars // 2) + 1))
        start = int(rng.integers(1, max(2, n_bars - length)))
        spans.append((c, start, min(n_bars, start + length)))
    return ClipSpec(
        genre,
        float(seconds),
        tempo,
        int(rng.integers(0, 12)),
        minor,
        frozenset(concepts),
        tuple(spans),
        int(rng.integers(0, 2**31 - 1)),
    )


def _chord(root_pc: int, minor_key: bool, degree_root: int, key: int) -> list[int]:
    """A triad on `degree_root` semitones above the key, diatonic quality."""
    scale = MINOR_SCALE if minor_key else MAJOR_SCALE
    pcs = [(key + s) % 12 for s in scale]
    root = (key + degree_root) % 12
    if root not in pcs:  # borrowed chord: major triad
        return [root, root + 4, root + 7]
    i = pcs.index(root)
    third = pcs[(i + 2) % 7]
    fifth = pcs[(i + 4) % 7]
    return [root, root + (third - root) % 12, root + (fifth - root) % 12]


def compose(spec: ClipSpec) -> Score:
    """Turn a clip specification into note events plus ground-truth concept spans."""
    rng = np.random.default_rng(spec.seed)
    prof = PROFILES[spec.genre]
    score = Score(spec)
    beat = 60.0 / spec.tempo
    bar = 4 * beat
    n_bars = max(1, int(np.ceil(spec.seconds / bar)))
    span_of = {c: (s, e) for c, s, e in spec.spans}
    swing = "swing" in spec.concepts

    def active(concept: str, b: int) -> bool:
        if concept not in spec.concepts:
            return False
        s, e = span_of.get(concept, (0, n_bars))
        return s <= b < e

    def eighth(b: int, beat_i: int, off: bool) -> float:
        t = b * bar + beat_i * beat
        return t + (beat * (2 / 3 if swing else 0.5) if off else 0.0)

    progs = MINOR_PROGS if spec.minor else MAJOR_PROGS
    prog = progs[int(rng.integers(len(progs)))]
    bars_per_chord = 1 if spec.tempo < 130 else 2
    key_base = 48 + spec.key  # C3 + key
    add = score.notes.append
    scale = MINOR_SCALE if spec.minor else MAJOR_SCALE
    kick_style = "four" if "four_on_the_floor" in spec.concepts else prof.kick_style
    if kick_style == "four" and "four_on_the_floor" not in spec.concepts:
        kick_style = "rock"
    backbeat_on = "backbeat" in spec.concepts
    melody_pc = 0
    for b in range(n_bars):
        chord = _chord(0, spec.minor, prog[(b // bars_per_chord) % len(prog)], spec.key)
        root = key_base + (chord[0] - spec.key) % 12 + 0  # within the octave above key_base
        # ---- drums
        if active("drums", b):
            four = active("four_on_the_floor", b)
            for i in range(4):
                t = b * bar + i * beat
                if four:
                    add(Note("kick", 36, t, 0.3, 0.95))
                elif kick_style in ("rock", "pop", "country") and i in (0, 2):
                    add(Note("kick", 36, t, 0.3, 0.9))
                elif kick_style == "hiphop" and i == 0:
                    add(Note("kick", 36, t, 0.3, 0.95))
                    add(Note("kick", 36, t + 1.75 * beat, 0.3, 0.8))
                    add(Note("kick", 36, t + 2.5 * beat, 0.3, 0.85))
                elif kick_style == "onedrop" and i == 2:
                    add(Note("kick", 36, t, 0.3, 0.9))
                    if not active("backbeat", b):
                        add(Note("rim", 37, t, 0.1, 0.8))
                elif kick_style == "metal":
                    for k in range(4 if spec.tempo < 170 else 2):
                        add(Note("kick", 36, t + k * beat / 4 * (2 if spec.tempo >= 170 else 1), 0.2, 0.8))
                elif kick_style == "jazz" and i == 0 and b % 2 == 0:
                    add(Note("kick", 36, t, 0.3, 0.5))
                if backbeat_on and active("backbeat", b) and i in (1, 3):
                    add(Note("snare", 38, t, 0.2, 0.9))
                if i == 0 and b % 4 == 0 and kick_style in ("rock", "metal", "pop"):
                    add(Note("crash", 49, t, 1.0, 0.6))
                if kick_style == "jazz" or (swing and kick_style in ("rock", "hiphop") and b % 2):
                    add(Note("ride", 51, t, 0.6, 0.6))
                    if i in (1, 3):
                        add(Note("ride", 51, eighth(b, i, True), 0.4, 0.45))
                        add(Note("hat_closed", 44, t, 0.05, 0.5))  # foot hi-hat on 2 and 4
                elif kick_style == "four":
                    add(Note("hat_closed", 42, t, 0.05, 0.5))
                    add(Note("hat_open", 46, eighth(b, i, True), 0.25, 0.6))
                elif kick_style == "pop":
                    for k in range(4):
                        add(Note("hat_closed", 42, t + k * beat / 4, 0.05, 0.5 if k % 2 else 0.6))
                    if i in (1, 3) and backbeat_on and active("backbeat", b):
                        add(Note("clap", 39, t, 0.2, 0.7))
                elif kick_style == "country":
                    add(Note("rim", 37, eighth(b, i, True), 0.05, 0.35))
                    add(Note("hat_closed", 42, t, 0.05, 0.5))
                else:
                    add(Note("hat_closed", 42, t, 0.05, 0.6))
                    add(Note("hat_closed", 42, eighth(b, i, True), 0.05, 0.45))
        # ---- bass
        walking = active("walking_bass", b)
        bass_root = root - 12 if root - 12 >= 36 else root
        if walking:
            tones = [bass_root, bass_root + (chord[1] - chord[0]) % 12, bass_root + 7]
            nxt = _chord(0, spec.minor, prog[((b + 1) // bars_per_chord) % len(prog)], spec.key)
            nxt_root = key_base + (nxt[0] - spec.key) % 12 - 12
            if nxt_root < 36:
                nxt_root += 12
            line = [
                tones[0],
                tones[int(rng.integers(1, 3))],
                tones[2] + int(rng.choice([0, 2])),
                nxt_root + int(rng.choice([-1, 1])),
            ]
            for i, p in enumerate(line):
                add(Note("bass", int(p), b * bar + i * beat, beat * 0.9, 0.85))
        else:
            third = (chord[1] - chord[0]) % 12
            style = prof.bass_style
            pats: dict[str, list[tuple[float, int, float]]] = {  # (beat position, interval, length in beats)
                "octave": [(i / 2, 12 * (i % 2), 0.45) for i in range(8)],
                "boogie": [
                    (0, 0, 0.6),
                    (2 / 3, 0, 0.3),
                    (1, third, 0.6),
                    (5 / 3, third, 0.3),
                    (2, 7, 0.6),
                    (8 / 3, 7, 0.3),
                    (3, 9, 0.6),
                    (11 / 3, 9, 0.3),
                ],
                "root_fifth": [(0, 0, 0.9), (2, -5, 0.9)],
                "sub": [(0, -12, 1.6), (1.75, -12, 0.7), (2.5, -12, 1.4)],
                "twofeel": [(0, 0, 1.8), (2, 7, 1.8)],
                "gallop": [(i / 4, 0, 0.22) for i in range(16) if i % 4 != 1],
                "synco": [(0, 0, 1.3), (1.5, 0, 0.8), (2.5, 7, 0.4), (3, 0, 0.8)],
                "onedrop": [(0.5, 0, 0.4), (1.0, third, 0.8), (2.0, 7, 0.4), (2.5, 0, 1.2)],
                "eighths": [(i / 2, 0, 0.45) for i in range(8)],
                "root": [(0, 0, 0.8), (2, 0, 0.8), (2.5, 0, 0.8)],
            }
            if style == "pedal":
                if b % 2 == 0:
                    add(Note("bass", bass_root, b * bar, 2 * bar * 0.95, 0.5))
            else:
                for pos, iv, ln in pats.get(style, pats["root"]):
                    p = bass_root + iv
                    t = eighth(b, int(pos), True) if swing and pos % 1 == 0.5 else b * bar + pos * beat
                    add(Note("bass", int(p if p >= 28 else p + 12), t, ln * beat, 0.85))
        # ---- harmony layers
        voicing = [root + (c - chord[0]) % 12 for c in chord]
        if active("distorted_guitar", b):
            pc = [root - 12, root - 5, root]
            per = 8 if spec.tempo < 170 else 4
            for k in range(per):
                for p in pc:
                    add(Note("dist_guitar", p, b * bar + k * bar / per, bar / per * 0.9, 0.85))
        if active("offbeat_skank", b):
            for i in range(4):
                for p in voicing:
                    add(Note("skank", p + 12, eighth(b, i, True), beat * 0.18, 0.75))
        if active("piano", b):
            if swing:
                hits = [(1.0 + 2 / 3 - 1, 0.6), (2.0 + 2 / 3, 0.6)]
            elif spec.genre == "classical":
                hits = [(i / 2, 0.45) for i in range(8)]  # arpeggio
            else:
                hits = [(0.0, 1.5), (2.0, 1.5)]
            for j, (pos, d) in enumerate(hits):
                notes = voicing if spec.genre != "classical" else [voicing[j % 3] + 12 * (j // 3 % 2)]
                for p in notes:
                    add(Note("piano", p + 12, b * bar + pos * beat, d * beat, 0.7))
        if active("strings", b) and b % bars_per_chord == 0:
            for p in voicing:
                add(Note("strings", p + 12, b * bar, bar * bars_per_chord, 0.55))
        # the genre's default accompaniment when no concept layer is playing
        if not any(active(c, b) for c in ("distorted_guitar", "offbeat_skank", "piano", "strings")):
            comp = prof.comp
            if comp == "shuffle_guitar":  # blues shuffle comp: root-fifth / root-sixth on swung eighths
                for i in range(4):
                    for j, off in enumerate((False, True)):
                        for p in (root - 12, root - 5 + (2 if i % 2 and j else 0)):
                            add(Note("clean_guitar", p, eighth(b, i, off), beat * 0.3, 0.6))
            elif comp == "boomchick":  # country: strum on 2 and 4
                for i in (1, 3):
                    for j, p in enumerate(voicing + [voicing[0] + 12]):
                        add(Note("clean_guitar", p, b * bar + i * beat + j * 0.015, beat * 0.45, 0.6))
            elif comp == "scratch":  # disco: muted 16th-note guitar scratches
                for k in range(16):
                    if k % 4 != 0:
                        add(Note("clean_guitar", voicing[k % 3] + 12, b * bar + k * beat / 4, 0.05, 0.45))
            elif comp == "pad":
                for p in voicing:
                    add(Note("organ", p, b * bar, bar * 0.98, 0.35))
            elif comp == "organ_swing":
                for pos in (0.0, 1.0 + 2 / 3 if swing else 1.5):
                    for p in voicing:
                        add(Note("organ", p + 12, b * bar + pos * beat, beat * 0.5, 0.45))
            elif comp == "dist":
                for k in range(8):
                    add(
                        Note(
                            "clean_guitar",
                            (root - 12, root - 5, root, root - 5)[k % 4],
                            b * bar + k * beat / 2,
                            beat * 0.45,
                            0.6,
                        )
                    )
            elif comp == "pluck":
                for pos in (0.0, 1.5, 2.5, 3.5):
                    for p in voicing:
                        add(Note("pluck", p + 12, b * bar + pos * beat, beat * 0.4, 0.55))
            elif comp == "eighths_guitar":
                for k in range(8):
                    for p in (root - 12, root - 5, root):
                        add(Note("clean_guitar", p, b * bar + k * beat / 2, beat * 0.45, 0.5))
            else:  # organ chords
                for p in voicing:
                    add(Note("organ", p + 12, b * bar, bar * 0.95, 0.4))
        # ---- lead melody
        if active("lead_melody", b):
            for i in range(4):
                if rng.random() < 0.2:
                    continue
                melody_pc = int(np.clip(melody_pc + rng.integers(-2, 3), -3, 9))
                p = key_base + 24 + scale[melody_pc % 7] + 12 * (melody_pc // 7)
                t = eighth(b, i, bool(rng.random() < 0.3))
                add(Note("lead", int(p), t, beat * 0.9, 0.6))
    # keep only what sounds inside the clip
    score.notes = [n for n in score.notes if n.start < spec.seconds]
    score.truth = _truth(spec, n_bars, bar)
    return score


def _truth(spec: ClipSpec, n_bars: int, bar: float) -> dict[str, list[list[float]]]:
    span_of = {c: (s, e) for c, s, e in spec.spans}
    truth: dict[str, list[list[float]]] = {}
    for c in sorted(spec.concepts):
        s, e = span_of.get(c, (0, n_bars))
        if c in DRUM_CONCEPTS and "drums" in span_of:
            ds, de = span_of["drums"]
            s, e = max(s, ds), min(e, de)
            if e <= s:
                continue
        start = round(min(s * bar, spec.seconds), 3)
        end = round(min(e * bar, spec.seconds), 3)
        if end > start:
            truth[c] = [[start, end]]
    return truth
