"""AudioConcept: find musical concepts inside genre classifiers, and ship them to the edge."""

__version__ = "0.1.0"

GTZAN_GENRES: tuple[str, ...] = (
    "blues",
    "classical",
    "country",
    "disco",
    "hiphop",
    "jazz",
    "metal",
    "pop",
    "reggae",
    "rock",
)
SAMPLE_RATE = 22_050
