"""Torch-free runtime: `from audioconcept.runtime import load`."""

from audioconcept.runtime.model import Model, SongFailed, load, predict_many
from audioconcept.runtime.result import SongResult

__all__ = ["Model", "SongFailed", "SongResult", "load", "predict_many"]
