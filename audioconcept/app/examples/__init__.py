"""Songs the app offers one click away without any folder: `examples()` lists them (see README.md)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from audioconcept.data.tracks import AUDIO_SUFFIXES

TITLES = {"demo_song.ogg": "Demo song: reggae, metal, jazz, disco (synthetic, 48 s)"}


def examples() -> dict[str, Path]:
    """name -> path of each packaged example song."""
    root = Path(str(resources.files("audioconcept.app.examples")))
    return {p.name: p for p in sorted(root.iterdir()) if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()}


def rebuild(out: Path | None = None) -> Path:
    """Render demo_song.ogg again (numpy synthesiser; scipy from the train extra)."""
    import io
    import tempfile

    import soundfile as sf

    from audioconcept.data.audio import write_blocks
    from audioconcept.data.synth.demo_song import make_demo_song
    from audioconcept.utils import atomic_write_bytes

    out = out or Path(str(resources.files("audioconcept.app.examples"))) / "demo_song.ogg"
    with tempfile.TemporaryDirectory() as tmp:
        wav = make_demo_song(Path(tmp) / "demo.wav", seconds_per_section=12.0)
        audio, sr = sf.read(wav, dtype="float32")
    buf = io.BytesIO()
    write_blocks(buf, audio, sr, format="OGG", subtype="VORBIS")
    atomic_write_bytes(out, buf.getvalue())
    return out
