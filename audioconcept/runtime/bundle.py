"""Read and verify a bundle: manifest schema version, then every artifact's sha256 (torch-free)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from audioconcept.errors import BundleError
from audioconcept.runtime.manifest_check import inside_bundle, read_manifest_file, validate_manifest
from audioconcept.utils import sha256_tree

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Bundle:
    root: Path
    manifest: dict
    verified: tuple[str, ...] = ()  # artifact keys whose sha256 open_bundle checked against the file

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
    """The manifest, checked against manifest.schema.json with bounds, its artifact paths kept inside
    the bundle, before anything else in the bundle is opened (see manifest_check)."""
    root = Path(root)
    p = root / MANIFEST
    if not p.is_file():
        raise BundleError(f"{root}: not a model bundle (no {MANIFEST})")
    return validate_manifest(read_manifest_file(p), root, str(p))


def is_our_bundle(folder: str | Path) -> bool:
    """Is `folder` a bundle this project wrote (so that `export --out` may replace it without --force)? Its
    manifest.json is a JSON object with a schema_version and a name, and every file its artifacts list is there,
    inside the folder. A web app's or a browser extension's manifest.json is not."""
    root = Path(folder)
    p = root / MANIFEST
    if not p.is_file() or p.is_symlink():
        return False
    try:
        m = read_manifest_file(p)
    except BundleError:
        return False
    if not isinstance(m, dict) or "schema_version" not in m or not isinstance(m.get("name"), str) or not m["name"]:
        return False
    arts = m.get("artifacts")
    if not isinstance(arts, dict) or not arts:
        return False
    for art in arts.values():
        rel = art.get("file") if isinstance(art, dict) else None
        if not isinstance(rel, str) or not inside_bundle(root, rel) or not (root / rel).exists():
            return False
    return True


def verify_artifact(root: Path, key: str, art: dict) -> None:
    f = root / art["file"]
    if not f.exists():
        raise BundleError(f"{f}: listed in the manifest but missing")
    if sha256_tree(f) != art["sha256"]:
        raise BundleError(f"{f}: sha256 does not match the manifest: the file was modified or truncated")


def open_bundle(root: str | Path, verify: tuple[str, ...] | None = None, manifest: dict | None = None) -> Bundle:
    """Read the manifest (or take `manifest`, what read_manifest(root) returned) and check the sha256 of the
    artifacts named in `verify` (all if None)."""
    root = Path(root)
    m = manifest if manifest is not None else read_manifest(root)
    checked = []
    for key, art in m["artifacts"].items():
        if verify is None or key in verify:
            verify_artifact(root, key, art)
            checked.append(key)
    return Bundle(root, m, tuple(checked))
