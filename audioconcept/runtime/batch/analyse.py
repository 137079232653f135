"""What a batch worker does with one song: the same runtime as `audioconcept-run`, rows out.

A local worker process streams each file itself (`analyse_file`: `Model.predict`); under Ray a task decodes
the file (`decode`) and an actor runs the model on the decoded audio (`analyse_audio`: `Model.predict_array`).
Both frame windows the runtime's way (song context included), so genres, concept strengths and spans are the
runtime's own.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from audioconcept.data.audio import load_audio
from audioconcept.errors import AudioConceptError
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
    song_timeout_s: float = 600.0  # one song may take this long, then it is an error row (0: no limit)


class SongTimeout(AudioConceptError):
    """A song took longer than the batch's per-song limit."""


@contextlib.contextmanager
def time_limit(seconds: float, path: str) -> Iterator[None]:
    """Raise SongTimeout in this thread after `seconds` (SIGALRM: a worker process's main thread on Unix; elsewhere,
    such as a Ray actor's thread, no limit). The song's decoding thread is left to end on its own."""
    usable = seconds > 0 and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def expired(signum, frame) -> None:
        raise SongTimeout(f"{path}: took longer than the per-song limit of {seconds:g} s (--song-timeout)")

    old = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


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
            with time_limit(self.s.song_timeout_s, ref.path):
                r = self.model.predict(ref.path, hop_s=self.hop_s, top_k=self.s.top_k)
        except Exception as e:  # noqa: BLE001 - one bad file is an error row; the run goes on
            return error_rows(ref, one_line(e), self.info, self.hop_s, (time.perf_counter() - t0) * 1e3)
        return result_rows(ref, r, self.info, self.hop_s, (time.perf_counter() - t0) * 1e3)

    def analyse_audio(self, ref: SongRef, audio: np.ndarray, decode_ms: float = 0.0) -> SongRows:
        t0 = time.perf_counter()
        try:
            with time_limit(self.s.song_timeout_s, ref.path):
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
