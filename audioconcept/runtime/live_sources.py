"""Where live audio comes from: a WAV stream or raw PCM on stdin, a sound card (sounddevice, the `live` extra), or a
file read at real-time speed. Each is a `LiveSource`: blocks of samples, their rate and channel count.

Blocks are small (`BLOCK_S`, 20 ms) so that a window's last sample is seen within 20 ms of its arrival: the
latency the live command reports is measured from the arrival of the block that holds it.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from audioconcept.data.audio import check_sample_rate, open_audio
from audioconcept.errors import AudioConceptError, AudioError, MissingExtra, UndecodableAudio

log = logging.getLogger(__name__)

BLOCK_S = 0.02
PCM_TYPES = {"s16": "<i2", "s32": "<i4", "f32": "<f4"}
CONTAINER_MAGIC = (b"RIFF", b"RIFX", b"RF64", b"fLaC", b"OggS", b"FORM", b".snd", b"ID3")
DEVICE_PREFIX = "device"


class SourceError(AudioConceptError):
    """A live source cannot be opened or read."""


@dataclass
class LiveSource:
    name: str
    chunks: Iterator[np.ndarray]
    rate: int
    channels: int
    live: bool  # samples arrive in real time: analysis that falls behind skips windows
    close: Callable[[], None] = field(default=lambda: None)
    dropped_blocks: Callable[[], int] = field(default=lambda: 0)  # blocks the sound card lost (overflow)


def block_frames(rate: int) -> int:
    return max(1, int(round(rate * BLOCK_S)))


def _read_exactly(fd: int, n: int) -> bytes:
    """Up to `n` bytes; fewer only at the end of the stream."""
    parts, got = [], 0
    while got < n:
        b = os.read(fd, n - got)
        if not b:
            break
        parts.append(b)
        got += len(b)
    return b"".join(parts)


def raw_pcm_source(fd: int, rate: int, channels: int, pcm: str = "s16", name: str = "stdin") -> LiveSource:
    """Headerless little-endian PCM (`pcm`: s16, s32 or f32), interleaved `channels`."""
    check_sample_rate(rate, f"{name}: --rate")
    if not 1 <= channels <= 64:
        raise SourceError(f"{name}: --channels {channels} is implausible (accepted: 1 to 64)")
    if pcm not in PCM_TYPES:
        raise SourceError(f"{name}: --pcm {pcm!r}: choose {', '.join(PCM_TYPES)}")
    dtype = np.dtype(PCM_TYPES[pcm])
    frame_bytes = dtype.itemsize * channels
    first = _read_exactly(fd, 4)
    if first.startswith(CONTAINER_MAGIC):
        raise SourceError(
            f"{name}: the stream starts with a {first[:4].decode('latin-1').strip()} header, not raw PCM: "
            "drop --rate and --channels (a WAV stream carries its own)"
        )

    def chunks() -> Iterator[np.ndarray]:
        pending = first
        want = block_frames(rate) * frame_bytes
        while True:
            b = os.read(fd, want)
            if not b:
                break
            pending += b
            n = len(pending) // frame_bytes * frame_bytes
            if n:
                x = np.frombuffer(pending[:n], dtype=dtype).reshape(-1, channels)
                pending = pending[n:]
                yield x.astype(np.float32) if dtype.kind == "f" else x
        if pending:
            log.debug("%s: %d trailing bytes are not a whole frame", name, len(pending))

    return LiveSource(name, chunks(), rate, channels, live=True)


def wav_stream_source(fd: int, name: str = "stdin") -> LiveSource:
    """A WAV (or AU) stream: libsndfile reads these from a pipe, header first; the header's length may be unknown."""
    try:
        f = sf.SoundFile(fd, closefd=False)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
        why = e.error_string if isinstance(e, sf.LibsndfileError) else str(e).splitlines()[0]
        raise SourceError(
            f"{name}: not a WAV stream ({why}); for headerless PCM give --rate (and --channels, --pcm)"
        ) from None
    rate, channels = int(f.samplerate), int(f.channels)
    try:
        check_sample_rate(rate, name)
    except AudioError:
        f.close()
        raise
    n = block_frames(rate)

    def chunks() -> Iterator[np.ndarray]:
        while True:
            try:
                x = f.read(n, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as e:
                raise UndecodableAudio(f"{name}: decoding failed ({str(e).splitlines()[0]})") from None
            if x.shape[0]:
                yield x
            if x.shape[0] < n:
                return

    # never closed here: the source thread may be inside a read when Ctrl-C ends the run (the process exit frees it)
    return LiveSource(name, chunks(), rate, channels, live=True)


def stdin_source(rate: int | None = None, channels: int | None = None, pcm: str = "s16") -> LiveSource:
    fd = sys.stdin.fileno()
    if os.isatty(fd):
        raise SourceError("stdin: is a terminal; pipe audio in (python tools/pace.py song.flac | ...)")
    if rate is None:
        if channels is not None:
            raise SourceError("stdin: --channels is for raw PCM, which also needs --rate")
        return wav_stream_source(fd)
    return raw_pcm_source(fd, rate, channels or 1, pcm)


def paced(blocks: Iterator[np.ndarray], rate: int, speed: float = 1.0) -> Iterator[np.ndarray]:
    """Blocks handed out no sooner than a sound card would: each once its last sample has been 'played'."""
    t0 = time.monotonic()
    played = 0
    for x in blocks:
        played += x.shape[0]
        delay = t0 + played / rate / speed - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield x


def file_source(path: str | Path, realtime: bool = True, speed: float = 1.0) -> LiveSource:
    """A file in blocks, paced at real time (`realtime`) or as fast as it decodes."""
    p = Path(path)
    if not p.exists():
        raise SourceError(
            f"{p}: no such file (a sound card is {DEVICE_PREFIX} or {DEVICE_PREFIX}:NAME; see --list-devices)"
        )
    f = open_audio(p)
    rate, channels = int(f.samplerate), int(f.channels)
    blocks = f.blocks(blocksize=block_frames(rate), dtype="float32", always_2d=True)
    if realtime:  # read in the source thread, which may be inside a read at Ctrl-C: left to the process exit
        return LiveSource(str(p), paced(blocks, rate, speed), rate, channels, True)
    return LiveSource(str(p), blocks, rate, channels, False, f.close)


def _sounddevice():
    try:
        import sounddevice
    except ImportError:
        raise MissingExtra("sounddevice", "live", "--live with a sound card") from None
    except OSError as e:  # the wheel is there but not PortAudio (Linux: the OS package)
        raise SourceError(
            f"sounddevice cannot load PortAudio ({str(e).splitlines()[0]}); Debian: apt-get install libportaudio2"
        ) from None
    return sounddevice


def list_devices() -> str:
    return str(_sounddevice().query_devices())


def device_source(spec: str, rate: int | None = None, channels: int | None = None) -> LiveSource:
    """`device` (the default input) or `device:NAME` / `device:INDEX` through sounddevice. The sound card's callback
    only copies blocks into a bounded queue; a full queue drops the block and counts it."""
    sd = _sounddevice()
    name = spec.split(":", 1)[1] if ":" in spec else ""
    device: int | str | None = int(name) if name.isdigit() else (name or None)
    try:
        info = sd.query_devices(device, "input")
    except (ValueError, sd.PortAudioError) as e:
        raise SourceError(f"{spec}: {str(e).splitlines()[0]} (see --list-devices)") from None
    rate = int(rate or info["default_samplerate"])
    check_sample_rate(rate, spec)
    channels = int(channels or 1)
    if channels > int(info["max_input_channels"]):
        raise SourceError(f"{spec}: {info['name']} has {info['max_input_channels']} input channels, not {channels}")
    q: queue.Queue = queue.Queue(maxsize=int(10 / BLOCK_S))  # 10 s of blocks
    dropped = 0
    stopped = False

    def callback(indata, frames, t, status) -> None:
        nonlocal dropped
        if status:
            log.debug("%s: %s", spec, status)
        try:
            q.put_nowait(indata.copy())
        except queue.Full:
            dropped += 1

    try:
        stream = sd.InputStream(
            samplerate=rate, blocksize=block_frames(rate), device=device, channels=channels, dtype="float32",
            callback=callback,
        )  # fmt: skip
    except (ValueError, sd.PortAudioError) as e:
        raise SourceError(f"{spec}: cannot open the input ({str(e).splitlines()[0]})") from None

    def chunks() -> Iterator[np.ndarray]:
        # capture starts when the analysis asks for the first block, not while the model loads: nothing stale queues
        try:
            stream.start()
        except sd.PortAudioError as e:
            raise SourceError(f"{spec}: cannot start the input ({str(e).splitlines()[0]})") from None
        while not stopped:
            try:
                yield q.get(timeout=0.5)
            except queue.Empty:
                if not stream.active:
                    return

    def close() -> None:
        nonlocal stopped
        stopped = True
        stream.stop()
        stream.close()

    return LiveSource(f"{spec} ({info['name']})", chunks(), rate, channels, True, close, lambda: dropped)


def open_source(
    spec: str,
    rate: int | None = None,
    channels: int | None = None,
    pcm: str = "s16",
    realtime: bool = False,
) -> LiveSource:
    """`-`: stdin; `device` or `device:NAME|INDEX`: a sound card; anything else: a file."""
    if spec == "-":
        return stdin_source(rate, channels, pcm)
    if spec == DEVICE_PREFIX or spec.startswith(DEVICE_PREFIX + ":"):
        return device_source(spec, rate, channels)
    if rate is not None or channels is not None:
        raise SourceError(f"{spec}: --rate and --channels are for raw PCM on stdin or a sound card, not a file")
    return file_source(spec, realtime)
