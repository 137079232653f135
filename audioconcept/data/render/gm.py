"""General MIDI programs grouped into the instrument concepts musicians name."""

from __future__ import annotations

# concept -> GM programs (0-based); drums are channel 10, not a program
FAMILIES: dict[str, tuple[int, ...]] = {
    "piano": (0, 1, 2, 3, 4, 5),
    "organ": (16, 17, 18, 19, 20),
    "acoustic_guitar": (24, 25),
    "electric_guitar": (26, 27, 28),
    "distorted_guitar": (29, 30),
    "bass": (32, 33, 34, 35, 36, 37, 38, 39),
    "strings": (40, 41, 42, 43, 44, 48, 49),
    "brass": (56, 57, 58, 59, 60, 61),
    "saxophone": (64, 65, 66, 67),
    "woodwinds": (68, 69, 70, 71, 72, 73, 74, 75),
    "synth": tuple(range(80, 96)) + (38, 39),
    "choir": (52, 53),
}
# concepts that are a subset of a family
SUBSETS: dict[str, tuple[int, ...]] = {"violin": (40,), "cello": (42,), "trumpet": (56, 59), "flute": (72, 73)}
INSTRUMENT_CONCEPTS: tuple[str, ...] = (
    "piano",
    "organ",
    "acoustic_guitar",
    "electric_guitar",
    "distorted_guitar",
    "bass",
    "drums",
    "strings",
    "violin",
    "cello",
    "brass",
    "trumpet",
    "saxophone",
    "woodwinds",
    "flute",
    "synth",
    "choir",
)
# clean electric guitars that a distortion effect turns into a distorted guitar
DISTORTABLE = (26, 27)
NO_REAL_SOURCE = ("female_voice", "male_voice", "sung_words", "sitar")


def concepts_of(program: int, is_drum: bool = False, distorted: bool = False) -> tuple[str, ...]:
    """The instrument concepts a stem played by `program` (or the drum channel) belongs to."""
    if is_drum:
        return ("drums",)
    if distorted and program in DISTORTABLE:
        return ("distorted_guitar",)
    out = [c for c, progs in FAMILIES.items() if program in progs]
    out += [c for c, progs in SUBSETS.items() if program in progs]
    unsure = AMBIGUOUS.get(program, ())  # a program between concepts is no certain member of them
    return tuple(c for c in INSTRUMENT_CONCEPTS if c in out and c not in unsure)


# programs whose sound sits between concepts: while such a stem plays, these concepts are uncertain (-1)
# rather than absent (a pizzicato section is strings; synth strings are strings or synth; ...)
AMBIGUOUS: dict[int, tuple[str, ...]] = {
    # electric pianos (a Rhodes, an FM piano) are keys that a musician does not call "piano" for certain; they stay
    # in FAMILIES["piano"] for drawing programs, and this table takes precedence in the truth (concepts_of)
    4: ("piano",),  # electric piano 1
    5: ("piano",),  # electric piano 2
    6: ("piano",),  # harpsichord
    7: ("piano",),  # clavinet
    21: ("organ",),  # accordion
    22: ("organ", "woodwinds"),  # harmonica
    23: ("organ",),  # tango accordion
    31: ("electric_guitar",),  # guitar harmonics
    # a viola sits between the violin and the cello (a soundfont's viola is often its violin sample played lower),
    # and a contrabass's bowed low notes overlap the cello's: while one plays, those concepts are uncertain, not
    # absent. A violin and a cello stay negatives for each other: their registers tell them apart, and a fiddle
    # called "cello" is a reason a musician rejects
    41: ("violin", "cello"),  # viola
    43: ("cello",),  # contrabass
    # a section patch holds its section's instruments: violins and celli play in a string ensemble, trumpets in
    # a brass section, though no note says which
    44: ("violin", "cello"),  # tremolo strings
    45: ("strings", "violin", "cello"),  # pizzicato strings
    48: ("violin", "cello"),  # string ensemble 1
    49: ("violin", "cello"),  # string ensemble 2
    50: ("strings", "synth"),
    51: ("strings", "synth"),
    54: ("choir", "synth"),  # synth voice
    55: ("strings", "synth"),  # orchestra hit
    61: ("trumpet",),  # brass section
    62: ("brass", "synth"),
    63: ("brass", "synth"),
    76: ("woodwinds", "flute"),  # blown bottle
    77: ("woodwinds", "flute"),  # shakuhachi
    78: ("woodwinds", "flute"),  # whistle
    79: ("woodwinds", "flute"),  # ocarina
    110: ("strings", "violin"),  # fiddle
    111: ("woodwinds",),  # shanai
}


def uncertain_concepts_of(program: int, is_drum: bool = False) -> tuple[str, ...]:
    return () if is_drum else AMBIGUOUS.get(program, ())


def stem_truth(stem: dict) -> dict:
    """A stored stem ({"program", "is_drum", "concepts", "intervals"}: a render's notes/*.json) with its concepts
    and uncertain concepts as the current tables give them, so a concept added later (cello) needs no re-render.
    The distortion effect is read from the concepts stored with it; a stem without a program keeps its own."""
    if "program" not in stem:
        return stem
    distorted = "distorted_guitar" in stem.get("concepts", ()) and stem["program"] in DISTORTABLE
    return {
        **stem,
        "concepts": concepts_of(stem["program"], stem["is_drum"], distorted),
        "uncertain": uncertain_concepts_of(stem["program"], stem["is_drum"]),
    }


def family_of(program: int) -> str | None:
    """The family a program is re-drawn within when a MIDI file is re-arranged (None: keep the program)."""
    for c, progs in FAMILIES.items():
        if program in progs and c != "synth":
            return c
    return "synth" if program in FAMILIES["synth"] else None
