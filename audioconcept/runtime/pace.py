"""Play an audio file into a pipe at real-time speed, as a WAV stream: what a sound card would deliver.

    python tools/pace.py song.flac | audioconcept-run --live - --format jsonl
    python -m audioconcept.runtime.pace song.flac | ...   (the same, from an installed package)

Blocks of 20 ms, each written once its last sample would have been captured (so a window's last sample reaches the
reader no earlier than it would live). `--speed 2` plays twice as fast; `--loop N` plays the file N times.
16-bit PCM, the file's rate and channels, with the exact length in the header.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys

import numpy as np

from audioconcept.data.audio import open_audio
from audioconcept.errors import AudioConceptError
from audioconcept.runtime.live_sources import block_frames, paced


def wav_header(rate: int, channels: int, frames: int) -> bytes:
    """The 44-byte header of a 16-bit PCM WAV of `frames` frames (known up front: nothing to patch on a pipe)."""
    data = frames * channels * 2
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * 2, channels * 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data)
        + b"WAVEfmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", data)
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("song")
    p.add_argument("--speed", type=float, default=1.0, help="1: real time (default); 2: twice as fast")
    p.add_argument("--loop", type=int, default=1, help="play the file this many times")
    a = p.parse_args(argv)
    if a.speed <= 0 or a.loop < 1:
        print("error: --speed must be positive and --loop at least 1", file=sys.stderr)
        return 2
    out = sys.stdout.buffer
    try:
        with open_audio(a.song) as f:
            rate, channels = f.samplerate, f.channels

            def blocks():
                for _ in range(a.loop):
                    f.seek(0)
                    yield from f.blocks(blocksize=block_frames(rate), dtype="int16", always_2d=True)

            out.write(wav_header(rate, channels, f.frames * a.loop))
            for x in paced(blocks(), rate, a.speed):
                out.write(np.ascontiguousarray(x, dtype="<i2").tobytes())
                out.flush()
    except AudioConceptError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (BrokenPipeError, KeyboardInterrupt):  # the reader stopped, or Ctrl-C
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error flushing at exit
        return 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
