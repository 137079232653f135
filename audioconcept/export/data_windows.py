"""Real audio windows for the parity gate and int8 calibration, through the real preprocessing."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from audioconcept import SAMPLE_RATE
from audioconcept.data.audio import load_audio
from audioconcept.errors import ExportError

log = logging.getLogger(__name__)


def resolve_data(data: str | None, trained_on: str) -> str:
    from audioconcept.data.spec import parse_data_spec

    spec = data or trained_on
    if not spec or spec.startswith("imported"):
        raise ExportError("the parity gate needs real audio: pass --data gtzan:PATH, folder:PATH or synth:PATH")
    try:
        parse_data_spec(spec)
    except Exception as e:
        raise ExportError(f"the parity gate needs real audio ({e}); pass --data") from None
    return spec


def split_windows(
    data: str,
    split: str,
    window_s: float,
    n_chunks: int,
    max_windows: int | None,
    seed: int = 0,
    make_up_from: tuple[str, ...] = ("test", "valid", "train"),
    sr: int = SAMPLE_RATE,
    context: int = 0,
) -> np.ndarray:
    """(n, window + 2 context) evenly spaced chunks of the split's tracks (the evaluation recipe); when the
    split is too small, the splits in `make_up_from` make up the count."""
    from audioconcept.data.audio import eval_chunks
    from audioconcept.data.spec import load_tracks, parse_data_spec

    tl = load_tracks(parse_data_spec(data), seed)
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    for name in (split, *[s for s in make_up_from if s != split]):
        tracks = tl.split(name)
        for i in rng.permutation(len(tracks)):
            out.extend(eval_chunks(load_audio(tracks[i].path, sr=sr), window_s, n_chunks, sr, context))
            if max_windows and len(out) >= max_windows:
                break
        if max_windows is None or len(out) >= max_windows:
            break
    if not out:
        raise ExportError(f"{data}: no audio in the {split} split for the parity gate")
    return np.stack(out[:max_windows] if max_windows else out).astype(np.float32)


def split_paths(data: str, split: str, limit: int | None = None, seed: int = 0) -> list[Path]:
    from audioconcept.data.spec import load_tracks, parse_data_spec

    tl = load_tracks(parse_data_spec(data), seed)
    tracks = tl.split(split) or tl.split("all")
    return [t.path for t in tracks[:limit]]
