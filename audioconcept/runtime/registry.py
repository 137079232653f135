"""Find bundles: a folder, a name under ./models, or a bundle shipped inside the package."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

from audioconcept.errors import BundleError

log = logging.getLogger(__name__)
# the real-music default (musicnn tags + a genre head trained on real GTZAN clips); cnn-synth is the synthetic demo
DEFAULT_PACKAGED = "musicnn-gtzan"
FALLBACK_PACKAGED = "cnn-synth"


def packaged_bundles() -> dict[str, Path]:
    root = Path(str(resources.files("audioconcept.runtime").joinpath("bundles")))
    if not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir()) if (p / "manifest.json").exists()}


def local_bundles(models_dir: Path = Path("models")) -> dict[str, Path]:
    if not models_dir.is_dir():
        return {}
    return {p.name: p for p in sorted(models_dir.iterdir()) if (p / "manifest.json").exists()}


def trained_on_synthetic(m: dict) -> bool:
    """Whether a bundle learnt its labels from AudioConcept's synthetic renders (its accuracy says nothing
    about real songs)."""
    t = str(m.get("trained_on") or "").lower()
    return t.startswith("synth:") or "synthetic" in t or "synthetic" in str(m.get("description") or "").lower()


def recorded_accuracy(m: dict) -> float | None:
    """Held-out test accuracy, else a cross-validated estimate, as recorded at training time."""
    metrics = m.get("metrics") or {}
    for key in ("test", "cv"):
        acc = (metrics.get(key) or {}).get("accuracy")
        if acc is not None:
            return float(acc)
    return None


def best_local_bundle(models_dir: Path = Path("models")) -> Path | None:
    """The genre bundle in ./models trained on real music with the highest recorded accuracy. Bundles
    trained on synthetic music never qualify, whatever their (synthetic) test accuracy; nor do the SVM and
    bare taggers (no genres)."""
    from audioconcept.runtime.bundle import read_manifest

    best, best_acc = None, -1.0
    for p in local_bundles(models_dir).values():
        try:
            m = read_manifest(p)
        except BundleError as e:
            log.warning("skipping %s", e)
            continue
        if m.get("arch") == "svm" or m.get("multi_label") or trained_on_synthetic(m):
            continue
        acc = recorded_accuracy(m)
        if acc is not None and acc > best_acc:
            best, best_acc = p, acc
    return best


def default_bundle() -> Path:
    """What runs without --model: the best real-music bundle in ./models, else the packaged real-music default."""
    local = best_local_bundle()
    if local is not None:
        return local
    pk = packaged_bundles()
    for name in (DEFAULT_PACKAGED, FALLBACK_PACKAGED):
        if name in pk:
            return pk[name]
    raise BundleError("no model bundle found: export one (make export) or pass --model")


def resolve_bundle(spec: str | Path | None) -> Path:
    if spec is None:
        return default_bundle()
    p = Path(spec)
    if (p / "manifest.json").exists():
        return p
    for candidates in (local_bundles(), packaged_bundles()):
        if str(spec) in candidates:
            return candidates[str(spec)]
    known = sorted(set(local_bundles()) | set(packaged_bundles()))
    raise BundleError(f"--model {spec}: no bundle there (known: {', '.join(known) or 'none'})")
