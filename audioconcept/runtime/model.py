"""`load(bundle, backend)` -> Model with `predict(path)`: songs of any length, window by window."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from audioconcept.data.audio import MIN_SECONDS, Window, audio_info, iter_windows
from audioconcept.errors import AudioConceptError, BundleError
from audioconcept.runtime.backends import BACKENDS, Outputs, artifacts_for, make_backend
from audioconcept.runtime.bundle import Bundle, open_bundle, read_manifest
from audioconcept.runtime.frontend import NumpyMelFrontEnd
from audioconcept.runtime.io_check import check_outputs, check_session_io
from audioconcept.runtime.result import SongResult, WindowResult
from audioconcept.runtime.timeline import frames_to_grid, smooth_grid, spans_from_grid

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


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


class Model:
    def __init__(
        self, bundle: Bundle, backend: str = "onnx", device: str = "auto", threads: int = 0, batch_size: int = 4
    ) -> None:
        self.bundle = bundle
        self.backend = make_backend(bundle, backend, device, threads)
        self.m = bundle.manifest
        self.labels = list(self.m["labels"])
        self.window_s = float(self.m["window_s"])
        self.batch_size = batch_size
        self.frontend = NumpyMelFrontEnd(self.m["frontend"]) if self.backend.input_kind == "mel" else None
        c = self.m.get("concepts") or {}
        self.concept_names: list[str] = list(c.get("names", []))
        self.concept_thresholds: list[float] = [0.5] * len(self.concept_names)

    @property
    def name(self) -> str:
        return self.bundle.name

    def _prepare(self, windows: list[Window]) -> np.ndarray:
        if self.backend.input_kind == "features":
            from audioconcept.models.features import extract_features

            return np.stack([extract_features(w.samples[: w.valid]) for w in windows])
        x = np.stack([w.samples for w in windows])
        return self.frontend(x) if self.frontend is not None else x

    def _run(self, batch: list[Window]) -> Outputs:
        out = self.backend.run(self._prepare(batch))
        check_outputs(out, len(self.labels), len(self.concept_names), str(self.bundle.root))
        return out

    def run_windows(self, windows: Iterable[Window]) -> Iterator[tuple[list[Window], Outputs]]:
        batch: list[Window] = []
        for w in windows:
            batch.append(w)
            if len(batch) == self.batch_size:
                yield batch, self._run(batch)
                batch = []
        if batch:
            yield batch, self._run(batch)

    def predict(
        self,
        path: str | Path,
        hop_s: float | None = None,
        top_k: int = 3,
        on_progress: Callable[[float], None] | None = None,
    ) -> SongResult:
        """`on_progress(fraction)` is called after each batch of windows."""
        t0 = time.perf_counter()
        # default: the bundle's hop (shorter than the window where the model ignores the window's end)
        hop = hop_s or float(self.m.get("hop_s") or self.window_s)
        total_s = audio_info(path).duration if on_progress else 0.0
        wins: list[WindowResult] = []
        logits: list[np.ndarray] = []
        frames: list[tuple[float, float, np.ndarray]] = []
        song_concepts: list[np.ndarray] = []
        duration = 0.0
        windows = iter_windows(path, self.window_s, hop, sr=int(self.m["sample_rate"]), min_seconds=MIN_SECONDS)
        for batch, out in self.run_windows(prefetch(windows)):
            for i, w in enumerate(batch):
                p = out.probabilities[i]
                j = int(np.argmax(p))
                wc = {}
                if out.concepts is not None and self.concept_names:
                    wc = {n: round(float(v), 4) for n, v in zip(self.concept_names, out.concepts[i], strict=True)}
                    song_concepts.append(out.concepts[i])
                    if out.concept_frames is not None:
                        frames.append(
                            (w.start, w.start + self.window_s * w.valid / w.samples.size, out.concept_frames[i])
                        )
                wins.append(
                    WindowResult(
                        w.index,
                        round(w.start, 3),
                        round(w.end, 3),
                        self.labels[j],
                        float(p[j]),
                        {lab: round(float(v), 6) for lab, v in zip(self.labels, p, strict=True)},
                        wc,
                    )
                )
                logits.append(out.logits[i])
                duration = max(duration, w.end)
            if on_progress and total_s > 0:
                on_progress(min(1.0, duration / total_s))
        song = _softmax(np.mean(logits, axis=0))
        order = np.argsort(-song)[: max(1, top_k)]
        res = SongResult(
            str(path),
            self.name,
            self.bundle.arch,
            self.m.get("trained_on", ""),
            self.backend.name,
            self.backend.device,
            round(duration, 3),
            [(self.labels[i], float(song[i])) for i in order],
            wins,
        )
        if song_concepts:
            strength = np.max(song_concepts, axis=0)
            res.concepts = {n: round(float(s), 4) for n, s in zip(self.concept_names, strength, strict=True)}
            res.concepts_present = [
                n for n, s, t in zip(self.concept_names, strength, self.concept_thresholds, strict=True) if s >= t
            ]
            if frames:
                resolution = min(1.0, self.window_s / frames[0][2].shape[-1])
                centres, probs = frames_to_grid(frames, duration, resolution)
                probs = smooth_grid(probs, resolution)
                spans = spans_from_grid(
                    self.concept_names,
                    centres,
                    probs,
                    resolution,
                    self.concept_thresholds,
                    min_len=max(2 * resolution, 1.5),
                    max_gap=max(resolution, 1.0),
                    duration=duration,
                )
                res.concept_spans = [sp for sp in spans if sp.concept in res.concepts_present]
        res.timing_ms = {"total": round((time.perf_counter() - t0) * 1e3, 2)}
        return res


def load(
    bundle: str | Path, backend: str = "onnx", device: str = "auto", threads: int = 0, batch_size: int = 4
) -> Model:
    """Open a bundle (checking schema and the sha256 of the artifacts the backend reads) and
    build the backend. `bundle` is a folder or the name of a packaged bundle."""
    from audioconcept.runtime.registry import resolve_bundle

    root = resolve_bundle(bundle)
    arch = read_manifest(root)["arch"]
    b = open_bundle(root, verify=artifacts_for(backend, arch) if backend in BACKENDS else ())
    if not b.manifest["artifacts"]:
        raise BundleError(f"{root}: the bundle holds no artifacts")
    try:
        model = Model(b, backend, device, threads, batch_size)
    except AudioConceptError:
        raise
    except Exception as e:  # noqa: BLE001 - onnxruntime/torch raise many types on a file they cannot use
        why = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), "")[:300]
        raise BundleError(f"{root}: cannot load its {backend} model ({type(e).__name__}: {why})") from None
    check_session_io(model.backend, b.manifest, str(root))
    return model
