"""Live analysis: blocks of samples in, one window result out as soon as that window's samples have arrived.

`Model.stream` returns a `LiveStream`. The framing is the file path's (`data.audio.StreamFramer`: the same
window starts, the same musicnn song context, the last window aligned to the end), the resampling is soxr's
streaming resampler (bit-identical to the file path's, whatever the block sizes), and the window rows come
out of the same `SongAggregator.add` as `predict`'s, so a streamed window row equals `predict`'s row for the
same audio. What differs is when the rows exist: a window is analysed when the last sample it needs has
arrived; the window aligned to the end, and with a song context the windows whose right context is the
end's reflection, only when the stream ends.

Memory does not grow with the stream: the framer holds a ring of one window plus context, and
`BoundedAggregator` keeps running sums and maxima for the song level and only the last `history` windows
(rows and concept frames, for the concept spans).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import soxr

from audioconcept.data.audio import StreamFramer, Window, check_finite, check_sample_rate, to_mono
from audioconcept.errors import AudioError, EmptyAudio
from audioconcept.runtime.aggregate import SongAggregator, softmax
from audioconcept.runtime.result import ConceptSpan, SongResult, WindowResult

log = logging.getLogger(__name__)

HISTORY = 200  # windows whose rows and concept frames the song-level summary keeps (musicnn: 10 minutes)
MAX_CHANNELS = 64


@dataclass(frozen=True)
class LiveWindow:
    """One analysed window of a stream.

    Example:
        ```python
        for w in model.stream(blocks, 44100, 2).windows():
            latency = time.perf_counter() - w.arrived  # from its last sample's arrival to now
            print(w.start, w.end, w.genre, w.present, w.skipped, latency)
        ```
    """

    result: WindowResult  # the same row `predict` gives (start and end in stream seconds)
    present: tuple[str, ...]  # concepts present in this window, by the song's rule (SongAggregator.window_present)
    arrived: float  # time.perf_counter() when the last sample it needs arrived
    analysed: float  # time.perf_counter() when its row was ready
    skipped: int  # windows skipped so far because analysis fell behind the stream
    compute_s: float = 0.0  # its front end, model and head
    similar_to: tuple[str, ...] = ()  # genre-, style- or era-named concepts present (not reasons), as a song's

    @property
    def start(self) -> float:
        return self.result.start

    @property
    def end(self) -> float:
        return self.result.end

    @property
    def genre(self) -> str:
        """The window's genre, or "silence" under the silence floor (runtime.silence)."""
        return self.result.shown_genre


@dataclass(frozen=True)
class LiveSummary:
    """The song-level aggregate of everything analysed so far.

    Example:
        ```python
        *rows, summary = model.stream(blocks, 44100, 2)
        print(summary.result.genres, summary.windows, summary.skipped, summary.real_time_factor)
        ```
    """

    result: SongResult  # its `windows` are the last `history` rows
    windows: int  # analysed
    skipped: int  # skipped because analysis fell behind
    heard_s: float  # seconds of audio received
    wall_s: float = 0.0  # since the stream started
    cpu_s: float = 0.0  # CPU time of this process (every thread) since the stream started
    compute_s: float = 0.0  # spent analysing windows

    @property
    def real_time_factor(self) -> float:
        """Analysis time per second of audio heard (below 1: faster than real time)."""
        return self.compute_s / self.heard_s if self.heard_s else 0.0


@dataclass
class BoundedAggregator(SongAggregator):
    """A SongAggregator whose memory does not grow with the stream. The song's genres (mean logits), concept and
    tag strengths (strongest window) and explanation (mean tags) are running sums and maxima over every window;
    the rows and the concept frames (for the spans) are those of the last `history` windows."""

    history: int = HISTORY
    count: int = 0
    _sums: dict[str, np.ndarray] = field(default_factory=dict)
    _tag_max: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.history < 1:
            raise ValueError("history must be at least 1 window")
        self.windows = deque(maxlen=self.history)  # type: ignore[assignment]
        self.frames = deque(maxlen=self.history)  # type: ignore[assignment]
        self.window_on = deque(maxlen=self.history)  # type: ignore[assignment]

    def _fold(self, name: str, rows: list[np.ndarray]) -> None:
        if rows:
            total = np.sum(rows, axis=0)
            self._sums[name] = self._sums[name] + total if name in self._sums else total
            rows.clear()

    def add(self, batch: list[Window], logits, probabilities, concepts=None, frames=None) -> None:
        self._settle()
        super().add(batch, logits, probabilities, concepts, frames)
        self._settle()

    def _settle(self) -> None:
        """Fold the rows the base class appended into the running figures (also after an add that Ctrl-C cut)."""
        if self._tag_max is not None and self.window_tags and self.window_tags[0] is self._tag_max:
            self.window_tags.pop(0)  # the running maximum that stood in for them
        self.count += len(self.logits)
        self._fold("logits", self.logits)
        self._fold("probabilities", self.probabilities)
        if self.window_concepts:
            self.window_concepts[:] = [np.max(self.window_concepts, axis=0)]
        if self.window_tags:
            t = np.max(self.window_tags, axis=0)
            self._tag_max = t if self._tag_max is None else np.maximum(self._tag_max, t)
            if self.settings.reasons is not None:
                self._fold("reason_inputs", [self.settings.reasons.inputs(t) for t in self.window_tags])
            self.window_tags.clear()  # folded into the running maximum and the reasons head's sums
        if self._tag_max is not None:
            self.window_tags.append(self._tag_max)  # non-empty: the song has tags

    def genre_probabilities(self) -> np.ndarray:
        if self.settings.multi_label:
            return self._sums["probabilities"] / self.count
        return softmax(self._sums["logits"] / self.count)

    def tag_strengths(self) -> np.ndarray:
        return self._tag_max

    def reason_inputs(self) -> np.ndarray:
        return self._sums["reason_inputs"] / self.count

    def concept_spans(self, present: list[str]) -> list[ConceptSpan]:
        """Spans over the kept windows only: the grid starts at the first kept window, not at 0."""
        if not self.frames and not self.window_on:
            return []
        t0 = self.frames[0][0] if self.frames else self.window_on[0][0]
        shifted = [(a - t0, b - t0, f) for a, b, f in self.frames]
        on = [(a - t0, b - t0, o, v) for a, b, o, v in self.window_on]
        kept = SongAggregator(self.settings, frames=shifted, duration=self.duration - t0, window_on=on)
        return [
            ConceptSpan(sp.concept, round(sp.start + t0, 3), round(sp.end + t0, 3), sp.strength)
            for sp in kept.concept_spans(present)
        ]


class ChunkFramer:
    """Blocks of `channels` at `rate` -> mono at the model's rate (soxr's streaming resampler) -> windows, each with
    the time its last needed sample arrived."""

    def __init__(self, rate: int, channels: int, sr: int, window_s: float, hop_s: float, context: int, where: str):
        check_sample_rate(rate, where)
        if not 1 <= channels <= MAX_CHANNELS:
            raise AudioError(f"{where}: {channels} channels is implausible (accepted: 1 to {MAX_CHANNELS})")
        self.rate, self.channels, self.sr, self.where = rate, channels, sr, where
        self.context = context
        self.window = int(round(window_s * sr))
        self.framer = StreamFramer(window_s, hop_s, sr, context)
        self.resampler = soxr.ResampleStream(rate, sr, 1, dtype="float32", quality="HQ") if rate != sr else None
        self.frames_in = 0  # input frames received
        self._arrivals: deque[tuple[int, float]] = deque()  # (input frames received by the end of a block, when)

    @property
    def heard_s(self) -> float:
        return self.frames_in / self.rate

    def _mono(self, chunk) -> np.ndarray:
        x = np.asarray(chunk)
        if x.ndim == 1 and self.channels > 1:
            if x.size % self.channels:
                raise AudioError(
                    f"{self.where}: a block of {x.size} samples is not whole {self.channels}-channel frames"
                )
            x = x.reshape(-1, self.channels)
        if x.ndim == 2 and x.shape[1] != self.channels:
            raise AudioError(f"{self.where}: a block has {x.shape[1]} channels, not {self.channels}")
        if np.issubdtype(x.dtype, np.integer):
            x = x.astype(np.float32) / float(np.iinfo(x.dtype).max + 1)
        mono = to_mono(x)
        check_finite(mono, self.where)
        return mono

    def _arrival_of(self, w: Window) -> float:
        """When the input block holding the last sample the window needs arrived."""
        p = int(round(w.start * self.sr))
        last = p + self.window + self.context - 1  # in the song's samples at the model's rate
        need = int(last * self.rate // self.sr)  # ... and in input frames
        for end, t in self._arrivals:
            if end > need:
                return t
        return self._arrivals[-1][1]

    def _timed(self, windows: list[Window], now: float | None = None) -> list[tuple[Window, float]]:
        out = [(w, now if now is not None else self._arrival_of(w)) for w in windows]
        if out and now is None:  # blocks no later window needs
            p = int(round(out[-1][0].start * self.sr)) + int(round(self.framer.hop))
            need = int((p + self.window + self.context - 1) * self.rate // self.sr)
            while len(self._arrivals) > 1 and self._arrivals[0][0] <= need:
                self._arrivals.popleft()
        while len(self._arrivals) > 4096:  # a hop far longer than a block: keep the recent ones
            self._arrivals.popleft()
        return out

    def push(self, chunk, arrived: float) -> list[tuple[Window, float]]:
        mono = self._mono(chunk)
        if mono.size == 0:
            return []
        self.frames_in += mono.size
        self._arrivals.append((self.frames_in, arrived))
        if self.resampler is not None:
            mono = self.resampler.resample_chunk(mono)
        return self._timed(self.framer.push(mono))

    def finish(self, arrived: float, min_seconds: float) -> list[tuple[Window, float]]:
        """The windows the stream's end decides; they needed the end, which arrived at `arrived`."""
        if self.frames_in == 0:
            raise EmptyAudio(f"{self.where}: the stream ended before any audio arrived")
        windows: list[Window] = []
        if self.resampler is not None:
            tail = self.resampler.resample_chunk(np.zeros(0, np.float32), last=True)
            windows += self.framer.push(tail)
        windows += self.framer.finish(self.where, min_seconds)
        return self._timed(windows, arrived)


class _Producer(threading.Thread):
    """Pulls blocks in the background so that the source is never held up by analysis. At most `max_pending`
    windows wait (or the windows one block completed, if more); when a new one comes, the oldest waiting one is
    skipped (and counted)."""

    def __init__(self, chunks: Iterable, framer: ChunkFramer, max_pending: int, min_seconds: float) -> None:
        super().__init__(daemon=True, name="audioconcept-live-source")
        self.chunks, self.framer, self.max_pending, self.min_seconds = chunks, framer, max_pending, min_seconds
        self.pending: deque[tuple[Window, float]] = deque()
        self.cond = threading.Condition()
        self.skipped = 0
        self.done = False
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def _put(self, items: list[tuple[Window, float]]) -> None:
        if not items:
            return
        # windows that arrive together (the end's, or several in one long block) wait together: only windows left
        # from an earlier block are stale
        limit = max(self.max_pending, len(items))
        with self.cond:
            self.pending.extend(items)
            while len(self.pending) > limit:
                self.pending.popleft()
                self.skipped += 1
            self.cond.notify()

    def run(self) -> None:
        try:
            for chunk in self.chunks:
                self._put(self.framer.push(chunk, time.perf_counter()))
                if self.stop.is_set():
                    return
            self._put(self.framer.finish(time.perf_counter(), self.min_seconds))
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            self.error = e
        finally:
            with self.cond:
                self.done = True
                self.cond.notify()

    def items(self) -> Iterator[tuple[Window, float, int]]:
        while True:
            with self.cond:
                while not self.pending and not self.done:
                    self.cond.wait(0.1)  # a timeout keeps Ctrl-C responsive
                if self.pending:
                    w, t = self.pending.popleft()
                    skipped = self.skipped
                elif self.error is not None:
                    raise self.error
                else:
                    return
            yield w, t, skipped


class LiveStream:
    """Iterate it for `LiveWindow`s as the audio arrives, then one `LiveSummary`; `summary()` gives the aggregate
    of what was analysed so far at any point (after Ctrl-C, say). `Model.stream` makes one.

    Example:
        ```python
        stream = model.stream(blocks, 16000, 1, max_pending=1)  # live: skip windows rather than fall behind
        try:
            for w in stream.windows():
                print(w.start, w.genre)
        except KeyboardInterrupt:
            pass
        print(stream.summary().result.genres)
        ```
    """

    def __init__(
        self,
        model,
        chunks: Iterable,
        rate: int,
        channels: int = 1,
        hop_s: float | None = None,
        top_k: int = 3,
        max_pending: int | None = None,
        history: int | None = None,
        source: str = "stream",
        min_seconds: float = 0.0,
    ) -> None:
        from audioconcept.data.audio import MIN_SECONDS

        if max_pending is not None and max_pending < 1:
            raise ValueError("max_pending must be at least 1 (or None: analyse every window)")
        self.model = model
        self.source = source
        self.top_k = top_k
        self.framer = ChunkFramer(
            int(rate), int(channels), model.sample_rate, model.window_s, hop_s or model.hop_s, model.context, source
        )
        self.agg = BoundedAggregator(model.settings, history=history or HISTORY)
        self._chunks = chunks
        self._max_pending = max_pending
        self._min_seconds = min_seconds or MIN_SECONDS
        self._producer: _Producer | None = None
        self.skipped = 0
        self.compute_s = 0.0
        self._t0 = (time.perf_counter(), time.process_time())

    def _inline(self) -> Iterator[tuple[Window, float, int]]:
        for chunk in self._chunks:
            for w, t in self.framer.push(chunk, time.perf_counter()):
                yield w, t, 0
        for w, t in self.framer.finish(time.perf_counter(), self._min_seconds):
            yield w, t, 0

    def windows(self) -> Iterator[LiveWindow]:
        """Analysed windows, as they come; every window, or (with `max_pending`) the latest ones."""
        if self._max_pending is None:
            items = self._inline()
        else:
            self._producer = _Producer(self._chunks, self.framer, self._max_pending, self._min_seconds)
            self._producer.start()
            items = self._producer.items()
        m = self.model
        self._t0 = (time.perf_counter(), time.process_time())
        if self._max_pending is not None:
            self.warm_up()  # while the source thread already reads: the first window does not pay for it
        try:
            for w, arrived, skipped in items:
                t = time.perf_counter()
                out = m.run_batch([w])
                self.agg.add([w], out.logits, out.probabilities, out.concepts, out.concept_frames)
                row = self.agg.windows[-1]
                # the song's rule: above the threshold, not failed, not outweighed by an opposite in this window
                present = self.agg.window_present()
                self.skipped = skipped
                done = time.perf_counter()
                self.compute_s += done - t
                yield LiveWindow(row, present, arrived, done, skipped, done - t, self.agg.window_present(True))
        finally:
            if self._producer is not None:
                self._producer.stop.set()
                self.skipped = self._producer.skipped

    def warm_up(self) -> None:
        """One window of quiet noise through the model, not counted: onnxruntime's first run costs several times
        a later one, and a live stream should not pay for it on its first window."""
        m = self.model
        size = self.framer.window + 2 * self.framer.context
        x = (1e-3 * np.random.default_rng(0).standard_normal(size)).astype(np.float32)
        try:
            m.run_batch([Window(0, 0.0, m.window_s, x, self.framer.window)])
        except Exception as e:  # noqa: BLE001 - a warm-up that fails costs only the first window's latency
            log.debug("warm-up failed: %s", e)

    def summary(self) -> LiveSummary:
        if not self.agg.seen:
            raise EmptyAudio(f"{self.source}: no window was analysed")
        res = self.model.result(self.agg, self.source, self.top_k)  # SilentAudio where every window was silent
        wall, cpu = time.perf_counter() - self._t0[0], time.process_time() - self._t0[1]
        return LiveSummary(
            res, self.agg.seen, self.skipped, round(self.framer.heard_s, 3), wall, cpu, round(self.compute_s, 4)
        )

    def __iter__(self) -> Iterator[LiveWindow | LiveSummary]:
        yield from self.windows()
        yield self.summary()
