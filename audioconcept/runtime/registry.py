"""Find bundles: a folder, a name under ./models, or a bundle shipped inside the package."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

from audioconcept.errors import BundleError

log = logging.getLogger(__name__)
DEFAULT_PACKAGED = "cnn-synth"


def packaged_bundles() -> dict[str, Path]:
    root = Path(str(resources.files("audioconcept.runtime").joinpath("bundles")))
    if not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir()) if (p / "manifest.json").exists()}


def local_bundles(models_dir: Path = Path("models")) -> dict[str, Path]:
    if not models_dir.is_dir():
        return {}
    return {p.name: p for p in sorted(models_dir.iterdir()) if (p / "manifest.json").exists()}


def best_local_bundle(models_dir: Path = Path("models")) -> Path | None:
    """The neural bundle in ./models with the highest recorded test accuracy."""
    from audioconcept.runtime.bundle import read_manifest

    best, best_acc = None, -1.0
    for p in local_bundles(models_dir).values():
        try:
            m = read_manifest(p)
        except BundleError as e:
            log.warning("skipping %s", e)
            continue
        if m.get("arch") == "svm":
            continue
        acc = ((m.get("metrics") or {}).get("test") or {}).get("accuracy") or 0.0
        if acc > best_acc:
            best, best_acc = p, acc
    return best


def resolve_bundle(spec: str | Path | None) -> Path:
    if spec is None:
        local = best_local_bundle()
        if local is not None:
            return local
        pk = packaged_bundles()
        if DEFAULT_PACKAGED in pk:
            return pk[DEFAULT_PACKAGED]
        raise BundleError("no model bundle found: export one (make export) or pass --model")
    p = Path(spec)
    if (p / "manifest.json").exists():
        return p
    for candidates in (local_bundles(), packaged_bundles()):
        if str(spec) in candidates:
            return candidates[str(spec)]
    known = sorted(set(local_bundles()) | set(packaged_bundles()))
    raise BundleError(f"--model {spec}: no bundle there (known: {', '.join(known) or 'none'})")
