"""Stems through a soundfont with FluidSynth (pyfluidsynth): one stem at a time, its own reverb and chorus off."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from audioconcept.errors import MissingExtra

log = logging.getLogger(__name__)


def _pretty_midi_timgm() -> list[Path]:
    from audioconcept.data.synth.soundfont import default_soundfont

    try:
        return [default_soundfont()]  # the TimGM6mb that pretty_midi ships
    except ImportError:
        return []


# soundfont id -> where it may be (first found wins); the licence of each is in docs/concept-data.md
SOUNDFONT_PLACES: dict[str, tuple[Path, ...]] = {
    "fluidr3_gm": (Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),),  # Debian fluid-soundfont-gm, MIT
    "musescore_general_lite": (Path("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"),),  # Debian, MIT
    "timgm6mb": (Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),),  # pretty_midi ships it too (GPL-2)
    # Debian csound-soundfont: csound's GM bank, public domain; other samples again, so that a probe learns the
    # instrument rather than two soundfonts' recordings of it
    "csound_gm": (Path("/usr/share/sounds/sf2/sf_GMbank.sf2"), Path("/usr/share/samples/sf_GMbank.sf2")),
}
TRAIN_SOUNDFONTS = ("fluidr3_gm", "musescore_general_lite", "csound_gm")
HELDOUT_SOUNDFONTS = ("timgm6mb",)
DRUM_CHANNEL = 9
DRUM_BANK = 128


def soundfont_path(sf_id: str) -> Path | None:
    places = list(SOUNDFONT_PLACES.get(sf_id, ()))
    if sf_id == "timgm6mb":
        places += _pretty_midi_timgm()
    return next((p for p in places if p.is_file()), None)


def available_soundfonts() -> dict[str, Path]:
    return {sf: p for sf in SOUNDFONT_PLACES if (p := soundfont_path(sf)) is not None}


def fluidsynth_available() -> tuple[bool, str]:
    try:
        import fluidsynth  # noqa: F401
    except Exception as e:  # ImportError, or OSError/ImportError when libfluidsynth is missing
        return (
            False,
            f"pyfluidsynth/libfluidsynth unavailable: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
        )
    return True, ""


def _quiet_fluidsynth() -> None:
    """FluidSynth prints a warning line per odd sample of a soundfont (thousands for MuseScore_General): log only
    its errors. Best effort: an older binding without the C handle stays verbose."""
    import ctypes

    import fluidsynth

    lib = getattr(fluidsynth, "_fl", None)
    if lib is None or not hasattr(lib, "fluid_set_log_function"):
        return
    lib.fluid_set_log_function.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    for level in (2, 3, 4):  # FLUID_WARN, FLUID_INFO, FLUID_DBG
        lib.fluid_set_log_function(level, None, None)


class StemRenderer:
    """Plays note lists through one soundfont. A fresh synthesizer per `session()` keeps the output
    independent of what was rendered before (FluidSynth's dither position), while a holder synthesizer
    keeps the decoded samples cached, so each fresh load costs a fraction of a second."""

    def __init__(self, sf_path: str | Path, sr: int = 22050) -> None:
        ok, why = fluidsynth_available()
        if not ok:
            raise MissingExtra("pyfluidsynth", "render", f"rendering concept audio ({why})")
        _quiet_fluidsynth()
        self.sf_path, self.sr = str(sf_path), int(sr)
        self._holder = self._new_synth()[0]

    def _new_synth(self):
        import fluidsynth

        synth = fluidsynth.Synth(
            gain=0.2,
            samplerate=float(self.sr),
            **{"synth.reverb.active": 0, "synth.chorus.active": 0, "synth.polyphony": 512},
        )
        sfid = synth.sfload(self.sf_path)
        if sfid < 0:
            raise RuntimeError(f"FluidSynth could not load {self.sf_path}")
        return synth, sfid

    def render_stems(self, stems: list[tuple[np.ndarray, int, bool]], n_samples: int) -> list[np.ndarray]:
        """[(notes (n, 4): start s, end s, pitch, velocity), GM program or drum kit, is_drum)] -> float32 mono stems."""
        synth, sfid = self._new_synth()
        try:
            return [self._render(synth, sfid, notes, program, is_drum, n_samples) for notes, program, is_drum in stems]
        finally:
            synth.delete()

    def _render(self, synth, sfid: int, notes: np.ndarray, program: int, is_drum: bool, n: int) -> np.ndarray:
        chan = DRUM_CHANNEL if is_drum else 0
        if is_drum:
            if synth.program_select(chan, sfid, DRUM_BANK, int(program)) != 0:
                synth.program_select(chan, sfid, DRUM_BANK, 0)
        else:
            synth.program_select(chan, sfid, 0, int(program))
        events = []
        for start, end, pitch, vel in np.asarray(notes).reshape(-1, 4):
            on = int(round(start * self.sr))
            off = max(on + 1, int(round(end * self.sr)))
            events.append((on, 1, int(pitch), int(np.clip(round(vel), 1, 127))))
            events.append((off, 0, int(pitch), 0))
        events.sort()  # at one sample, note-offs (0) before note-ons (1)
        chunks, cur = [], 0
        for at, kind, pitch, vel in events:
            at = min(at, n)
            if at > cur:
                chunks.append(synth.get_samples(at - cur))
                cur = at
            if kind:
                synth.noteon(chan, pitch, vel)
            else:
                synth.noteoff(chan, pitch)
        if n > cur:
            chunks.append(synth.get_samples(n - cur))
        synth.system_reset()
        synth.get_samples(4096)  # let the reset voices die before the next stem
        stereo = np.concatenate(chunks).astype(np.float32).reshape(-1, 2) if chunks else np.zeros((n, 2), np.float32)
        return stereo.mean(axis=1) / 32768.0
