"""`load(bundle, backend)` -> Model with `predict(path)`: songs of any length, window by window."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from audioconcept.data.audio import MIN_SECONDS, Window, audio_info, check_long_enough, iter_windows, windows_from_array
from audioconcept.errors import AudioConceptError, BundleError, EmptyAudio, UndecodableAudio
from audioconcept.runtime.aggregate import SongAggregator, SongSettings
from audioconcept.runtime.backends import make_backend
from audioconcept.runtime.bundle import Bundle, open_bundle, read_manifest
from audioconcept.runtime.concept_probes import ConceptProbes
from audioconcept.runtime.formats import BACKENDS, artifacts_for, kind_of
from audioconcept.runtime.frontend import NumpyMelFrontEnd
from audioconcept.runtime.io_check import check_outputs, check_session_io
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


def append_probes(out: Outputs, probes: ConceptProbes, where: str) -> Outputs:
    """The concept probes' probabilities on the graph's embedding, after the graph's own concept outputs (and as
    constant frames over each window)."""
    if out.embedding is None or out.concepts is None:
        raise BundleError(f"{where}: the bundle has concept probes, but its model gives no embedding or concepts")
    p = probes.predict(out.embedding)
    concepts = np.concatenate([np.asarray(out.concepts, dtype=np.float64), p], axis=1)
    frames = out.concept_frames
    if frames is not None:
        frames = np.concatenate([frames, np.repeat(p[:, :, None], frames.shape[-1], axis=2)], axis=1)
    return Outputs(out.logits, out.probabilities, out.embedding, concepts, frames)


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
        # windows per backend call: one on a CPU (onnxruntime already spreads one window over the cores, and a
        # batch of CNN windows took 134 MB at peak against 112 MB one at a time), 16 on a GPU (full batches:
        # 7.1 ms for 16 CNN windows against 1.1 ms for one on an H200); a bundle may ask for less (musicnn)
        hinted = (self.m.get("runtime_hints") or {}).get("batch_size")
        self.batch_size = batch_size or int(hinted or (16 if self.backend.device == "cuda" else 1))
        self.frontend = (
            NumpyMelFrontEnd(self.m["frontend"], self.backend.threads.frontend)
            if self.backend.input_kind == "mel"
            else None
        )
        self.concept_names: list[str] = list(self.settings.concept_names)
        self.concept_thresholds: list[float] = list(self.settings.concept_thresholds)
        self.probes = ConceptProbes.from_manifest(self.m)

    @property
    def name(self) -> str:
        return self.bundle.name

    @property
    def hop_s(self) -> float:
        """The bundle's default hop (shorter than the window where the model ignores the window's end)."""
        return float(self.m.get("hop_s") or self.window_s)

    def prepare(self, windows: list[Window]) -> np.ndarray:
        """Windows -> what the backend takes (waveforms, mel from the numpy front end, or SVM features)."""
        if self.backend.input_kind == "features":
            from audioconcept.models.features import extract_features

            return np.stack([extract_features(w.samples[: w.valid], self.sample_rate) for w in windows])
        return self.prepare_array(np.stack([w.samples for w in windows]))

    def prepare_array(self, x: np.ndarray) -> np.ndarray:
        """(B, window samples) waveforms -> what a waveform or mel backend takes."""
        return self.frontend(x) if self.frontend is not None else x

    def run_batch(self, windows: list[Window]) -> Outputs:
        """The backend on one batch, its outputs checked against the manifest (shape, finiteness)."""
        out = self.backend.run(self.prepare(windows))
        # a tagger's concept output is its source tags (merged into named concepts afterwards)
        tags = self.settings.tags
        n_concepts = tags.graph_outputs if tags is not None else len(self.concept_names)
        check_outputs(out, len(self.labels), n_concepts, str(self.bundle.root))
        if self.probes is not None:
            out = append_probes(out, self.probes, str(self.bundle.root))
        return out

    def run_windows(self, windows: Iterable[Window]) -> Iterator[tuple[list[Window], Outputs]]:
        batch: list[Window] = []
        for w in windows:
            batch.append(w)
            if len(batch) == self.batch_size:
                yield batch, self.run_batch(batch)
                batch = []
        if batch:
            yield batch, self.run_batch(batch)

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
            agg.add(batch, out.logits, out.probabilities, out.concepts, out.concept_frames, out.embedding)
            if on_progress and total_s > 0:
                on_progress(min(1.0, agg.duration / total_s))
        if not agg.windows:
            raise EmptyAudio(f"{path}: no audio windows to analyse")
        res = self.result(agg, path, top_k)
        res.timing_ms = {"total": round((time.perf_counter() - t0) * 1e3, 2)}
        return res

    def result(self, agg: SongAggregator, path: str | Path, top_k: int = 3) -> SongResult:
        m = self.m
        return agg.result(
            str(path),
            self.name,
            self.bundle.arch,
            m.get("trained_on", ""),
            self.backend.name,
            self.backend.device,
            top_k,
        )

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
            iter_windows(
                path,
                self.window_s,
                hop_s or self.hop_s,
                sr=self.sample_rate,
                min_seconds=MIN_SECONDS,
                context=self.context,
            )
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
        check_long_enough(audio.size, self.sample_rate, str(path))
        hop = hop_s or self.hop_s
        windows = windows_from_array(audio, self.window_s, hop, sr=self.sample_rate, context=self.context)
        return self.predict_windows(windows, path, top_k, on_progress, audio.size / self.sample_rate)


class SongFailed(NamedTuple):
    """What `Model.predict_many` yields for a song it could not analyse."""

    path: str
    error: AudioConceptError


def _tagged_windows(model: Model, paths: Iterable[str | Path], hop_s: float) -> Iterator[tuple]:
    """(song index, path, Window | AudioConceptError | None for the song's end) across songs."""
    for i, p in enumerate(paths):
        try:
            windows = iter_windows(
                p, model.window_s, hop_s, sr=model.sample_rate, min_seconds=MIN_SECONDS, context=model.context
            )
            for w in windows:
                yield i, p, w
        except AudioConceptError as e:
            yield i, p, e
            continue
        except Exception as e:  # noqa: BLE001 - a file the decoder chokes on fails alone, in one line
            yield i, p, UndecodableAudio(f"{p}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            continue
        yield i, p, None


def predict_many(
    model: Model, paths: Iterable[str | Path], hop_s: float | None = None, top_k: int = 3
) -> Iterator[SongResult | SongFailed]:
    """Songs in order, with windows of consecutive songs sharing batches (a GPU sees full batches even for
    short songs). Decoding runs a song ahead in a background thread. A song that cannot be decoded yields
    SongFailed and the rest go on."""
    hop = hop_s or model.hop_s
    aggs: dict[int, SongAggregator] = {}
    # songs whose last window has been read (or that failed), in order; emitted once their batch has run
    ended: dict[int, tuple[str, AudioConceptError | None]] = {}
    batch: list[tuple[int, Window]] = []
    t0 = time.perf_counter()

    def flush() -> Iterator[SongResult | SongFailed]:
        nonlocal batch, t0
        if batch:
            out = model.run_batch([w for _, w in batch])
            for j, (i, w) in enumerate(batch):
                if i in aggs:
                    c = out.concepts[j : j + 1] if out.concepts is not None else None
                    f = out.concept_frames[j : j + 1] if out.concept_frames is not None else None
                    e = out.embedding[j : j + 1] if out.embedding is not None else None
                    aggs[i].add([w], out.logits[j : j + 1], out.probabilities[j : j + 1], c, f, e)
            batch = []
        for i in sorted(ended):
            p, err = ended.pop(i)
            agg = aggs.pop(i, None)
            if err is None and (agg is None or not agg.windows):
                err = EmptyAudio(f"{p}: no audio windows to analyse")
            if err is not None:
                yield SongFailed(p, err)
                continue
            res = model.result(agg, p, top_k)
            res.timing_ms = {"total": round((time.perf_counter() - t0) * 1e3, 2)}
            t0 = time.perf_counter()
            yield res

    # decoding runs up to two batches ahead, so that it overlaps the backend's run of the batch before
    for i, p, item in prefetch(_tagged_windows(model, paths, hop), depth=2 * model.batch_size):
        if isinstance(item, AudioConceptError):
            aggs.pop(i, None)  # windows of it already batched are dropped
            ended[i] = (str(p), item)
        elif item is None:
            ended[i] = (str(p), None)
        else:
            aggs.setdefault(i, model.aggregator())
            batch.append((i, item))
            if len(batch) == model.batch_size:
                yield from flush()
    yield from flush()


def load(
    bundle: str | Path | None,
    backend: str = "onnx",
    device: str = "auto",
    threads: int = 0,
    batch_size: int | None = None,
    head: str | None = None,
) -> Model:
    """Open a bundle (checking schema and the sha256 of the artifacts the backend reads) and
    build the backend. `bundle` is a folder or the name of a packaged bundle (None: the default one); `head`
    picks one of a tag bundle's genre heads (default: the one its graph computes); `batch_size` None: the
    bundle's hint, else 4."""
    from audioconcept.runtime.registry import resolve_bundle

    root = resolve_bundle(bundle)
    m = read_manifest(root)
    kind = kind_of(m)
    b = open_bundle(root, verify=artifacts_for(backend, kind) if backend in BACKENDS else (), manifest=m)
    if not b.manifest["artifacts"]:
        raise BundleError(f"{root}: the bundle holds no artifacts")
    try:
        model = Model(b, backend, device, threads, batch_size, head)
    except AudioConceptError:
        raise
    except Exception as e:  # noqa: BLE001 - onnxruntime/torch raise many types on a file they cannot use
        why = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), "")[:300]
        raise BundleError(f"{root}: cannot load its {backend} model ({type(e).__name__}: {why})") from None
    check_session_io(model.backend, b.manifest, str(root))
    return model
