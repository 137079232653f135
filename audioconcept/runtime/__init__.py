"""Torch-free runtime: `from audioconcept.runtime import load`."""

from audioconcept.runtime.model import Model, load
from audioconcept.runtime.result import SongResult

__all__ = ["Model", "SongResult", "load"]
