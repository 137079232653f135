"""A tag bundle's raw window outputs (source tags and pooled embedding), through the torch-free runtime itself.

Probes are trained and validated on exactly what `audioconcept-run` computes: the bundle's numpy front end and
ONNX graph, cut into its own windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audioconcept.errors import AudioConceptError


@dataclass
class WindowOutputs:
    tags: np.ndarray  # (n_windows, n_tags) the graph's tag probabilities
    embedding: np.ndarray  # (n_windows, dim)
    starts: np.ndarray  # (n_windows,) seconds


def open_tag_bundle(bundle: str | Path = "musicnn-gtzan"):
    from audioconcept.runtime.model import load

    model = load(bundle)
    if model.settings.tags is None:
        raise AudioConceptError(f"{bundle}: not a tag bundle (its concepts are not tags)")
    return model


def window_outputs(model, audio: np.ndarray, hop_s: float | None = None, batch: int = 8) -> WindowOutputs:
    """Every window of one song (mono, at the bundle's rate): the graph's tags and embedding (no probes)."""
    from audioconcept.data.audio import check_long_enough, windows_from_array

    check_long_enough(audio.size, model.sample_rate, "audio")
    wins = windows_from_array(audio, model.window_s, hop_s or model.hop_s, sr=model.sample_rate, context=model.context)
    tags, embs = [], []
    n_graph = model.settings.tags.graph_outputs
    for i in range(0, len(wins), batch):
        out = model.backend.run(model.prepare(wins[i : i + batch]))
        if out.embedding is None or out.concepts is None:
            raise AudioConceptError(f"{model.name}: its graph gives no embedding or tags")
        tags.append(np.asarray(out.concepts)[:, :n_graph])
        embs.append(np.asarray(out.embedding))
    return WindowOutputs(np.concatenate(tags), np.concatenate(embs), np.array([w.start for w in wins]))


def file_outputs(model, path: str | Path, hop_s: float | None = None) -> WindowOutputs:
    from audioconcept.data.audio import load_audio

    return window_outputs(model, load_audio(path, sr=model.sample_rate), hop_s)
