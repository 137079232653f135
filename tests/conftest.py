"""Shared fixtures: all audio is generated here, nothing is downloaded."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audioconcept import SAMPLE_RATE


def tone(seconds: float, freq: float = 440.0, sr: int = SAMPLE_RATE, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture
def wav_file(tmp_path):
    def make(seconds: float = 2.0, sr: int = SAMPLE_RATE, channels: int = 1, name: str = "a.wav",
             subtype: str | None = None, freq: float = 440.0):
        x = tone(seconds, freq, sr)
        if channels > 1:
            x = np.stack([x] * channels, axis=1)
        p = tmp_path / name
        sf.write(p, x, sr, subtype=subtype)
        return p

    return make


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory):
    """10 genres x 6 clips x 30 s of synthetic music, GTZAN layout, with ground truth."""
    from audioconcept.data.synth.generate import SynthConfig, generate_genres

    root = tmp_path_factory.mktemp("synth")
    generate_genres(SynthConfig(root, clips_per_genre=6, seconds=30.0, seed=3, workers=2))
    return root
