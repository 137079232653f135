"""Play an audio file into a pipe at real-time speed, as a WAV stream (see audioconcept/runtime/pace.py):

python tools/pace.py song.flac | audioconcept-run --live - --format jsonl
"""

from audioconcept.runtime.pace import main

if __name__ == "__main__":
    raise SystemExit(main())
