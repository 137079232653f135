"""`load(bundle, backend)` -> Model with `predict(path)`: songs of any length, window by window."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from audioconcept.data.audio import Window, audio_info, iter_windows, windows_from_array
from audioconcept.errors import BundleError
from audioconcept.runtime.aggregate import SongAggregator, SongSettings
from audioconcept.runtime.backends import make_backend
from audioconcept.runtime.bundle import Bundle, open_bundle, read_manifest
from audioconcept.runtime.formats import BACKENDS, artifacts_for, kind_of
from audioconcept.runtime.frontend import NumpyMelFrontEnd
from audioconcept.runtime.outputs import Outputs
from audioconcept.runtime.result import SongResult

log = logging.getLogger(__name__)


def prefetch(it: Iterable, depth: int = 4) -> Iterator:
    """Run `it` in a background thread (decoding overlaps inference); exceptions re-raise here."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()

    def worker() -> None:
        try:
            for item in it:
                q.put(item)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            q.put(e)
        q.put(done)

    threading.Thread(target=worker, daemon=True).start()
    while (item := q.get()) is not done:
        if isinstance(item, BaseException):
            raise item
        yield item


class Model:
    def __init__(
        self,
        bundle: Bundle,
        backend: str = "onnx",
        device: str = "auto",
        threads: int = 0,
        batch_size: int | None = None,
        head: str | None = None,
    ) -> None:
        self.bundle = bundle
        self.backend = make_backend(bundle, backend, device, threads)
        self.m = bundle.manifest
        self.settings = SongSettings.from_manifest(self.m, head)
        # song framing: every window carries this many samples of the song on both sides (0: none)
        self.context = int((self.m.get("frontend") or {}).get("context_samples") or 0)
        self.labels = list(self.settings.labels)
        self.window_s = self.settings.window_s
        self.sample_rate = int(self.m["sample_rate"])
        self.batch_size = batch_size or int((self.m.get("runtime_hints") or {}).get("batch_size") or 4)
        self.frontend = NumpyMelFrontEnd(self.m["frontend"]) if self.backend.input_kind == "mel" else None
        self.concept_names: list[str] = list(self.settings.concept_names)
        self.concept_thresholds: list[float] = list(self.settings.concept_thresholds)

    @property
    def name(self) -> str:
        return self.bundle.name

    @property
    def hop_s(self) -> float:
        """The bundle's default hop (shorter than the window where the model ignores the window's end)."""
        return float(self.m.get("hop_s") or self.window_s)

    def _prepare(self, windows: list[Window]) -> np.ndarray:
        if self.backend.input_kind == "features":
            from audioconcept.models.features import extract_features

            return np.stack([extract_features(w.samples[: w.valid], self.sample_rate) for w in windows])
        x = np.stack([w.samples for w in windows])
        return self.frontend(x) if self.frontend is not None else x

    def run_windows(self, windows: Iterable[Window]) -> Iterator[tuple[list[Window], Outputs]]:
        batch: list[Window] = []
        for w in windows:
            batch.append(w)
            if len(batch) == self.batch_size:
                yield batch, self.backend.run(self._prepare(batch))
                batch = []
        if batch:
            yield batch, self.backend.run(self._prepare(batch))

    def aggregator(self) -> SongAggregator:
        return SongAggregator(self.settings)

    def predict_windows(
        self,
        windows: Iterable[Window],
        path: str | Path,
        top_k: int = 3,
        on_progress: Callable[[float], None] | None = None,
        total_s: float = 0.0,
    ) -> SongResult:
        """Run and aggregate windows decoded elsewhere (a thread, a Ray task): the song pipeline's core."""
        t0 = time.perf_counter()
        agg = self.aggregator()
        for batch, out in self.run_windows(windows):
            agg.add(batch, out.logits, out.probabilities, out.concepts, out.concept_frames)
            if on_progress and total_s > 0:
                on_progress(min(1.0, agg.duration / total_s))
        if not agg.windows:
            from audioconcept.errors import EmptyAudio

            raise EmptyAudio(f"{path}: no audio windows to analyse")
        m = self.m
        res = agg.result(
            str(path),
            self.name,
            self.bundle.arch,
            m.get("trained_on", ""),
            self.backend.name,
            self.backend.device,
            top_k,
        )
        res.timing_ms = {"total": round((time.perf_counter() - t0) * 1e3, 2)}
        return res

    def predict(
        self,
        path: str | Path,
        hop_s: float | None = None,
        top_k: int = 3,
        on_progress: Callable[[float], None] | None = None,
    ) -> SongResult:
        """Stream a song of any length from disk, window by window; `on_progress(fraction)` after each batch."""
        t0 = time.perf_counter()
        total_s = audio_info(path).duration if on_progress else 0.0
        windows = prefetch(
            iter_windows(path, self.window_s, hop_s or self.hop_s, sr=self.sample_rate, context=self.context)
        )
        res = self.predict_windows(windows, path, top_k, on_progress, total_s)
        res.timing_ms = {"total": round((time.perf_counter() - t0) * 1e3, 2)}
        return res

    def predict_array(
        self,
        audio: np.ndarray,
        path: str | Path,
        hop_s: float | None = None,
        top_k: int = 3,
        on_progress: Callable[[float], None] | None = None,
    ) -> SongResult:
        """The same for a song already decoded at the bundle's sample rate (mono float32)."""
        hop = hop_s or self.hop_s
        windows = windows_from_array(audio, self.window_s, hop, sr=self.sample_rate, context=self.context)
        return self.predict_windows(windows, path, top_k, on_progress, audio.size / self.sample_rate)


def load(
    bundle: str | Path,
    backend: str = "onnx",
    device: str = "auto",
    threads: int = 0,
    batch_size: int | None = None,
    head: str | None = None,
) -> Model:
    """Open a bundle (checking schema and the sha256 of the artifacts the backend reads) and
    build the backend. `bundle` is a folder or the name of a packaged bundle; `head` picks one of a tag
    bundle's genre heads (default: the one its graph computes); `batch_size` None: the bundle's hint, else 4."""
    from audioconcept.runtime.registry import resolve_bundle

    root = resolve_bundle(bundle)
    kind = kind_of(read_manifest(root))
    b = open_bundle(root, verify=artifacts_for(backend, kind) if backend in BACKENDS else ())
    if not b.manifest["artifacts"]:
        raise BundleError(f"{root}: the bundle holds no artifacts")
    return Model(b, backend, device, threads, batch_size, head)
