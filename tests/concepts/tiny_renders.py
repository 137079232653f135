"""A tiny concept-audio set with exact truth, in the format of docs/concept-data.md, rendered here through two
General MIDI soundfonts (FluidR3_GM for train and val, pretty_midi's TimGM6mb held out for test).

Each render: a few instruments, each playing random notes over whole model windows (so a window's truth is exact),
some instruments silent in some windows."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

FLUID_R3 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
PROGRAMS = {"piano": 0, "strings": 48, "flute": 73}
SR = 22_050
MODEL_SR, WINDOW, HOP = 16_000, 47_616, 47_872


def available() -> tuple[bool, str]:
    from audioconcept.data.synth.soundfont import soundfont_available

    ok, why = soundfont_available()
    if not ok:
        return False, why
    if not FLUID_R3.exists():
        return False, f"{FLUID_R3} is missing (apt-get install fluid-soundfont-gm)"
    return True, ""


def render_tiny(out: Path, n_pieces: int = 9, windows: int = 3, seed: int = 0) -> Path:
    import pretty_midi

    from audioconcept.data.audio import window_starts, write_audio
    from audioconcept.data.synth.soundfont import default_soundfont

    rng = np.random.default_rng(seed)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    n16 = WINDOW + (windows - 1) * HOP
    starts = window_starts(n16, WINDOW, HOP)
    seconds = n16 / MODEL_SR
    rows = []
    for p in range(n_pieces):
        split = "test" if p % 3 == 2 else ("val" if p % 3 == 1 and p >= 3 else "train")
        # each window: which instruments play (at least one)
        plays = {name: rng.random(windows) < 0.5 for name in PROGRAMS}
        for w in range(windows):
            if not any(plays[n][w] for n in PROGRAMS):
                plays[list(PROGRAMS)[int(rng.integers(3))]][w] = True
        pm = pretty_midi.PrettyMIDI(initial_tempo=100)
        for name, prog in PROGRAMS.items():
            inst = pretty_midi.Instrument(program=prog, name=name)
            for w, s in enumerate(starts):
                if not plays[name][w]:
                    continue
                t0, t1 = s / MODEL_SR + 0.05, (s + WINDOW) / MODEL_SR - 0.3
                t = t0
                while t < t1:
                    d = float(rng.choice([0.25, 0.5, 0.75]))
                    pitch = int(rng.integers(60, 79))
                    inst.notes.append(pretty_midi.Note(int(rng.integers(70, 110)), pitch, t, min(t + d, t1)))
                    t += d
            pm.instruments.append(inst)
        sfs = {"timgm6mb": default_soundfont()} if split == "test" else {"fluidr3_gm": FLUID_R3}
        for sf_id, sf in sfs.items():
            rid = f"piece{p}-{sf_id}"
            audio = pm.fluidsynth(fs=SR, sf2_path=str(sf))
            n = int(round(seconds * SR))
            audio = np.pad(audio, (0, max(0, n - audio.size)))[:n]
            audio = (audio * (0.9 / (np.abs(audio).max() or 1.0))).astype(np.float32)
            write_audio(out / "audio" / f"{rid}.flac", audio, SR)
            for w, s in enumerate(starts):
                rows.append(
                    {
                        "render_id": rid,
                        "window": w,
                        "start_s": round(s / MODEL_SR, 4),
                        "end_s": round((s + WINDOW) / MODEL_SR, 4),
                        "piece_id": f"tiny/piece{p}",
                        "soundfont_id": sf_id,
                        "arrangement_id": f"piece{p}-0",
                        "split": split,
                        **{name: int(plays[name][w]) for name in PROGRAMS},
                    }
                )
    return write_window_table(out, rows)


def write_window_table(root: Path, rows: list[dict]) -> Path:
    """ROOT/windows.csv with `rows` (the columns of the first row), as the concept-audio build writes it; ROOT."""
    with open(Path(root) / "windows.csv", "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0]))
        wr.writeheader()
        wr.writerows(rows)
    return Path(root)
