"""A small generated music library for the batch tests: 30 songs plus one corrupt file."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

N_SONGS = 30


def render_song(i: int, seconds: float, sr: int) -> np.ndarray:
    """A few seconds of 'music': a chord, a pulse and some noise, different for every song."""
    rng = np.random.default_rng(i)
    t = np.arange(int(seconds * sr)) / sr
    root = 55.0 * 2 ** (rng.integers(0, 24) / 12)
    x = sum(np.sin(2 * np.pi * root * r * t) / (k + 1) for k, r in enumerate((1, 1.25, 1.5, 2.0)))
    beat = (np.sin(2 * np.pi * rng.uniform(1, 3) * t) > 0.9).astype(np.float32) * rng.standard_normal(t.size)
    x = 0.2 * x + rng.uniform(0, 0.4) * beat + rng.uniform(0, 0.1) * rng.standard_normal(t.size)
    return (x / max(1e-6, np.abs(x).max()) * 0.8).astype(np.float32)


def make_library(root, n: int = N_SONGS):
    """-> (list of song paths, the corrupt file). Nested folders, wav/flac/ogg, 16-44.1 kHz, mono and stereo."""
    songs = []
    for i in range(n):
        sr = (22050, 44100, 16000)[i % 3]
        seconds = (4.0, 12.0, 31.0, 40.0, 7.5)[i % 5]
        x = render_song(i, seconds, sr)
        if i % 4 == 1:
            x = np.stack([x, x[::-1]], axis=1)
        ext = ("wav", "flac", "ogg")[i % 3]
        folder = root / f"artist{i % 4}" / f"album{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        p = folder / f"track{i:02d}.{ext}"
        sf.write(p, x, sr)
        songs.append(p)
    corrupt = root / "artist0" / "corrupt.flac"
    corrupt.write_bytes(b"fLaC" + bytes(range(256)) * 8)
    return songs, corrupt


@pytest.fixture(scope="session")
def library(tmp_path_factory):
    root = tmp_path_factory.mktemp("library")
    songs, corrupt = make_library(root)
    return root, songs, corrupt
