"""Write synthetic datasets to disk: a GTZAN-layout genre tree and concept sets."""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audioconcept import GTZAN_GENRES, SAMPLE_RATE
from audioconcept.data.synth.score import CONCEPTS, ClipSpec, compose, sample_spec
from audioconcept.utils import atomic_write_json

log = logging.getLogger(__name__)

GROUND_TRUTH = "ground_truth.json"


@dataclass(frozen=True)
class SynthConfig:
    out: Path
    clips_per_genre: int = 20
    seconds: float = 30.0
    seed: int = 0
    renderer: str = "numpy"  # numpy | soundfont
    workers: int = 0  # 0 = all cores
    genres: tuple[str, ...] = GTZAN_GENRES


@dataclass(frozen=True)
class ConceptSetConfig:
    out: Path
    clips_per_concept: int = 12
    random_sets: int = 10
    clips_per_random: int = 12
    seconds: float = 30.0
    seed: int = 1
    renderer: str = "numpy"
    workers: int = 0
    concepts: tuple[str, ...] = CONCEPTS


def render_spec(spec: ClipSpec, renderer: str = "numpy") -> tuple[np.ndarray, dict]:
    score = compose(spec)
    if renderer == "numpy":
        from audioconcept.data.synth.instruments import render_numpy

        audio = render_numpy(score)
    elif renderer == "soundfont":
        from audioconcept.data.synth.soundfont import render_soundfont

        audio = render_soundfont(score)
    else:
        raise ValueError(f"unknown renderer {renderer!r} (numpy or soundfont)")
    return audio, score.truth


def _job(args: tuple[ClipSpec, str, str]) -> dict:
    spec, renderer, path = args
    from audioconcept.data.audio import write_audio

    audio, truth = render_spec(spec, renderer)
    write_audio(path, audio, SAMPLE_RATE, subtype="PCM_16")
    return {
        "tempo": spec.tempo,
        "key": int(spec.key),
        "mode": "minor" if spec.minor else "major",
        "swing": "swing" in spec.concepts,
        "duration": spec.seconds,
        "concepts": truth,
    }


def _run(
    jobs: list[tuple[ClipSpec, str, str]], workers: int, label: str, progress: Callable[[int, int], None] | None = None
) -> list[dict]:
    from rich.progress import Progress

    n_workers = workers or os.cpu_count() or 1
    results: list[dict] = []
    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=len(jobs))
        if n_workers == 1 or len(jobs) < 4:
            it = map(_job, jobs)
            for r in it:
                results.append(r)
                bar.advance(task)
        else:
            # spawn, never fork: a fork of a process whose other threads hold locks (BLAS, onnxruntime) can hang
            with ProcessPoolExecutor(n_workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                for r in pool.map(_job, jobs, chunksize=2):
                    results.append(r)
                    bar.advance(task)
    return results


def generate_genres(cfg: SynthConfig) -> Path:
    """Render `clips_per_genre` clips for each genre into `out/genres/<genre>/<genre>.000NN.wav`
    and write `out/ground_truth.json`. Deterministic for a seed."""
    rng = np.random.default_rng(cfg.seed)
    jobs = []
    entries = []
    for genre in cfg.genres:
        for i in range(cfg.clips_per_genre):
            spec = sample_spec(genre, rng, cfg.seconds)
            rel = f"{genre}/{genre}.{i:05d}.wav"
            jobs.append((spec, cfg.renderer, str(cfg.out / "genres" / rel)))
            entries.append({"path": rel, "genre": genre})
    results = _run(jobs, cfg.workers, f"rendering {len(jobs)} clips")
    clips = [{**e, **r} for e, r in zip(entries, results, strict=True)]
    truth = {
        "generator": "audioconcept.synth",
        "renderer": cfg.renderer,
        "seed": cfg.seed,
        "sample_rate": SAMPLE_RATE,
        "concepts": list(CONCEPTS),
        "clips": clips,
    }
    atomic_write_json(cfg.out / GROUND_TRUTH, truth)
    log.info("wrote %d clips to %s", len(clips), cfg.out)
    return cfg.out


def generate_concept_sets(cfg: ConceptSetConfig) -> Path:
    """For each concept, clips where it is present throughout in varied genres; plus
    `random_<k>` sets of ordinary clips. Layout: out/<concept>/*.wav, out/random_<k>/*.wav."""
    rng = np.random.default_rng(cfg.seed)
    jobs, entries = [], []
    exclusive = {"fast_tempo": ("slow_tempo",), "slow_tempo": ("fast_tempo",)}
    for concept in cfg.concepts:
        for i in range(cfg.clips_per_concept):
            genre = GTZAN_GENRES[int(rng.integers(len(GTZAN_GENRES)))]
            spec = sample_spec(genre, rng, cfg.seconds, force_on=(concept,), force_off=exclusive.get(concept, ()))
            rel = f"{concept}/{concept}.{i:03d}.wav"
            jobs.append((spec, cfg.renderer, str(cfg.out / rel)))
            entries.append({"path": rel, "genre": genre, "set": concept})
    for k in range(cfg.random_sets):
        for i in range(cfg.clips_per_random):
            genre = GTZAN_GENRES[int(rng.integers(len(GTZAN_GENRES)))]
            spec = sample_spec(genre, rng, cfg.seconds)
            rel = f"random_{k}/random_{k}.{i:03d}.wav"
            jobs.append((spec, cfg.renderer, str(cfg.out / rel)))
            entries.append({"path": rel, "genre": genre, "set": f"random_{k}"})
    results = _run(jobs, cfg.workers, f"rendering {len(jobs)} concept clips")
    clips = [{**e, **r} for e, r in zip(entries, results, strict=True)]
    atomic_write_json(
        cfg.out / GROUND_TRUTH,
        {"generator": "audioconcept.synth.concepts", "seed": cfg.seed, "concepts": list(cfg.concepts), "clips": clips},
    )
    return cfg.out
