"""What a batch worker does with one song: the same runtime as `audioconcept-run`, rows out.

A local worker process streams each file itself (`analyse_file`: `Model.predict`); under Ray a task decodes
the file (`decode`) and an actor runs the model on the decoded audio (`analyse_audio`: `Model.predict_array`).
Both frame windows the runtime's way (song context included), so genres, concept strengths and spans are the
runtime's own.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

import numpy as np

from audioconcept.data.audio import load_audio
from audioconcept.runtime.batch.inputs import SongRef
from audioconcept.runtime.batch.schema import ModelInfo, SongRows, error_rows, one_line, result_rows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnalysisSettings:
    """How every worker loads the model and cuts songs (picklable: it travels to processes and actors)."""

    bundle: str  # a bundle folder (already resolved by the driver)
    model: ModelInfo
    sample_rate: int
    backend: str = "onnx"
    device: str = "auto"
    threads: int = 0  # onnxruntime intra-op threads per worker (0 = its default)
    batch_size: int | None = None  # windows per inference call (None: the runtime's choice for the device)
    hop_s: float | None = None  # None = the bundle's hop
    top_k: int = 3


class SongAnalyser:
    """One model session, loaded once per worker process or actor."""

    def __init__(self, s: AnalysisSettings) -> None:
        from audioconcept.runtime.model import load

        self.s = s
        self.model = load(s.bundle, s.backend, s.device, s.threads, s.batch_size)
        self.info = replace(s.model, backend=self.model.backend.name, device=self.model.backend.device)
        self.hop_s = float(s.hop_s or self.model.hop_s)

    def analyse_file(self, ref: SongRef) -> SongRows:
        t0 = time.perf_counter()
        try:
            r = self.model.predict(ref.path, hop_s=self.hop_s, top_k=self.s.top_k)
        except Exception as e:  # noqa: BLE001 - one bad file is an error row; the run goes on
            return error_rows(ref, one_line(e), self.info, self.hop_s, (time.perf_counter() - t0) * 1e3)
        return result_rows(ref, r, self.info, self.hop_s, (time.perf_counter() - t0) * 1e3)

    def analyse_audio(self, ref: SongRef, audio: np.ndarray, decode_ms: float = 0.0) -> SongRows:
        t0 = time.perf_counter()
        try:
            r = self.model.predict_array(audio, ref.path, self.hop_s, self.s.top_k)
        except Exception as e:  # noqa: BLE001
            ms = decode_ms + (time.perf_counter() - t0) * 1e3
            return error_rows(ref, one_line(e), self.info, self.hop_s, ms)
        return result_rows(ref, r, self.info, self.hop_s, decode_ms + (time.perf_counter() - t0) * 1e3)


def decode(path: str, sample_rate: int) -> tuple[np.ndarray | None, str, float]:
    """-> (mono float32 audio at `sample_rate`, '' or the one-line reason it failed, milliseconds)."""
    t0 = time.perf_counter()
    try:
        audio = load_audio(path, sr=sample_rate)
    except Exception as e:  # noqa: BLE001
        return None, one_line(e), (time.perf_counter() - t0) * 1e3
    return audio, "", (time.perf_counter() - t0) * 1e3
