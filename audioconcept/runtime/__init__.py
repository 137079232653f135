"""Torch-free runtime: `from audioconcept.runtime import load`.

Example:
    ```python
    from audioconcept.runtime import load

    result = load("musicnn-gtzan").predict("song.mp3")
    print(result.genre, result.concepts_present)
    ```
"""

from audioconcept.runtime.model import Model, SongFailed, load, predict_many
from audioconcept.runtime.result import ConceptSpan, SongError, SongResult, WindowResult

__all__ = ["ConceptSpan", "Model", "SongError", "SongFailed", "SongResult", "WindowResult", "load", "predict_many"]
