"""Build the concept-audio dataset: draw piece excerpts, arrange them, render them through soundfonts, and write
each render's audio and truth (instrument activity from the notes, measured concepts on the model's windows).

Layout and columns: docs/concept-data.md. Every file is written atomically; a render whose files exist is read
back instead of rendered again, so an interrupted build resumes where it stopped."""

from __future__ import annotations

import csv
import io
import json
import logging
import multiprocessing
import os
import resource
import time
import warnings
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from audioconcept.data.render.gm import INSTRUMENT_CONCEPTS, NO_REAL_SOURCE, stem_truth
from audioconcept.data.render.pieces import SCORE_GROUPS
from audioconcept.data.render.truth import (
    ABSENT,
    MODEL_HOP,
    MODEL_SR,
    MODEL_WINDOW,
    PRESENT,
    UNCERTAIN,
    instrument_states,
    merge_intervals,
    model_windows,
)
from audioconcept.errors import AudioConceptError
from audioconcept.models.measured_concepts import AUDIBLE_FLOOR_LUFS, MEASURED_CONCEPTS, THRESHOLDS
from audioconcept.utils import atomic_write_json, atomic_write_text, dir_lock

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
STORE_SR = 22050
BACKGROUND_FOLDERS = (Path("/usr/share/games/asc/music"),)  # Debian: asc-music (GPL-2+), real recorded music
SPLIT_FRACTIONS = (("train", 0.70), ("val", 0.85), ("test", 1.0))
CONCEPTS = INSTRUMENT_CONCEPTS + MEASURED_CONCEPTS


@dataclass(frozen=True)
class RenderConfig:
    out: Path
    pieces: int = 400  # piece excerpts drawn; each is one arrangement, rendered through one or two soundfonts
    seed: int = 0
    workers: int = 1
    seconds: tuple[float, float] = (24.0, 42.0)
    p_second_soundfont: float = 0.25  # train/val arrangements also rendered through the other training soundfont
    p_background: float = 0.12
    voices: bool = True  # festival's voices singing and speaking, as training negatives (data.render.voices)
    textures: int = 6  # clips of each non-music sound (rain, surf, wind ...), training negatives; 0: none
    # extra arrangements of many-part scores for an orchestra (arrange.ORCHESTRA_KINDS), drawn after the `pieces`
    # with their own generator, so the other arrangements stay as they were; 0: none
    orchestral: int = 150
    band: int = 150  # extra arrangements of many-part scores for a band with drums (arrange.BAND_LEADS ...); 0: none
    # extra solos of a score's top line on tuned percussion (vibraphone, marimba, xylophone, glockenspiel, celesta):
    # none of the instrument concepts, so negatives that no other render has; 0: none
    mallets: int = 60
    # extra arrangements (half of them solos) played by real recorded notes (data.render.samples), for the train and
    # val pieces only; their own generator, like the styled ones. Off: measured, they made the probes worse on the
    # real solos (reports/notes/probe-experiments.md)
    sampled: int = 0


def split_of(key: str) -> str:
    from audioconcept.data.render.pieces import stable_fraction

    f = stable_fraction(key)
    return next(name for name, upto in SPLIT_FRACTIONS if f < upto)


def soundfonts_for(split: str, rng: np.random.Generator, have: dict, p_second: float) -> list[str]:
    """Test renders use the held-out soundfont only; train and val renders one training soundfont, sometimes both."""
    from audioconcept.data.render.fluid import HELDOUT_SOUNDFONTS, TRAIN_SOUNDFONTS

    if split == "test":
        return [s for s in HELDOUT_SOUNDFONTS if s in have][:1]
    train = [s for s in TRAIN_SOUNDFONTS if s in have]
    if not train:
        return []
    first = train[int(rng.integers(len(train)))]
    if len(train) > 1 and rng.random() < p_second:
        return [first, next(s for s in train if s != first)]
    return [first]


def backgrounds() -> list[str]:
    return sorted(str(p) for folder in BACKGROUND_FOLDERS if folder.is_dir() for p in folder.glob("*.mp3"))


def background_splits() -> dict[str, str]:
    """A third of the backgrounds (at least one, in a fixed order by name hash) go under test renders only;
    the rest under train and val renders."""
    from audioconcept.data.render.pieces import stable_fraction

    bgs = sorted(backgrounds(), key=lambda b: stable_fraction("bg:" + Path(b).name))
    n_test = -(-len(bgs) // 3)
    return {b: ("test" if i < n_test else "train") for i, b in enumerate(bgs)}


def _weighted_jobs(rng: np.random.Generator, cands: dict[str, list[str]], n: int) -> list[dict]:
    """n jobs (index, group, source, seed): each a group drawn by GROUP_WEIGHTS among those with sources, then one
    of its sources."""
    from audioconcept.data.render.pieces import GROUP_WEIGHTS

    groups = [g for g in GROUP_WEIGHTS if cands.get(g)]
    if not groups:
        raise AudioConceptError("no sources: install music21 (extra render) or Debian's planetblupi-music-midi")
    w = np.array([GROUP_WEIGHTS[g] for g in groups], dtype=float)
    jobs = []
    for k in range(n):
        g = groups[int(rng.choice(len(groups), p=w / w.sum()))]
        ref = cands[g][int(rng.integers(len(cands[g])))]
        jobs.append({"index": k, "group": g, "ref": ref, "seed": int(rng.integers(2**62))})
    return jobs


def plan(cfg: RenderConfig, cands: dict[str, list[str]]) -> list[dict]:
    """The jobs, fixed by the seed: (index, group, source, seed)."""
    jobs = _weighted_jobs(np.random.default_rng(cfg.seed), cands, cfg.pieces)
    return jobs + [j for kind in STYLED_JOBS for j in plan_styled(cfg, cands, kind)] + plan_sampled(cfg, cands)


MANY_PART_GROUPS = ("chorale", "quartet", "renaissance")  # scores of four or more parts
# kind -> (job id prefix, generator stream, the config field that counts its jobs, the groups drawn from, draw's
# arguments)
STYLED_JOBS = {
    "orchestra": ("o", 1, "orchestral", MANY_PART_GROUPS, {"style": "orchestra"}),
    "band": ("b", 2, "band", MANY_PART_GROUPS, {"style": "band"}),
    "mallets": ("m", 4, "mallets", SCORE_GROUPS, {"style": "solo", "solo_family": "mallets"}),
}


def plan_styled(cfg: RenderConfig, cands: dict[str, list[str]], kind: str) -> list[dict]:
    """The extra jobs of one kind (ids o00000 ... for an orchestra, b00000 ... for a band, m00000 ... for a solo on
    tuned percussion): scores of the kind's groups; a generator of their own (seed, stream), so adding them or
    changing their number leaves every other arrangement as it was."""
    prefix, stream, field_name, kind_groups, draw_args = STYLED_JOBS[kind]
    count = getattr(cfg, field_name)
    groups = [g for g in kind_groups if cands.get(g)]
    if not groups or count <= 0:
        return []
    rng = np.random.default_rng([cfg.seed, stream])
    jobs = []
    for k in range(count):
        g = groups[int(rng.integers(len(groups)))]
        ref = cands[g][int(rng.integers(len(cands[g])))]
        seed = int(rng.integers(2**62))
        jobs.append({"index": k, "group": g, "ref": ref, "seed": seed, **draw_args, "prefix": prefix})
    return jobs


SAMPLED_STREAM = 3  # the sampled jobs' generator stream (ids s00000 ...)


def plan_sampled(cfg: RenderConfig, cands: dict[str, list[str]]) -> list[dict]:
    """The extra jobs played by recorded notes (ids s00000 ...): pieces drawn like `plan`'s, every other one asked
    for a solo; a generator of its own, so the other arrangements stay as they were. Asked for without the sample
    packages (`make concept-samples`): a one-line error."""
    from audioconcept.data.render.samples import samples_available

    if cfg.sampled <= 0:
        return []
    ok, why = samples_available()
    if not ok:
        raise AudioConceptError(f"--sampled {cfg.sampled}: {why}")
    jobs = _weighted_jobs(np.random.default_rng([cfg.seed, SAMPLED_STREAM]), cands, cfg.sampled)
    for job in jobs:
        job.update({"prefix": "s", "sampled": True}, **({"style": "solo"} if job["index"] % 2 == 0 else {}))
    return jobs


# ---------------------------------------------------------------- one job (in a worker process)
_RENDERERS: dict[str, object] = {}
SAMPLE_FALLBACK = "fluidr3_gm"  # what has no recorded notes in a sampled render plays through this soundfont


def _renderer(sf_id: str):
    from audioconcept.data.render.fluid import StemRenderer, soundfont_path
    from audioconcept.data.render.samples import SAMPLED_SOURCE, SampleRenderer

    if sf_id not in _RENDERERS:
        if sf_id == SAMPLED_SOURCE:
            _RENDERERS[sf_id] = SampleRenderer(_renderer(SAMPLE_FALLBACK))
        else:
            _RENDERERS[sf_id] = StemRenderer(soundfont_path(sf_id), STORE_SR)
    return _RENDERERS[sf_id]


def _key_of(piece, arr) -> dict:
    from audioconcept.data.render.key import estimate_key, pitch_class_durations

    notes = np.concatenate([p.notes for p in piece.parts if not p.is_drum and len(p.notes)])
    hist = pitch_class_durations(notes[:, 2], notes[:, 1] - notes[:, 0])
    if piece.key is not None:
        return {"tonic": piece.key[0], "mode": piece.key[1], "key_source": "score", "key_r": None, "mode_state": True}
    if not piece.tonal:
        return {"tonic": None, "mode": None, "key_source": "modal", "key_r": None, "mode_state": False}
    tonic, mode, r = estimate_key(hist, piece.sharps)
    source = "signature+profile" if piece.sharps is not None else "profile"
    return {"tonic": tonic, "mode": mode, "key_source": source, "key_r": round(r, 3), "mode_state": r >= 0.6}


def _tempo_at(changes: np.ndarray, t: float) -> float:
    i = int(np.searchsorted(changes[:, 0], t, side="right")) - 1
    return float(changes[max(i, 0), 1])


def _window_rows(arr, rendered, key: dict) -> list[dict]:
    from audioconcept.data.audio import prepare_waveform
    from audioconcept.data.render.effects import db
    from audioconcept.models.measured_concepts import measure, states

    y16 = prepare_waveform(rendered.mix, rendered.sr, MODEL_SR)
    sr = rendered.sr
    stems = [{"concepts": s.concepts, "uncertain": s.uncertain, "intervals": s.notes[:, :2]} for s in arr.stems]
    has_bg = rendered.background is not None
    rows = []
    for w, (s16, t0, t1) in enumerate(model_windows(y16.size)):
        a, b = int(round(t0 * sr)), int(round(t1 * sr))
        mix_rms = float(np.sqrt(np.mean(np.square(rendered.mix[a:b], dtype=np.float64)))) if b > a else 0.0
        row: dict = {"window": w, "start_s": round(t0, 4), "end_s": round(t1, 4)}
        stem_db = defaultdict(lambda: float("-inf"))
        for stem, audio in zip(arr.stems, rendered.stems, strict=True):
            rms = float(np.sqrt(np.mean(np.square(audio[a:b], dtype=np.float64)))) if b > a else 0.0
            for c in stem.concepts:
                stem_db[c] = max(stem_db[c], db(rms / mix_rms) if mix_rms > 0 else float("-inf"))
        for c, (st, cov) in instrument_states(stems, has_bg, t0, t1).items():
            row[c] = st
            row[f"cover_{c}"] = round(cov, 4)
            row[f"db_{c}"] = round(stem_db[c], 2) if np.isfinite(stem_db[c]) else float("-inf")
        values = {"tempo_bpm": round(_tempo_at(arr.tempo_changes, (t0 + t1) / 2), 2)}
        values.update(measure(y16[s16 : s16 + MODEL_WINDOW], MODEL_SR))
        row.update(values)
        row.update(states(values))
        if has_bg:
            row["fast"] = row["slow"] = UNCERTAIN
        if key["mode_state"] and not has_bg:
            row["minor"] = PRESENT if key["mode"] == "minor" else ABSENT
            row["major"] = PRESENT if key["mode"] == "major" else ABSENT
        else:
            row["minor"] = row["major"] = UNCERTAIN
        rows.append(row)
    return rows


def render_job(job: dict, out: str, p_second: float, p_background: float, seconds: tuple[float, float]) -> list[dict]:
    """Render one job's arrangement through its soundfont(s); returns each render's record (read back when done)."""
    from audioconcept.data.audio import write_audio
    from audioconcept.data.render import arrange, mix
    from audioconcept.data.render.fluid import available_soundfonts
    from audioconcept.data.render.pieces import load

    out_p = Path(out)
    t_job = time.process_time()
    rng = np.random.default_rng(job["seed"])
    with warnings.catch_warnings():  # music21 reports each overfull bar of the corpus
        warnings.simplefilter("ignore")
        piece = load(job["group"], job["ref"], rng)
    split = split_of(piece.piece_id)
    if job.get("sampled"):  # recorded notes, for training and calibration: the test keeps its held-out soundfont
        from audioconcept.data.render.samples import SAMPLED_SOURCE

        sfs = [SAMPLED_SOURCE] if split != "test" else []
    else:
        sfs = soundfonts_for(split, rng, available_soundfonts(), p_second)
    bgs = tuple(b for b, bg_split in background_splits().items() if (bg_split == "test") == (split == "test"))
    arrangement_id = f"{job.get('prefix', 'a')}{job['index']:05d}"
    style, solo_family = job.get("style"), job.get("solo_family")
    arr = arrange.draw(piece, rng, arrangement_id, seconds, bgs, p_background, style=style, solo_family=solo_family)
    if arr is None or not sfs:
        return []
    key = _key_of(piece, arr)
    records = []
    for sf_id in sfs:
        render_id = f"{arrangement_id}-{sf_id}"
        meta_path = out_p / "notes" / f"{render_id}.json"
        audio_path = out_p / "audio" / f"{render_id}.flac"
        if meta_path.is_file() and audio_path.is_file():
            records.append({**json.loads(meta_path.read_text()), "resumed": True})
            continue
        t = t_job if sf_id == sfs[0] else time.process_time()  # the first render carries the loading
        rendered = mix.render(arr, _renderer(sf_id))
        rows = _window_rows(arr, rendered, key)
        write_audio(audio_path, rendered.mix, STORE_SR, subtype="PCM_16")
        record = {
            "render_id": render_id,
            "piece_id": piece.piece_id,
            "group": piece.group,
            "source": job["ref"],
            "soundfont_id": sf_id,
            "arrangement_id": arrangement_id,
            "split": split,
            "style": arr.style,
            "seconds": round(arr.seconds, 3),
            "offset_s": round(arr.offset_s, 3),
            "tempo_changes": arr.tempo_changes.round(3).tolist(),
            "target_lufs": round(arr.target_lufs, 2),
            "master": [list(e) for e in arr.master],
            "background": arr.background,
            **key,
            "audio": f"audio/{render_id}.flac",
            "sample_rate": STORE_SR,
            "stems": [
                {
                    "name": s.name,
                    "program": s.program,
                    "is_drum": s.is_drum,
                    "concepts": list(s.concepts),
                    "uncertain": list(s.uncertain),
                    "gain_db": round(s.gain_db, 2),
                    "effects": [list(e) for e in s.effects],
                    "intervals": merge_intervals(s.notes[:, :2]).round(4).tolist(),
                    "n_notes": int(len(s.notes)),
                }
                for s in arr.stems
            ],
            "windows": rows,
            "cpu_s": round(time.process_time() - t, 2),
        }
        atomic_write_json(meta_path, record)  # last: its presence marks the render as done
        records.append({**record, "resumed": False})
    return records


def _job_star(args):
    return render_job(*args)


VOICE_SOUNDFONT = "festival"  # the voice clips' soundfont_id: a source of its own, in training only
VOICE_ACTIVE_DB = -30.0  # a window within this many dB of the clip's loudest window holds the voice


def _rows_without_instruments(y16: np.ndarray, bpm: float | None) -> list[dict]:
    """The window rows of a clip that holds no instrument (a voice, a non-music sound): every instrument concept
    absent, the measured concepts measured, fast/slow from `bpm` (uncertain without one), no mode."""
    from audioconcept.models.measured_concepts import measure, states

    rows = []
    for w, (s16, t0, t1) in enumerate(model_windows(y16.size)):
        row: dict = {"window": w, "start_s": round(t0, 4), "end_s": round(t1, 4)}
        for c, (st, cov) in instrument_states([], False, t0, t1).items():  # no stem: every instrument absent
            row[c], row[f"cover_{c}"], row[f"db_{c}"] = st, cov, float("-inf")
        values = measure(y16[s16 : s16 + MODEL_WINDOW], MODEL_SR)
        if bpm is not None:
            values["tempo_bpm"] = bpm
        row.update(values)
        row.update(states(values))
        row.setdefault("fast", UNCERTAIN)
        row.setdefault("slow", UNCERTAIN)
        row["minor"] = row["major"] = UNCERTAIN
        rows.append(row)
    return rows


def _clip_paths(out: str, clip_id: str) -> tuple[Path, Path]:
    """(notes json, audio) of a clip without stems; both exist once it is done (the json is written last)."""
    return Path(out) / "notes" / f"{clip_id}.json", Path(out) / "audio" / f"{clip_id}.flac"


def _write_clip_record(
    meta_path: Path,
    clip_id: str,
    group: str,
    source: str,
    soundfont_id: str,
    style: str,
    seconds: float,
    rows: list[dict],
    t0: float,
    **fields,
) -> dict:
    """The record of a clip without stems (a voice, a non-music sound): no piece, no key, no background, always in
    `train`; `fields` add to or replace the common ones. Written atomically, last."""
    record = {
        "render_id": clip_id,
        "piece_id": clip_id,
        "group": group,
        "source": source,
        "soundfont_id": soundfont_id,
        "arrangement_id": clip_id,
        "split": "train",
        "style": style,
        "seconds": round(seconds, 3),
        "offset_s": 0.0,
        "tempo_changes": [],
        "target_lufs": None,
        "master": [],
        "background": None,
        "tonic": None,
        "mode": None,
        "key_source": None,
        "key_r": None,
        "mode_state": False,
        **fields,
        "audio": f"audio/{clip_id}.flac",
        "sample_rate": STORE_SR,
        "stems": [],
        "windows": rows,
        "cpu_s": round(time.process_time() - t0, 2),
    }
    atomic_write_json(meta_path, record)
    return {**record, "resumed": False}


def render_voice(job, out: str) -> dict:
    """One festival voice clip (data.render.voices): every instrument concept absent, the measured concepts
    measured; its record is read back when its files exist. Always the `train` split: validation and test keep
    to other pieces and soundfonts, and the real voices of ../shared/instruments stay a validation set."""
    from audioconcept.data.audio import prepare_waveform, write_audio
    from audioconcept.data.render.effects import db
    from audioconcept.data.render.voices import synthesize

    meta_path, audio_path = _clip_paths(out, job.clip_id)
    if meta_path.is_file() and audio_path.is_file():
        return {**json.loads(meta_path.read_text()), "resumed": True}
    t = time.process_time()
    y, sr, bpm = synthesize(job)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak <= 0:
        raise AudioConceptError(f"{job.clip_id}: festival wrote silence")
    y = (0.5 * y / peak).astype(np.float32)
    y16 = prepare_waveform(y, sr, MODEL_SR)
    rows = _rows_without_instruments(y16, bpm)
    rms = [
        float(np.sqrt(np.mean(np.square(y16[s : s + MODEL_WINDOW], dtype=np.float64))))
        for s, _, _ in model_windows(y16.size)
    ]
    top = max(rms)
    for row, r in zip(rows, rms, strict=True):
        row["voice_active"] = bool(r > 0 and db(r / top) >= VOICE_ACTIVE_DB)
    write_audio(audio_path, prepare_waveform(y, sr, STORE_SR), STORE_SR, subtype="PCM_16")
    return _write_clip_record(
        meta_path,
        job.clip_id,
        "festival",
        job.source,
        VOICE_SOUNDFONT,
        "voice",
        y.size / sr,
        rows,
        t,
        tempo_changes=[[0.0, bpm]] if bpm is not None else [],
        voice={"name": job.voice.name, "sex": job.voice.sex, "language": job.voice.language, "mode": job.mode},
        semitones=job.semitones,
    )


TEXTURE_SOUNDFONT = "texture"  # the non-music clips' soundfont_id: a source of its own, in training only


def render_texture(job, out: str) -> dict:
    """One non-music clip (data.render.textures): every instrument concept absent, the measured concepts measured,
    no tempo and no mode; at a loudness drawn like a render's. Always the `train` split (rain.wav and ocean.wav of
    ../shared/instruments stay a validation set); read back when its files exist."""
    from audioconcept.data.audio import prepare_waveform, write_audio
    from audioconcept.data.render import effects
    from audioconcept.data.render.textures import FLOOR_LEVELS_DBFS, at_level, synthesize

    meta_path, audio_path = _clip_paths(out, job.clip_id)
    if meta_path.is_file() and audio_path.is_file():
        return {**json.loads(meta_path.read_text()), "resumed": True}
    t = time.process_time()
    rng = np.random.default_rng(job.seed)
    y = synthesize(job, STORE_SR)
    master: list[tuple[str, dict]] = []
    if job.kind in FLOOR_LEVELS_DBFS:  # near silence: no effect, a level under the audibility floor
        level = float(rng.uniform(*FLOOR_LEVELS_DBFS[job.kind]))
        y = at_level(y, level)
        level_fields: dict = {"target_lufs": None, "level_dbfs": round(level, 2)}
    else:
        if rng.random() < 0.4:
            master.append(
                (
                    "reverb",
                    {"room": float(rng.uniform(0.1, 0.8)), "damping": 0.5, "wet": float(rng.uniform(0.05, 0.3))},
                )
            )
        if rng.random() < 0.4:
            master.append(("high_shelf", {"hz": float(rng.uniform(2500, 6000)), "gain_db": float(rng.uniform(-9, 6))}))
        target = float(rng.uniform(-34, -10))
        y, _ = effects.to_loudness(effects.apply(y, STORE_SR, master), STORE_SR, target)
        level_fields = {"target_lufs": round(target, 2)}
    rows = _rows_without_instruments(prepare_waveform(y, STORE_SR, MODEL_SR), None)
    write_audio(audio_path, y, STORE_SR, subtype="PCM_16")
    return _write_clip_record(
        meta_path,
        job.clip_id,
        "texture",
        job.kind,
        TEXTURE_SOUNDFONT,
        "texture",
        y.size / STORE_SR,
        rows,
        t,
        **level_fields,
        master=[list(e) for e in master],
        texture={"kind": job.kind, "seed": job.seed},
    )


# ---------------------------------------------------------------- the whole build
def _csv(rows: list[dict], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})
    return buf.getvalue()


RENDER_COLUMNS = [
    "render_id",
    "piece_id",
    "group",
    "source",
    "soundfont_id",
    "arrangement_id",
    "split",
    "style",
    "seconds",
    "offset_s",
    "target_lufs",
    "tonic",
    "mode",
    "key_source",
    "key_r",
    "background_id",
    "n_windows",
    "audio",
]
KEY_COLUMNS = [
    "render_id",
    "window",
    "start_s",
    "end_s",
    "piece_id",
    "soundfont_id",
    "arrangement_id",
    "split",
    "background_id",
]
VALUE_COLUMNS = [
    "tempo_bpm",
    "tempo_est_bpm",
    "loudness_lufs",
    "centroid_hz",
    "percussive_share",
    "chroma_mode",
    "chroma_mode_r",
]


def window_columns() -> list[str]:
    cols = KEY_COLUMNS + list(CONCEPTS) + VALUE_COLUMNS
    cols += [f"cover_{c}" for c in INSTRUMENT_CONCEPTS] + [f"db_{c}" for c in INSTRUMENT_CONCEPTS]
    return cols


def summarize(records: list[dict], wall_s: float, cpu_s: float, cfg: RenderConfig, earlier: dict | None = None) -> dict:
    """Counts of present / absent / uncertain windows per concept, per split and per soundfont."""
    per_split: dict = defaultdict(lambda: defaultdict(Counter))
    per_sf: dict = defaultdict(lambda: defaultdict(Counter))
    windows = Counter()
    seconds = Counter()
    for r in records:
        windows[r["split"]] += len(r["windows"])
        seconds[r["split"]] += r["seconds"]
        for row in r["windows"]:
            for c in CONCEPTS:
                name = {PRESENT: "present", ABSENT: "absent", UNCERTAIN: "uncertain"}[row[c]]
                per_split[r["split"]][c][name] += 1
                per_sf[r["soundfont_id"]][c][name] += 1
    return {
        "format_version": FORMAT_VERSION,
        "seed": cfg.seed,
        "pieces_drawn": cfg.pieces,
        "renders": len(records),
        "arrangements": len({r["arrangement_id"] for r in records}),
        "distinct_pieces": len({r["piece_id"] for r in records}),
        "renders_per_split": dict(Counter(r["split"] for r in records)),
        "pieces_per_split": {
            s: len({r["piece_id"] for r in records if r["split"] == s}) for s in ("train", "val", "test")
        },
        "renders_per_soundfont": dict(Counter(r["soundfont_id"] for r in records)),
        "renders_per_group": dict(Counter(r["group"] for r in records)),
        "renders_per_style": dict(Counter(r["style"] for r in records)),
        "renders_with_background": sum(r["background"] is not None for r in records),
        "windows_per_split": dict(windows),
        "audio_hours_per_split": {k: round(v / 3600, 3) for k, v in seconds.items()},
        "concepts_per_split": {s: {c: dict(v) for c, v in d.items()} for s, d in per_split.items()},
        "concepts_per_soundfont": {s: {c: dict(v) for c, v in d.items()} for s, d in per_sf.items()},
        "build_wall_s": round(wall_s, 1),
        "build_cpu_s": round(cpu_s, 1),
        "render_cpu_s_recorded": round(sum(r.get("cpu_s", 0.0) for r in records), 1),
        "builds": _builds(earlier)
        + [
            {
                "pieces": cfg.pieces,
                "rendered": sum(not r.get("resumed") for r in records),
                "read_back": sum(bool(r.get("resumed")) for r in records),
                "wall_s": round(wall_s, 1),
                "cpu_s": round(cpu_s, 1),
            }
        ],
    }


def _builds(earlier: dict | None) -> list[dict]:
    """The runs that built the folder before this one (from its previous summary.json)."""
    if not earlier:
        return []
    if "builds" in earlier:
        return list(earlier["builds"])
    return [
        {
            "pieces": earlier.get("pieces_drawn"),
            "rendered": earlier.get("renders"),
            "read_back": 0,
            "wall_s": earlier.get("build_wall_s"),
            "cpu_s": earlier.get("build_cpu_s"),
        }
    ]


def summary_markdown(s: dict) -> str:
    """The generated table of a summary (reports/concept_data/SUMMARY.md)."""
    lines = [
        "<!-- generated by `audioconcept data render-concepts --report`: do not edit -->",
        f"{s['renders']} renders ({s['arrangements']} arrangements of {s['distinct_pieces']} pieces), seed {s['seed']}."
        f" The CPU time the renders record for themselves adds up to {s['render_cpu_s_recorded']:.0f} s; each run's"
        f" CPU time below counts everything (worker start, loading, rendering, tables)."
        f" A run reads back what an earlier one rendered:",
        "",
        "| run | pieces | rendered | read back | wall s | CPU s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
        *[
            f"| {i + 1} | {b['pieces']} | {b['rendered']} | {b['read_back']} | {b['wall_s']:.0f} | {b['cpu_s']:.0f} |"
            for i, b in enumerate(s.get("builds", []))
        ],
        "",
        "| split | pieces | renders | windows | hours |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for sp in ("train", "val", "test"):
        lines.append(
            f"| {sp} | {s['pieces_per_split'].get(sp, 0)} | {s['renders_per_split'].get(sp, 0)} |"
            f" {s['windows_per_split'].get(sp, 0)} | {s['audio_hours_per_split'].get(sp, 0):.2f} |"
        )
    lines += ["", "| soundfont | renders |", "| --- | ---: |"]
    lines += [f"| {k} | {v} |" for k, v in sorted(s["renders_per_soundfont"].items())]
    sfs = sorted(s["concepts_per_soundfont"])
    lines += ["", "Windows where each concept is present / absent / uncertain:", ""]
    head = "| concept | " + " | ".join(f"{sp}" for sp in ("train", "val", "test")) + " | " + " | ".join(sfs) + " |"
    lines += [head, "| --- |" + " ---: |" * (3 + len(sfs))]

    def cell(d: dict) -> str:
        return f"{d.get('present', 0)} / {d.get('absent', 0)} / {d.get('uncertain', 0)}"

    for c in CONCEPTS:
        cells = [cell(s["concepts_per_split"].get(sp, {}).get(c, {})) for sp in ("train", "val", "test")]
        cells += [cell(s["concepts_per_soundfont"][sf].get(c, {})) for sf in sfs]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    lines += ["", "Concepts with no real source here: " + ", ".join(NO_REAL_SOURCE) + "."]
    return "\n".join(lines) + "\n"


def _cpu_s() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _voice_records(cfg: RenderConfig, out: Path, bar) -> list[dict]:
    from audioconcept.data.render.voices import festival_voices, jobs

    if not cfg.voices:
        return []
    have = festival_voices()
    if not have:
        log.warning(
            "no festival voices (Debian: festival festvox-kallpc16k festvox-italp16k): the concept audio holds no "
            "voice, and a probe may take a real voice for an instrument"
        )
        return []
    todo = jobs(have)
    task = bar.add_task("festival voices", total=len(todo))
    records, failed = [], []
    for job in todo:
        try:
            records.append(render_voice(job, str(out)))
        except AudioConceptError as e:  # one clip festival cannot make leaves the others
            failed.append(job.clip_id)
            log.warning("%s", e)
        bar.advance(task)
    if failed:
        log.warning("%d of %d voice clips failed: %s", len(failed), len(todo), ", ".join(failed))
    return records


def _texture_records(cfg: RenderConfig, out: Path, bar) -> list[dict]:
    from audioconcept.data.render.textures import jobs

    if cfg.textures <= 0:
        return []
    todo = jobs(cfg.seed, cfg.textures)
    task = bar.add_task("non-music textures", total=len(todo))
    records = []
    for job in todo:
        records.append(render_texture(job, str(out)))
        bar.advance(task)
    return records


def build(cfg: RenderConfig, report: Path | None = None) -> dict:
    """Render the dataset into cfg.out (resuming), write its tables and return the summary."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from audioconcept.data.render.fluid import available_soundfonts, fluidsynth_available
    from audioconcept.data.render.pieces import candidates
    from audioconcept.errors import MissingExtra
    from audioconcept.models.measured_concepts import inaudible, states

    ok, why = fluidsynth_available()
    if not ok:
        raise MissingExtra("pyfluidsynth", "render", f"rendering concept audio ({why})")
    for module in ("pyloudnorm", "pedalboard"):  # checked here: an error raised in a worker would lose its message
        try:
            __import__(module)
        except ImportError:
            raise MissingExtra(module, "render", "rendering concept audio") from None
    from audioconcept.data.render.fluid import TRAIN_SOUNDFONTS

    if not set(TRAIN_SOUNDFONTS) & set(available_soundfonts()):
        raise AudioConceptError("no training soundfont: install Debian's fluid-soundfont-gm (FluidR3_GM.sf2)")
    t0, c0 = time.perf_counter(), _cpu_s()
    out = Path(cfg.out)
    with dir_lock(out):
        out.mkdir(parents=True, exist_ok=True)
        for folder in (out / "audio", out / "notes"):  # temporary files of a run that was killed (we hold the lock)
            for tmp in folder.glob(".*") if folder.is_dir() else ():
                tmp.unlink(missing_ok=True)
        earlier = json.loads((out / "summary.json").read_text()) if (out / "summary.json").is_file() else None
        cands = candidates()
        jobs = plan(cfg, cands)
        args = [(j, str(out), cfg.p_second_soundfont, cfg.p_background, cfg.seconds) for j in jobs]
        records: list[dict] = []
        cols = [
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        ]
        with Progress(*cols) as bar:
            task = bar.add_task("rendering concept audio", total=len(args))
            if cfg.workers <= 1:
                results = map(_job_star, args)
                for r in results:
                    records += r
                    bar.advance(task)
            else:
                # spawn, never fork: a fork of a threaded process can hang on a lock another thread held
                with ProcessPoolExecutor(cfg.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                    for r in pool.map(_job_star, args, chunksize=1):
                        records += r
                        bar.advance(task)
            records += _voice_records(cfg, out, bar)
            records += _texture_records(cfg, out, bar)
        for r in records:  # states from the stored values and notes: new thresholds or concepts need no new render
            stems = [stem_truth(st) for st in r["stems"]]
            for row in r["windows"]:
                kept = {  # a background's tempo is unknown, unless nothing is audible (states: all absent)
                    c: row[c]
                    for c in ("fast", "slow")
                    if row.get(c) == UNCERTAIN and r["background"] and not inaudible(row)
                }
                row.update(states(row))
                row.update(kept)
                held = instrument_states(stems, r["background"] is not None, row["start_s"], row["end_s"])
                for c, (st, cov) in held.items():
                    row[c], row[f"cover_{c}"] = st, round(cov, 4)
            r["background_id"] = Path(r["background"]["path"]).stem if r["background"] else None
            r["n_windows"] = len(r["windows"])
        rows = [{**{k: r[k] for k in KEY_COLUMNS if k in r}, **w} for r in records for w in r["windows"]]
        atomic_write_text(out / "windows.csv", _csv(rows, window_columns()))
        atomic_write_text(out / "renders.csv", _csv(records, RENDER_COLUMNS))
        summary = summarize(records, time.perf_counter() - t0, _cpu_s() - c0, cfg, earlier)
        atomic_write_json(out / "summary.json", summary)
        atomic_write_json(
            out / "dataset.json",
            {
                "format_version": FORMAT_VERSION,
                "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
                "sample_rate": STORE_SR,
                "model_windows": {"sample_rate": MODEL_SR, "window_samples": MODEL_WINDOW, "hop_samples": MODEL_HOP},
                "instrument_concepts": list(INSTRUMENT_CONCEPTS),
                "measured_concepts": list(MEASURED_CONCEPTS),
                "thresholds": {
                    c: {"column": col, "present_at": hi, "absent_at": lo} for c, (col, hi, lo) in THRESHOLDS.items()
                },
                "audible_floor_lufs": AUDIBLE_FLOOR_LUFS,  # under it, every measured concept but loud/quiet is 0
                "no_real_source": list(NO_REAL_SOURCE),
                "soundfonts": {k: str(v) for k, v in available_soundfonts().items()},
                "sources": {g: len(v) for g, v in cands.items()},
                "backgrounds": background_splits(),
                "states": {"present": PRESENT, "absent": ABSENT, "uncertain": UNCERTAIN},
            },
        )
    if report is not None:
        atomic_write_json(Path(report) / "summary.json", summary)
        atomic_write_text(Path(report) / "SUMMARY.md", summary_markdown(summary))
    log.info("%d renders, %s windows in %s", len(records), sum(summary["windows_per_split"].values()), out)
    return summary


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))
