"""Torch-free audio decoding, resampling and windowing.

Everything the runtime needs to turn a file into model-sized windows lives here, so the
same code serves training, evaluation and the deployed runtime.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from audioconcept import SAMPLE_RATE
from audioconcept.data.decoder_noise import quiet_decoder
from audioconcept.errors import (
    AudioFileNotFound,
    AudioTooShort,
    EmptyAudio,
    InvalidHop,
    InvalidSampleRate,
    NonFiniteAudio,
    UndecodableAudio,
)

BLOCK_SECONDS = 10.0
# Sample rates outside this range are a broken or hostile header (a "1 Hz" WAV would make 1 000
# frames a 1 000 s song), not audio.
MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 768_000
# Songs shorter than a window are looped to fill it (see fit_window); below this there is too little
# audio to loop into anything that means something (one sample would become a 30 s DC level).
MIN_SECONDS = 0.5


# At most this many windows per second of audio: a hop of 1e-9 s from a flag or a hostile manifest would cut a song
# into billions of windows and never end. The manifest schema's hop_s minimum and `--hop` say the same.
MAX_WINDOWS_PER_SECOND = 10
MIN_HOP_S = 1.0 / MAX_WINDOWS_PER_SECOND
MAX_HOP_S = 600.0


def check_hop(hop_s: float | None, where: str = "hop") -> None:
    """Refuse a hop outside [MIN_HOP_S, MAX_HOP_S] seconds (None: the window, checked elsewhere)."""
    if hop_s is None:
        return
    if not (math.isfinite(hop_s) and MIN_HOP_S <= hop_s <= MAX_HOP_S):
        raise InvalidHop(
            f"{where}: a hop of {hop_s:g} s is out of range ({MIN_HOP_S:g} to {MAX_HOP_S:g} s, at most "
            f"{MAX_WINDOWS_PER_SECOND} windows per second of audio)"
        )


def _open_error(e: Exception) -> str:
    """libsndfile's reason, without the path (the message already starts with it). libsndfile says "File does
    not exist or is not a regular file" for any file whose format it cannot recognise; the file exists here."""
    if isinstance(e, sf.LibsndfileError):
        why = e.error_string
        if "does not exist or is not a regular file" in why:
            return "unrecognised format or corrupt data"
        return why
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def check_sample_rate(sample_rate, where: str) -> None:
    if sample_rate is None or not (MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE):
        raise InvalidSampleRate(
            f"{where}: sample rate {sample_rate} Hz is implausible (accepted: 1 kHz to 768 kHz); the file's header "
            "is broken"
        )


def check_long_enough(n_samples: int, sr: int, where: str, min_seconds: float = MIN_SECONDS) -> None:
    if n_samples < min_seconds * sr:
        raise AudioTooShort(
            f"{where}: {n_samples / sr:.3f} s of audio is too short to classify (at least {min_seconds} s is needed)"
        )


@dataclass(frozen=True)
class AudioInfo:
    path: str
    sample_rate: int
    channels: int
    frames: int
    format: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


@dataclass(frozen=True)
class Window:
    """One model-sized window of a song; `valid` samples are real audio, the rest padding."""

    index: int
    start: float
    end: float
    samples: np.ndarray
    valid: int


def open_audio(path: str | Path) -> sf.SoundFile:
    p = Path(path)
    if not p.exists():
        raise AudioFileNotFound(f"{p}: no such file")
    if p.is_dir():
        raise UndecodableAudio(f"{p}: is a folder, not an audio file")
    if p.stat().st_size == 0:
        raise EmptyAudio(f"{p}: file is empty (0 bytes)")
    try:
        with quiet_decoder(p.suffix.lower() in (".mp3", ".mpga", ".mp2")):  # libmpg123 speaks on opening, too
            f = sf.SoundFile(str(p))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
        raise UndecodableAudio(f"{p}: not decodable audio ({_open_error(e)})") from None
    try:
        check_sample_rate(f.samplerate, str(p))
    except InvalidSampleRate:
        f.close()
        raise
    return f


def _is_mpeg(f: sf.SoundFile) -> bool:
    """MP3 and MP2, decoded by libmpg123 (which prints to the C stderr; see decoder_noise)."""
    return f.format in ("MP3", "MPEG") or str(f.subtype).startswith("MPEG_LAYER")


def audio_info(path: str | Path) -> AudioInfo:
    with open_audio(path) as f:
        return AudioInfo(str(path), int(f.samplerate), int(f.channels), int(f.frames), str(f.format))


# Float audio lies within ±1; a mix can go past full scale, but samples of 1e30 are a broken or hostile file: their
# spectrum overflows float32 and every model would answer NaN. Past ±MAX_ABS_SAMPLE (60 dB over full scale) a file is
# refused.
MAX_ABS_SAMPLE = 1000.0


def check_finite(x: np.ndarray, where: str) -> None:
    """Refuse NaN, Inf and samples far out of range (see MAX_ABS_SAMPLE)."""
    if not np.isfinite(x).all():
        raise NonFiniteAudio(f"{where}: audio contains NaN or Inf samples")
    peak = float(np.abs(x).max()) if x.size else 0.0
    if peak > MAX_ABS_SAMPLE:
        raise NonFiniteAudio(
            f"{where}: audio samples reach {peak:.3g}; float audio lies within ±1 (accepted up to ±{MAX_ABS_SAMPLE:g})"
        )


def to_mono(x: np.ndarray) -> np.ndarray:
    """(frames,) or (frames, channels) -> (frames,) float32 by averaging channels."""
    if x.ndim == 1:
        return x.astype(np.float32, copy=False)
    if x.ndim != 2:
        raise UndecodableAudio(f"expected 1-D or 2-D audio, got {x.ndim}-D")
    return x.mean(axis=1, dtype=np.float32) if x.shape[1] > 1 else x[:, 0].astype(np.float32, copy=False)


def prepare_waveform(x: np.ndarray, sample_rate: int, target_sr: int = SAMPLE_RATE, where: str = "array") -> np.ndarray:
    """Validate, mix to mono and resample an in-memory signal."""
    check_sample_rate(sample_rate, where)
    x = np.asarray(x)
    if x.size == 0:
        raise EmptyAudio(f"{where}: zero-length audio")
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / float(np.iinfo(x.dtype).max + 1)
    x = to_mono(x)
    check_finite(x, where)
    if sample_rate != target_sr:
        x = soxr.resample(x, sample_rate, target_sr, quality="HQ").astype(np.float32, copy=False)
    return np.ascontiguousarray(x, dtype=np.float32)


def load_audio(
    path: str | Path,
    sr: int = SAMPLE_RATE,
    offset: float = 0.0,
    duration: float | None = None,
) -> np.ndarray:
    """Decode a file (WAV, FLAC, OGG, MP3, ...) to mono float32 at `sr`."""
    with open_audio(path) as f:
        native = f.samplerate
        start = int(round(offset * native))
        if start:
            f.seek(min(start, f.frames))
        frames = -1 if duration is None else int(round(duration * native))
        try:
            with quiet_decoder(_is_mpeg(f)):
                x = f.read(frames=frames, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as e:
            raise UndecodableAudio(f"{path}: decoding failed ({str(e).splitlines()[0]})") from None
    if x.shape[0] == 0:
        raise EmptyAudio(f"{path}: zero-length audio")
    return prepare_waveform(x, native, sr, where=str(path))


def _decoded_blocks(path: str | Path, sr: int, block_seconds: float) -> Iterator[np.ndarray]:
    """Mono float32 blocks at `sr`, decoded and resampled incrementally."""
    with open_audio(path) as f:
        native = f.samplerate
        mpeg = _is_mpeg(f)
        block = max(1, int(block_seconds * native))
        stream = soxr.ResampleStream(native, sr, 1, dtype="float32", quality="HQ") if native != sr else None
        total = 0
        while True:
            try:
                with quiet_decoder(mpeg):
                    x = f.read(frames=block, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as e:
                raise UndecodableAudio(f"{path}: decoding failed ({str(e).splitlines()[0]})") from None
            last = x.shape[0] < block
            total += x.shape[0]
            mono = to_mono(x)
            check_finite(mono, str(path))
            if stream is not None:
                mono = stream.resample_chunk(mono, last=last)
            if mono.size:
                yield mono
            if last:
                break
        if total == 0:
            raise EmptyAudio(f"{path}: zero-length audio")


def window_starts(n_samples: int, window: int, hop: int) -> list[int]:
    """Window starts that cover [0, n_samples): every `hop`, the last one aligned to the end.

    A song shorter than one window gets a single window at 0 (padded by `fit_window`).
    """
    if window <= 0 or hop <= 0:
        raise ValueError("window and hop must be positive")
    if n_samples <= window:
        return [0]
    starts = list(range(0, n_samples - window + 1, hop))
    if starts[-1] + window < n_samples:
        starts.append(n_samples - window)
    return starts


def evenly_spaced_starts(n_samples: int, window: int, n_chunks: int) -> list[int]:
    """N evenly spaced chunk starts (the original evaluation recipe)."""
    if n_samples <= window:
        return [0]
    return [int(s) for s in np.linspace(0, n_samples - window, n_chunks).round()]


def fit_window(x: np.ndarray, window: int) -> np.ndarray:
    """Crop or pad `x` to `window` samples. Short audio is looped, not zero-padded,
    so that a 5 s song is not judged as mostly silence."""
    n = x.shape[-1]
    if n >= window:
        return x[..., :window]
    if n == 0:
        return np.zeros(x.shape[:-1] + (window,), dtype=np.float32)
    reps = math.ceil(window / n)
    return np.tile(x, reps)[..., :window].astype(np.float32, copy=False)


def with_context(x: np.ndarray, context: int) -> np.ndarray:
    """`x` with `context` samples of reflect padding at both ends: the song's own edges get what
    librosa's center=True framing gives the first and last frames of a whole-song spectrogram."""
    if context <= 0:
        return x
    return np.pad(x, context, mode="reflect" if x.size > context else "wrap").astype(np.float32, copy=False)


def window_with_context(x: np.ndarray, xp: np.ndarray | None, start: int, window: int, context: int) -> np.ndarray:
    """Samples of the window at `start` plus `context` real samples each side (`xp`: `x` through
    `with_context`); a song no longer than one window is looped first, then padded."""
    if x.size <= window:
        return with_context(fit_window(x, window), context)
    assert xp is not None
    return xp[start : start + window + 2 * context]


def eval_chunks(x: np.ndarray, window_s: float, n_chunks: int, sr: int = SAMPLE_RATE, context: int = 0) -> np.ndarray:
    """(n_chunks, window + 2 context) evenly spaced chunks of one track (the original evaluation recipe)."""
    window = int(round(window_s * sr))
    starts = evenly_spaced_starts(x.size, window, n_chunks)
    if context:
        xp = with_context(x, context) if x.size > window else None
        return np.stack([window_with_context(x, xp, s, window, context) for s in starts])
    return np.stack([fit_window(x[s : s + window], window) for s in starts])


def iter_windows(
    path: str | Path,
    window_s: float,
    hop_s: float | None = None,
    sr: int = SAMPLE_RATE,
    block_seconds: float = BLOCK_SECONDS,
    min_seconds: float = 0.0,
    context: int = 0,
) -> Iterator[Window]:
    """Stream a file as windows of `window_s` every `hop_s` seconds without holding it whole.

    Memory is bounded by one window plus one decoded block. The windows equal those of
    `windows_from_array(load_audio(path), ...)`. A song shorter than one window is looped to fill
    it (`fit_window`); one shorter than `min_seconds` (the runtime passes MIN_SECONDS) is refused
    with AudioTooShort. With `context`, each window's samples carry `context` real samples of the
    song on both sides (reflect padding at the song's own edges), so that a center=False front end
    frames it exactly like the whole song's spectrogram. The framing is `StreamFramer`'s, which the
    live runtime pushes blocks into as they arrive.
    """
    check_hop(hop_s or window_s, str(path))
    framer = StreamFramer(window_s, hop_s, sr, context)
    for block in _decoded_blocks(path, sr, block_seconds):
        yield from framer.push(block)
    yield from framer.finish(str(path), min_seconds)


class StreamFramer:
    """Push-based song framing: mono blocks at the model's rate in, windows out as soon as they are complete.

    `push(block)` returns the windows that block completed; `finish()` the ones only the song's end decides
    (the window aligned to the end, the windows whose right context is the end's reflect padding, or the one
    looped window of a song shorter than a window). Memory: a ring of one window plus context (or one hop,
    if longer) and the block being pushed, however long the stream.
    """

    def __init__(self, window_s: float, hop_s: float | None = None, sr: int = SAMPLE_RATE, context: int = 0) -> None:
        self.sr = sr
        self.window = int(round(window_s * sr))
        self.hop = int(round((hop_s or window_s) * sr))
        if self.window <= 0:
            raise ValueError("the window must be positive")
        check_hop(hop_s or window_s, "stream")
        self.context = context
        self.size = self.window + 2 * context
        # with context, the head is held until the song is known to be longer than one window
        self._head: list[np.ndarray] | None = [] if context else None
        self._n_head = 0
        self._pending = np.zeros(0, dtype=np.float32)  # the reflect padder's held-back tail
        self._pad_started = False
        self._keep = max(self.size, self.hop)
        self._ring = np.zeros(2 * self._keep, dtype=np.float32)
        self._n = 0  # valid samples in the ring
        self._ring_start = 0  # absolute (padded) sample index of ring[0]
        self._next = 0  # absolute start of the next window
        self._index = 0
        self._last_end = 0

    @property
    def windows_cut(self) -> int:
        return self._index

    @property
    def ring_size(self) -> int:
        """Samples the ring can hold (twice one window plus context, or one hop; more only for a longer block)."""
        return self._ring.size

    def push(self, block: np.ndarray) -> list[Window]:
        block = np.asarray(block, dtype=np.float32)
        if self._head is not None:
            self._head.append(block)
            self._n_head += block.size
            if self._n_head <= self.window:
                return []
            head, self._head = np.concatenate(self._head), None
            return self._cut(self._pad(head))
        return self._cut([block] if not self.context else self._pad(block))

    def finish(self, where: str = "stream", min_seconds: float = 0.0) -> list[Window]:
        if self._head is not None:  # a song no longer than one window (context framing)
            x = np.concatenate(self._head) if self._head else np.zeros(0, np.float32)
            check_long_enough(x.size, self.sr, where, min_seconds)
            return windows_from_array(x, self.window / self.sr, self.hop / self.sr, self.sr, self.context)
        out: list[Window] = []
        if self.context:
            pending = self._pending
            out = self._cut([pending, pending[-self.context - 1 : -1][::-1].copy()])
        n_total = self._ring_start + self._n
        buf = self._ring[: self._n]
        if self._index == 0:
            check_long_enough(n_total, self.sr, where, min_seconds)
            x = buf[-n_total:] if n_total else buf
            out.append(Window(0, 0.0, n_total / self.sr, fit_window(x, self.size), min(n_total, self.size)))
            self._index += 1
        elif self._last_end < n_total:
            start = n_total - self.size
            tail = buf[-self.size :].copy()
            out.append(Window(self._index, start / self.sr, (start + self.window) / self.sr, tail, self.window))
            self._index += 1
        return out

    def _pad(self, block: np.ndarray) -> list[np.ndarray]:
        """Reflect padding at the stream's start (`context` samples); `context` + 1 samples are held back
        for the reflection at its end."""
        c = self.context
        pending = np.concatenate([self._pending, block]) if self._pending.size else block
        out = []
        if not self._pad_started and pending.size > c:
            out.append(pending[1 : c + 1][::-1].copy())
            self._pad_started = True
        if self._pad_started and pending.size > c + 1:
            out.append(pending[: -(c + 1)])
            pending = pending[-(c + 1) :]
        self._pending = pending.copy() if pending.base is not None else pending
        return out

    def _append(self, x: np.ndarray) -> None:
        """Into the ring, first dropping the samples no future window needs (a window's worth stays for the
        end-aligned tail)."""
        if self._n + x.size > self._ring.size:
            drop = min(self._next, self._ring_start + self._n - self._keep) - self._ring_start
            if drop > 0:
                self._ring[: self._n - drop] = self._ring[drop : self._n]
                self._n -= drop
                self._ring_start += drop
            if self._n + x.size > self._ring.size:  # a block longer than the ring: grow to fit it
                grown = np.zeros(self._n + x.size + self._keep, dtype=np.float32)
                grown[: self._n] = self._ring[: self._n]
                self._ring = grown
        self._ring[self._n : self._n + x.size] = x
        self._n += x.size

    def _cut(self, blocks: list[np.ndarray]) -> list[Window]:
        out = []
        for block in blocks:
            self._append(block)
            while self._next + self.size <= self._ring_start + self._n:
                off = self._next - self._ring_start
                s = self._next
                samples = self._ring[off : off + self.size].copy()
                out.append(Window(self._index, s / self.sr, (s + self.window) / self.sr, samples, self.window))
                self._index += 1
                self._last_end = s + self.size
                self._next += self.hop
        return out


def windows_from_array(
    x: np.ndarray, window_s: float, hop_s: float | None = None, sr: int = SAMPLE_RATE, context: int = 0
) -> list[Window]:
    check_hop(hop_s or window_s)
    window = int(round(window_s * sr))
    hop = int(round((hop_s or window_s) * sr))
    xp = with_context(x, context) if context and x.shape[-1] > window else None
    out = []
    for i, s in enumerate(window_starts(x.shape[-1], window, hop)):
        seg = x[s : s + window]
        n = min(window, seg.shape[-1])
        samples = window_with_context(x, xp, s, window, context) if context else fit_window(seg, window)
        out.append(Window(i, s / sr, (s + n) / sr, samples, n))
    return out


WRITE_BLOCK_FRAMES = 1 << 16


def write_blocks(target, x: np.ndarray, sr: int, format: str | None = None, subtype: str | None = None) -> None:
    """sf.write in blocks of 65 536 frames. libvorbis allocates its analysis buffer on the stack
    for everything written in one call, so one long Ogg Vorbis write overflows the stack and
    kills the process (about 100 s of 22 kHz mono here; libsndfile issue 1095, python-soundfile
    issues 396 and 426). Writing in blocks is the documented workaround and costs nothing."""
    x = np.asarray(x)
    channels = 1 if x.ndim == 1 else x.shape[1]
    with sf.SoundFile(target, "w", sr, channels, subtype=subtype, format=format) as f:
        for i in range(0, len(x), WRITE_BLOCK_FRAMES):
            f.write(x[i : i + WRITE_BLOCK_FRAMES])


def write_audio(path: str | Path, x: np.ndarray, sr: int = SAMPLE_RATE, subtype: str | None = None) -> None:
    """Write audio atomically (temporary file, then rename), in blocks (see `write_blocks`)."""
    import os
    import tempfile

    from audioconcept.utils import current_umask

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        write_blocks(tmp, x, sr, subtype=subtype)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
