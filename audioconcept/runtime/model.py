"""`load(bundle, backend)` -> Model with `predict(path)`: songs of any length, window by window."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from audioconcept.data.audio import MIN_SECONDS, Window, audio_info, check_long_enough, iter_windows, windows_from_array
from audioconcept.errors import AudioConceptError, BundleError, EmptyAudio, UndecodableAudio
from audioconcept.runtime.aggregate import SongAggregator, SongSettings
from audioconcept.runtime.backends import make_backend
from audioconcept.runtime.bundle import Bundle, open_bundle, read_manifest
from audioconcept.runtime.concept_probes import ConceptProbes
from audioconcept.runtime.formats import BACKENDS, artifacts_for, kind_of
from audioconcept.runtime.frontend import NumpyMelFrontEnd
from audioconcept.runtime.io_check import check_outputs, check_result_finite, check_session_io
from audioconcept.runtime.outputs import Outputs
from audioconcept.runtime.result import SongResult

if TYPE_CHECKING:
    from audioconcept.runtime.stream import LiveStream

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
    """An opened bundle and its backend: what `load` returns. Songs of any length go through it window by window.

    Build it with `load`, which checks the bundle first. Its attributes say what it runs: `labels` (the genres,
    in the model's order), `window_s` and `sample_rate` (what one window is), `concept_names`, `backend` (the
    row of the formats table it runs, and the device) and `bundle` (the folder and its manifest).

    Example:
        ```python
        from audioconcept.runtime import load

        model = load("cnn-synth")
        print(model.name, model.labels, model.window_s, model.hop_s)
        result = model.predict("song.wav", hop_s=5.0)
        ```
    """

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
        """The bundle's name (its manifest's `name`).

        Example:
            ```python
            load("svm-gtzan").name  # 'svm-gtzan'
            ```
        """
        return self.bundle.name

    @property
    def hop_s(self) -> float:
        """The bundle's default hop in seconds (shorter than the window where the model ignores the window's end).

        Example:
            ```python
            model = load("cnn-synth")
            model.hop_s < model.window_s  # True: the CNN does not hear the end of its window
            ```
        """
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
        res = agg.result(
            str(path),
            self.name,
            self.bundle.arch,
            m.get("trained_on", ""),
            self.backend.name,
            self.backend.device,
            top_k,
        )
        check_result_finite(res, str(self.bundle.root))
        return res

    def predict(
        self,
        path: str | Path,
        hop_s: float | None = None,
        top_k: int = 3,
        on_progress: Callable[[float], None] | None = None,
    ) -> SongResult:
        """Stream a song of any length from disk, window by window; `on_progress(fraction)` after each batch.

        Args:
            path: an audio file (WAV, FLAC, OGG, MP3, …; any sample rate and channel count).
            hop_s: seconds between window starts (default: the bundle's `hop_s`).
            top_k: how many genres `SongResult.genres` keeps.
            on_progress: called with the fraction of the song done, after each batch.

        Returns:
            The song's genres, windows, concepts and spans.

        Raises:
            AudioConceptError: the file cannot be decoded, is empty or shorter than half a second.

        Example:
            ```python
            result = load("musicnn-gtzan").predict("song.flac", top_k=5)
            for label, p in result.genres:
                print(f"{label}: {p:.3f}")
            ```
        """
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

    def stream(
        self,
        chunks: Iterable[np.ndarray],
        rate: int,
        channels: int = 1,
        hop_s: float | None = None,
        top_k: int = 3,
        max_pending: int | None = None,
        history: int | None = None,
        source: str = "stream",
    ) -> LiveStream:
        """Analyse audio as it arrives: blocks of samples in, one window row out as soon as that window's samples
        (and the song context it needs) have arrived, then the song-level aggregate of everything heard.

        `chunks` yields blocks of any size: (frames,) or (frames, channels) arrays, float or integer PCM, at
        `rate` Hz. The windows, front end, heads, concept thresholds and per-window reasons are `predict`'s:
        for the same audio the rows are equal (the window aligned to the end comes when the stream ends).
        `max_pending` None analyses every window (a slow consumer slows the source down); a number lets the
        source run in a background thread and skips (and counts) the oldest waiting windows beyond it, for
        live input that cannot wait. Memory stays flat: one window plus context, and the rows of the last
        `history` windows (None: stream.HISTORY, 200) for the summary's rows and concept spans.

        Example:
            ```python
            import soundfile as sf
            from audioconcept.runtime import load
            from audioconcept.runtime.stream import LiveWindow

            model = load("musicnn-gtzan")
            with sf.SoundFile("song.flac") as f:
                blocks = f.blocks(blocksize=1024, dtype="float32", always_2d=True)
                for item in model.stream(blocks, f.samplerate, f.channels):
                    if isinstance(item, LiveWindow):
                        print(f"{item.start:6.1f}-{item.end:6.1f} s  {item.genre}  {', '.join(item.present)}")
                    else:  # the LiveSummary, last
                        print("song:", item.result.genres[0], item.windows, "windows")
            ```
        """
        from audioconcept.runtime.stream import LiveStream

        return LiveStream(self, chunks, rate, channels, hop_s, top_k, max_pending, history, source)

    def predict_array(
        self,
        audio: np.ndarray,
        path: str | Path,
        hop_s: float | None = None,
        top_k: int = 3,
        on_progress: Callable[[float], None] | None = None,
    ) -> SongResult:
        """The same for a song already decoded at the bundle's sample rate (mono float32).

        Args:
            audio: mono float32 samples at `self.sample_rate`.
            path: the name the result carries.
            hop_s: seconds between window starts (default: the bundle's `hop_s`).
            top_k: how many genres to keep.
            on_progress: called with the fraction of the song done, after each batch.

        Example:
            ```python
            import numpy as np

            model = load("cnn-synth")
            audio = np.zeros(model.sample_rate * 10, dtype=np.float32)  # 10 s of your own samples
            result = model.predict_array(audio, "in-memory")
            ```
        """
        check_long_enough(audio.size, self.sample_rate, str(path))
        hop = hop_s or self.hop_s
        windows = windows_from_array(audio, self.window_s, hop, sr=self.sample_rate, context=self.context)
        return self.predict_windows(windows, path, top_k, on_progress, audio.size / self.sample_rate)


class SongFailed(NamedTuple):
    """What `predict_many` yields for a song it could not analyse: its path and the one-line error.

    Example:
        ```python
        for r in predict_many(model, ["good.mp3", "broken.mp3"]):
            if isinstance(r, SongFailed):
                print(f"{r.path}: {r.error}")
        ```
    """

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
    SongFailed and the rest go on.

    Args:
        model: from `load`.
        paths: audio files, analysed in this order.
        hop_s: seconds between window starts (default: the bundle's `hop_s`).
        top_k: how many genres each result keeps.

    Yields:
        One `SongResult` or `SongFailed` per path, in the input order.

    Example:
        ```python
        from audioconcept.runtime import SongFailed, load, predict_many

        model = load("musicnn-gtzan")
        for r in predict_many(model, ["a.mp3", "b.flac"]):
            print(r.path, r.error if isinstance(r, SongFailed) else r.genre)
        ```
    """
    hop = hop_s or model.hop_s
    aggs: dict[int, SongAggregator] = {}
    # songs whose last window has been read (or that failed), in order; emitted once their batch has run
    ended: dict[int, tuple[str, AudioConceptError | None]] = {}
    batch: list[tuple[int, Window]] = []
    t0 = time.perf_counter()

    failed_in_batch: dict[int, AudioConceptError] = {}

    def flush() -> Iterator[SongResult | SongFailed]:
        nonlocal batch, t0
        if batch:
            try:
                out = model.run_batch([w for _, w in batch])
            except AudioConceptError as e:  # a non-finite output, say: the songs of this batch fail, the rest go on
                for i, _ in batch:
                    aggs.pop(i, None)
                    failed_in_batch.setdefault(i, e)
                batch = []
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
            err = err or failed_in_batch.pop(i, None)
            if err is None and (agg is None or not agg.windows):
                err = EmptyAudio(f"{p}: no audio windows to analyse")
            if err is not None:
                yield SongFailed(p, err)
                continue
            try:
                res = model.result(agg, p, top_k)
            except AudioConceptError as e:
                yield SongFailed(p, e)
                continue
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
        elif i not in failed_in_batch:
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
    bundle's hint, else one window per call on a CPU and 16 on a GPU.

    Args:
        bundle: a bundle folder, the name of a bundle in `./models` or inside the package, or None for the
            default (the best real-music bundle in `./models`, else the packaged `musicnn-gtzan`).
        backend: a row of the formats table: onnx, onnx-int8, torchscript, pt2, torch, coreml.
        device: auto, cpu, cuda or ane.
        threads: CPU threads (0: every usable core).
        batch_size: windows per backend call.
        head: a tag bundle's genre head, all-tags or musical.

    Returns:
        The model, ready to `predict`.

    Raises:
        AudioConceptError: no such bundle, a manifest or an artifact that fails its checks, or a backend or
            device this host lacks (one line each).

    Example:
        ```python
        from audioconcept.runtime import load

        model = load("musicnn-gtzan", head="musical")
        print(model.predict("song.mp3").genres)
        ```
    """
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
