"""Voice clips from Debian's `festival` (diphone voices: concatenated recordings of real speakers), singing the
SINGING-XML songs that festival ships at their notated pitches, and speaking short texts.

No instrument plays in them, so every instrument concept is exactly absent: they are training negatives that show
the concept probes a voice, which no score render holds (real singing and speech otherwise fire the brass,
synth and distorted-guitar probes; reports/notes/probe-experiments.md)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audioconcept.errors import AudioConceptError

SONGS_DIR = Path("/usr/share/doc/festival/examples/songs")
VOICES_DIR = Path("/usr/share/festival/voices")
TEXT2WAVE_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Voice:
    name: str  # festival's directory name, e.g. kal_diphone
    language: str  # english | italian
    sex: str  # female | male


# Debian packages: festvox-kallpc16k (kal), festvox-italp16k (lp, pc)
VOICES = (
    Voice("kal_diphone", "english", "male"),
    Voice("lp_diphone", "italian", "female"),
    Voice("pc_diphone", "italian", "male"),
)
# where each voice sings: the median sung pitch (MIDI) of each of its takes of a song; every song is transposed
# to land there. Festival sings an octave below the notation (pyin on daisy.xml: a median of 117 Hz where the
# notes' median is 233 Hz), and fails on notes much above that. The female voice sings where real women sing
# (A3, D4, G4; an A4 is beyond it for some songs), which is also where a voice is most easily taken for a flute.
REGISTERS = {"kal_diphone": (48, 55), "pc_diphone": (50,), "lp_diphone": (57, 62, 67)}
SUNG_BELOW_NOTATION = 12
TEXTS = {
    "english": (
        "The orchestra tuned for a long time before the concert began. Then the lights went down, and the hall "
        "was quiet except for a cough somewhere near the back.",
        "Take the second road on the left, walk past the old mill and the bakery, and you will see the station "
        "across the square, just after the bridge.",
    ),
    "italian": (
        "Il treno per Bologna parte alle otto e un quarto dal binario tre. Si prega di non lasciare i bagagli "
        "incustoditi nella sala d'attesa.",
        "Domani mattina andremo al mercato a comprare la frutta, il pane e un po' di formaggio, poi pranzeremo "
        "tutti insieme in giardino.",
    ),
}
NOTE = re.compile(r'NOTE="([^"]*)"')
BPM = re.compile(r'BPM="([\d.]+)"')


@dataclass(frozen=True)
class VoiceJob:
    clip_id: str
    voice: Voice
    mode: str  # singing | speech
    source: str  # the song's file name, or the text's index
    semitones: int = 0  # for a song: what moves it into the register (transposition_for)


def festival_voices() -> tuple[Voice, ...]:
    """The voices of VOICES that are installed, with text2wave on the PATH; () when festival is missing."""
    if shutil.which("text2wave") is None:
        return ()
    return tuple(v for v in VOICES if (VOICES_DIR / v.language / v.name).is_dir())


def songs() -> list[Path]:
    return sorted(SONGS_DIR.glob("*.xml")) if SONGS_DIR.is_dir() else []


def jobs(voices: tuple[Voice, ...] | None = None) -> list[VoiceJob]:
    """Every clip to make: each song by each voice (and its transpositions), each text of a voice's language."""
    voices = festival_voices() if voices is None else voices
    out = []
    for v in voices:
        for song in songs():
            median = song_median_pitch(song.read_text(encoding="utf-8", errors="replace"))
            if median is None:
                continue
            for target in REGISTERS.get(v.name, (55,)):
                k = transposition_for(median, target)
                out.append(VoiceJob(f"voice-{v.name.split('_')[0]}-{song.stem}-m{target}", v, "singing", song.name, k))
        for i, _ in enumerate(TEXTS[v.language]):
            out.append(VoiceJob(f"voice-{v.name.split('_')[0]}-speech{i}", v, "speech", str(i)))
    return out


def midi_of(note: str) -> int:
    """'Bb3' -> 58 (pretty_midi's reading of a note name)."""
    import pretty_midi

    try:
        return int(pretty_midi.note_name_to_number(note.strip()))
    except ValueError:
        raise AudioConceptError(f"not a note name: {note!r}") from None


def song_median_pitch(xml: str) -> float | None:
    """The median notated pitch (MIDI) of a SINGING-XML song; None when it has no notes."""
    try:
        notes = [midi_of(n) for m in NOTE.finditer(xml) for n in m.group(1).split(",") if n.strip()]
    except AudioConceptError:
        return None
    return float(np.median(notes)) if notes else None


def transposition_for(median_notated: float, sung_target: int) -> int:
    """Semitones that move a song whose notes' median is `median_notated` to a sung median of `sung_target`."""
    return int(round(sung_target + SUNG_BELOW_NOTATION - median_notated))


def transpose_pitch(note: str, semitones: int) -> str:
    """'Bb3' + 2 -> 'C4' (sharps in the result)."""
    import pretty_midi

    return str(pretty_midi.note_number_to_name(midi_of(note) + semitones))


def transpose_song(xml: str, semitones: int) -> str:
    """A SINGING-XML text with every NOTE="a,b" moved by `semitones`."""
    if semitones == 0:
        return xml

    def moved(m: re.Match) -> str:
        return 'NOTE="' + ",".join(transpose_pitch(n, semitones) for n in m.group(1).split(",")) + '"'

    return NOTE.sub(moved, xml)


def song_bpm(xml: str) -> float | None:
    m = BPM.search(xml)
    return float(m.group(1)) if m else None


def synthesize(job: VoiceJob) -> tuple[np.ndarray, int, float | None]:
    """-> (mono float32 audio, its sample rate, the song's tempo in BPM or None for speech), through text2wave."""
    import soundfile as sf

    with tempfile.TemporaryDirectory(prefix="ac-festival-") as tmp:
        wav = Path(tmp) / "out.wav"
        bpm = None
        if job.mode == "singing":
            xml = (SONGS_DIR / job.source).read_text(encoding="utf-8", errors="replace")
            bpm = song_bpm(xml)
            src = Path(tmp) / job.source
            src.write_text(transpose_song(xml, job.semitones))
            cmd = ["text2wave", "-mode", "singing", str(src), "-o", str(wav)]
        else:
            src = Path(tmp) / "text.txt"
            src.write_text(TEXTS[job.voice.language][int(job.source)] + "\n")
            cmd = ["text2wave", str(src), "-o", str(wav)]
        cmd += ["-eval", f"(voice_{job.voice.name})"]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=TEXT2WAVE_TIMEOUT_S, cwd=tmp)
        except subprocess.TimeoutExpired:
            raise AudioConceptError(f"{job.clip_id}: text2wave took over {TEXT2WAVE_TIMEOUT_S:.0f} s") from None
        if r.returncode != 0 or not wav.is_file():
            last = (r.stderr or r.stdout or "no output").strip().splitlines()[-1:]
            raise AudioConceptError(f"{job.clip_id}: text2wave failed ({' '.join(last)})")
        y, sr = sf.read(wav, dtype="float32", always_2d=True)
    return y.mean(axis=1), int(sr), bpm
