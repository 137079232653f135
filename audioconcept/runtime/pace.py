"""Play an audio file into a pipe at real-time speed, as a WAV stream: what a sound card would deliver.

    python tools/pace.py song.flac | audioconcept-run --live - --format jsonl
    python -m audioconcept.runtime.pace song.flac | ...   (the same, from an installed package)

Blocks of 20 ms, each written once its last sample would have been captured (so a window's last sample reaches the
reader no earlier than it would live). `--speed 2` plays twice as fast; `--loop N` plays the file N times.
16-bit PCM, the file's rate and channels.
"""

from __future__ import annotations

import argparse
import sys
import wave

import numpy as np

from audioconcept.data.audio import open_audio
from audioconcept.errors import AudioConceptError
from audioconcept.runtime.live_sources import block_frames, paced


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("song")
    p.add_argument("--speed", type=float, default=1.0, help="1: real time (default); 2: twice as fast")
    p.add_argument("--loop", type=int, default=1, help="play the file this many times")
    a = p.parse_args(argv)
    if a.speed <= 0 or a.loop < 1:
        print("error: --speed must be positive and --loop at least 1", file=sys.stderr)
        return 2
    try:
        with open_audio(a.song) as f:
            rate, channels, frames = f.samplerate, f.channels, f.frames
            # the frame count is known up front, so no seek on the pipe; closed only after a complete write (closing
            # a short one seeks back to patch the header, which a pipe cannot)
            out = wave.open(sys.stdout.buffer, "wb")  # noqa: SIM115
            out.setnchannels(channels)
            out.setsampwidth(2)
            out.setframerate(rate)
            out.setnframes(frames * a.loop)

            def blocks():
                for _ in range(a.loop):
                    f.seek(0)
                    yield from f.blocks(blocksize=block_frames(rate), dtype="int16", always_2d=True)

            for x in paced(blocks(), rate, a.speed):
                out.writeframesraw(np.ascontiguousarray(x).tobytes())
                sys.stdout.buffer.flush()
            out.close()
    except AudioConceptError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (BrokenPipeError, KeyboardInterrupt):  # the reader stopped, or Ctrl-C
        return 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
