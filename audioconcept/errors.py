"""Exceptions with one-line messages; the CLI maps them to exit code 2."""

from __future__ import annotations


class AudioConceptError(Exception):
    """Base class: a user-facing error whose message fits on one line."""

    exit_code = 2


class AudioError(AudioConceptError):
    """Audio could not be used."""


class AudioFileNotFound(AudioError):
    pass


class UndecodableAudio(AudioError):
    pass


class EmptyAudio(AudioError):
    pass


class AudioTooShort(AudioError):
    pass


class NonFiniteAudio(AudioError):
    pass


class SilentAudio(AudioError):
    """Every window of the audio is under the silence floor (runtime.silence): nothing to classify."""


class InvalidHop(AudioConceptError):
    """A window hop so short that a song would become an absurd number of windows."""


class InvalidSampleRate(AudioError):
    pass


class DataSpecError(AudioConceptError):
    """A --data SPEC or dataset layout is wrong."""


class CheckpointError(AudioConceptError):
    """A checkpoint cannot be loaded or is unsafe."""


class UnsafePickleError(CheckpointError):
    """A pickle referenced something outside the allowlist."""


class BundleError(AudioConceptError):
    """An exported bundle is missing, tampered with or of an unknown schema."""


class OutputDirError(AudioConceptError):
    """An output folder is not ours to replace, or another process is writing it."""


class BackendUnavailable(AudioConceptError):
    """A backend or device that this host lacks was requested."""


class ExportError(AudioConceptError):
    """Export or its parity gate failed."""


class BatchError(AudioConceptError):
    """A batch output folder cannot take this run, or the batch engine failed."""


class DistributedError(AudioConceptError):
    """A data-parallel training worker failed, or the launch asked for what the host cannot do."""


class MissingExtra(AudioConceptError):
    """An optional dependency group is not installed."""

    def __init__(self, module: str, extra: str, purpose: str) -> None:
        super().__init__(f"{purpose} needs '{module}', which is not installed: pip install 'audioconcept[{extra}]'")
