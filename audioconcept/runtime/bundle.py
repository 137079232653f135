"""Read and verify a bundle: manifest schema version, then every artifact's sha256 (torch-free)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from audioconcept.errors import BundleError
from audioconcept.utils import sha256_tree

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
REQUIRED = ("schema_version", "name", "arch", "labels", "sample_rate", "window_s", "hop_s", "artifacts")


@dataclass(frozen=True)
class Bundle:
    root: Path
    manifest: dict

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def arch(self) -> str:
        return self.manifest["arch"]

    @property
    def labels(self) -> list[str]:
        return self.manifest["labels"]

    @property
    def concepts(self) -> dict | None:
        return self.manifest.get("concepts")

    def artifact(self, key: str) -> Path:
        art = self.manifest["artifacts"].get(key)
        if art is None:
            why = self.manifest.get("skipped", {}).get(key, "it was not exported")
            raise BundleError(f"{self.root}: no '{key}' artifact in this bundle ({why})")
        return self.root / art["file"]

    def has(self, key: str) -> bool:
        return key in self.manifest["artifacts"]


def read_manifest(root: str | Path) -> dict:
    root = Path(root)
    p = root / MANIFEST
    if not p.exists():
        raise BundleError(f"{root}: not a model bundle (no {MANIFEST})")
    try:
        m = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(f"{p}: unreadable manifest ({e})") from None
    if not isinstance(m, dict):
        raise BundleError(f"{p}: manifest is not a JSON object")
    v = m.get("schema_version")
    if v != SCHEMA_VERSION:
        raise BundleError(f"{p}: manifest schema_version {v!r} is not supported (this runtime reads {SCHEMA_VERSION})")
    missing = [k for k in REQUIRED if k not in m]
    if missing:
        raise BundleError(f"{p}: manifest lacks {', '.join(missing)}")
    return m


def verify_artifact(root: Path, key: str, art: dict) -> None:
    f = root / art["file"]
    if not f.exists():
        raise BundleError(f"{f}: listed in the manifest but missing")
    if sha256_tree(f) != art["sha256"]:
        raise BundleError(f"{f}: sha256 does not match the manifest: the file was modified or truncated")


def open_bundle(root: str | Path, verify: tuple[str, ...] | None = None) -> Bundle:
    """Read the manifest and check the sha256 of the artifacts named in `verify` (all if None)."""
    root = Path(root)
    m = read_manifest(root)
    for key, art in m["artifacts"].items():
        if verify is None or key in verify:
            verify_artifact(root, key, art)
    return Bundle(root, m)
