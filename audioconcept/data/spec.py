"""Parse `--data SPEC` strings: gtzan:PATH, folder:PATH, synth:PATH, features-csv:PATH."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from audioconcept.errors import DataSpecError

KINDS = ("gtzan", "folder", "synth", "features-csv")


@dataclass(frozen=True)
class DataSpec:
    kind: str
    path: Path

    def __str__(self) -> str:
        return f"{self.kind}:{self.path}"


def is_data_spec(spec: str | None) -> bool:
    """Whether `spec` has the form KIND:PATH (its path may not exist): a data spec, not a description of data."""
    kind, sep, path = (spec or "").partition(":")
    return bool(sep) and kind in KINDS and bool(path)


def parse_data_spec(spec: str) -> DataSpec:
    if not is_data_spec(spec):
        raise DataSpecError(f"bad --data {spec!r}: expected one of {', '.join(k + ':PATH' for k in KINDS)}")
    kind, _, path = spec.partition(":")
    p = Path(path).expanduser()
    if not p.exists():
        raise DataSpecError(f"--data {spec}: {p} does not exist")
    return DataSpec(kind, p)


def load_tracks(spec: DataSpec, seed: int = 0):
    from audioconcept.data.folder import load_folder, load_synth
    from audioconcept.data.gtzan import load_gtzan

    if spec.kind == "gtzan":
        return load_gtzan(spec.path)
    if spec.kind == "folder":
        return load_folder(spec.path, seed=seed)
    if spec.kind == "synth":
        return load_synth(spec.path, seed=seed)
    raise DataSpecError(f"{spec}: a features table holds no audio; use it with the svm model only")
