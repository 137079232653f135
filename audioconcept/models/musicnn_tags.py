"""The tag vocabularies of the musicnn models, with a clean concept name and a category per tag.

MSD: the 50 most frequent Last.fm tags of the Million Song Dataset; MTT: the 50 most frequent
MagnaTagATune tags (in the models' output order, from musicnn's configuration.py). Synonyms share
one concept ("female vocalists", "female", "woman", "female vocal", "female voice" -> "female
voice"), and every source tag is kept. Categories: genre (genres and styles) and era are
genre-named; instrument, voice, tempo, rhythm, loudness and mood are musical concepts, the ones a
genre head can rest on without explaining a genre by its own name. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass

MTT_TAGS: tuple[str, ...] = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano",
    "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing",
    "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal", "pop",
    "soft", "sitar", "solo", "man", "classic", "choir", "voice", "new age", "dance", "male voice",
    "female vocal", "beats", "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral",
)  # fmt: skip

MSD_TAGS: tuple[str, ...] = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s", "alternative rock",
    "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul", "indie rock", "Mellow",
    "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies", "blues", "hard rock",
    "ambient", "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
    "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb",
    "indie pop", "sad", "House", "happy",
)  # fmt: skip

SOURCES = {"MSD": MSD_TAGS, "MTT": MTT_TAGS}
GENRE_NAMED = ("genre", "era")
CATEGORIES = (*GENRE_NAMED, "instrument", "voice", "tempo", "rhythm", "loudness", "timbre", "mode", "mood")
# what a musician names first, in this order; moods come after them (concepts.validated)
MUSICAL_FIRST = ("instrument", "voice", "rhythm", "tempo", "loudness", "timbre", "mode")

# concepts that no musicnn tag names, shown by a probe on the embedding (concepts.probes) -> category
PROBE_CONCEPTS: dict[str, str] = {
    "acoustic guitar": "instrument",
    "electric guitar": "instrument",
    "distorted guitar": "instrument",
    "bass": "instrument",
    "organ": "instrument",
    "brass": "instrument",
    "trumpet": "instrument",
    "saxophone": "instrument",
    "woodwind": "instrument",
    "bright": "timbre",
    "dark": "timbre",
    "percussive": "rhythm",
    "harmonic": "rhythm",
    "minor": "mode",
    "major": "mode",
}

# concept -> (category, source tags "SOURCE:tag")
CONCEPTS: dict[str, tuple[str, tuple[str, ...]]] = {
    # genres and styles
    "rock": ("genre", ("MSD:rock", "MTT:rock")),
    "pop": ("genre", ("MSD:pop", "MTT:pop")),
    "alternative": ("genre", ("MSD:alternative",)),
    "indie": ("genre", ("MSD:indie",)),
    "electronic": ("genre", ("MSD:electronic", "MTT:electronic", "MSD:electronica")),
    "dance": ("genre", ("MSD:dance", "MTT:dance")),
    "alternative rock": ("genre", ("MSD:alternative rock",)),
    "jazz": ("genre", ("MSD:jazz",)),
    "metal": ("genre", ("MSD:metal", "MTT:metal")),
    "chillout": ("genre", ("MSD:chillout",)),
    "classic rock": ("genre", ("MSD:classic rock",)),
    "soul": ("genre", ("MSD:soul",)),
    "indie rock": ("genre", ("MSD:indie rock",)),
    "folk": ("genre", ("MSD:folk",)),
    "punk": ("genre", ("MSD:punk",)),
    "blues": ("genre", ("MSD:blues",)),
    "hard rock": ("genre", ("MSD:hard rock",)),
    "ambient": ("genre", ("MSD:ambient", "MTT:ambient")),
    "experimental": ("genre", ("MSD:experimental",)),
    "hip hop": ("genre", ("MSD:Hip-Hop",)),
    "country": ("genre", ("MSD:country", "MTT:country")),
    "easy listening": ("genre", ("MSD:easy listening",)),
    "funk": ("genre", ("MSD:funk",)),
    "electro": ("genre", ("MSD:electro",)),
    "heavy metal": ("genre", ("MSD:heavy metal",)),
    "progressive rock": ("genre", ("MSD:Progressive rock",)),
    "r&b": ("genre", ("MSD:rnb",)),
    "indie pop": ("genre", ("MSD:indie pop",)),
    "house": ("genre", ("MSD:House",)),
    "classical": ("genre", ("MTT:classical", "MTT:classic")),
    "techno": ("genre", ("MTT:techno",)),
    "indian": ("genre", ("MTT:indian",)),
    "opera": ("genre", ("MTT:opera",)),
    "new age": ("genre", ("MTT:new age",)),
    # eras
    "60s": ("era", ("MSD:60s",)),
    "70s": ("era", ("MSD:70s",)),
    "80s": ("era", ("MSD:80s",)),
    "90s": ("era", ("MSD:90s",)),
    "00s": ("era", ("MSD:00s",)),
    "oldies": ("era", ("MSD:oldies",)),
    # instruments and the instrumentation
    "guitar": ("instrument", ("MSD:guitar", "MTT:guitar")),
    "acoustic": ("instrument", ("MSD:acoustic",)),
    "strings": ("instrument", ("MTT:strings",)),
    "drums": ("instrument", ("MTT:drums",)),
    "piano": ("instrument", ("MTT:piano",)),
    "violin": ("instrument", ("MTT:violin",)),
    "synth": ("instrument", ("MTT:synth",)),
    "harpsichord": ("instrument", ("MTT:harpsichord",)),
    "flute": ("instrument", ("MTT:flute",)),
    "sitar": ("instrument", ("MTT:sitar",)),
    "harp": ("instrument", ("MTT:harp",)),
    "cello": ("instrument", ("MTT:cello",)),
    "solo": ("instrument", ("MTT:solo",)),
    # voices
    "female voice": (
        "voice",
        (
            "MSD:female vocalists",
            "MSD:female vocalist",
            "MTT:female",
            "MTT:woman",
            "MTT:female vocal",
            "MTT:female voice",
        ),
    ),
    "male voice": ("voice", ("MSD:male vocalists", "MTT:male", "MTT:man", "MTT:male vocal", "MTT:male voice")),
    "vocals": ("voice", ("MTT:vocal", "MTT:vocals", "MTT:singing", "MTT:voice")),
    "instrumental": ("voice", ("MSD:instrumental", "MTT:no vocals", "MTT:no vocal", "MTT:no voice")),
    "choir": ("voice", ("MTT:choir", "MTT:choral")),
    # tempo and rhythm
    "fast": ("tempo", ("MTT:fast",)),
    "slow": ("tempo", ("MTT:slow",)),
    "beat": ("rhythm", ("MTT:beat", "MTT:beats")),
    # loudness
    "loud": ("loudness", ("MTT:loud",)),
    "quiet": ("loudness", ("MTT:quiet",)),
    "soft": ("loudness", ("MTT:soft",)),
    # mood and character
    "beautiful": ("mood", ("MSD:beautiful",)),
    "mellow": ("mood", ("MSD:Mellow",)),
    "chill": ("mood", ("MSD:chill",)),
    "party": ("mood", ("MSD:party",)),
    "sexy": ("mood", ("MSD:sexy",)),
    "catchy": ("mood", ("MSD:catchy",)),
    "sad": ("mood", ("MSD:sad",)),
    "happy": ("mood", ("MSD:happy",)),
    "weird": ("mood", ("MTT:weird",)),
}


@dataclass(frozen=True)
class TagInfo:
    source: str  # "MSD" or "MTT"
    tag: str  # the model's own tag name
    concept: str  # the clean vocabulary name, shared by synonyms
    category: str

    @property
    def label(self) -> str:
        """Unique across sources: "MSD:rock", "MTT:rock"."""
        return f"{self.source}:{self.tag}"

    @property
    def genre_named(self) -> bool:
        return self.category in GENRE_NAMED

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "source": self.source,
            "tag": self.tag,
            "concept": self.concept,
            "category": self.category,
            "genre_named": self.genre_named,
        }


def _build() -> dict[str, TagInfo]:
    out: dict[str, TagInfo] = {}
    for concept, (category, labels) in CONCEPTS.items():
        for label in labels:
            source, tag = label.split(":", 1)
            out[label] = TagInfo(source, tag, concept, category)
    return out


TAGS: dict[str, TagInfo] = _build()  # "SOURCE:tag" -> info


def tag_info(source: str) -> list[TagInfo]:
    """The infos of one model's outputs, in output order."""
    return [TAGS[f"{source}:{t}"] for t in SOURCES[source]]


def concept_names(include_genre_named: bool = True) -> list[str]:
    return [c for c, (cat, _) in CONCEPTS.items() if include_genre_named or cat not in GENRE_NAMED]
