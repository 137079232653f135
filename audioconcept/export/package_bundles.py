"""Rebuild the small bundles shipped inside the package (`make bundles`).

musicnn-gtzan: the real-music default. MSD + MTT musicnn tags (ISC licence) and a linear genre head on the
    named tags (`train probe`) trained on the 50 real GTZAN clips of ../shared/gtzan/clips; only the ONNX body
    ships (the runtime's numpy front end feeds it), to stay under 10 MB.
cnn-synth: the CNN trained on the synthetic set, ONNX only, with its concept head.
svm-gtzan: the SVM trained on the real GTZAN features table, through skl2onnx.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from audioconcept.errors import ExportError
from audioconcept.export.exporter import ExportConfig, export_checkpoint
from audioconcept.export.manifest import model_card
from audioconcept.runtime.bundle import is_our_bundle
from audioconcept.utils import atomic_dir, atomic_write_json, atomic_write_text

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "runtime" / "bundles"
KEEP = {
    "musicnn-gtzan": ("onnx_body",),
    "cnn-synth": ("onnx", "onnx_body"),
    "svm-gtzan": ("onnx", "shapley_background"),
}
MAX_BYTES = {"musicnn-gtzan": 10_000_000}
TRAINED_ON = {
    "musicnn-gtzan": "real GTZAN music: 50 clips, 5 per genre (not shipped); tags: musicnn MSD + MTT",
    "cnn-synth": "AudioConcept synthetic genres (synth, seed 0, 30 clips x 10 genres)",
    "svm-gtzan": "GTZAN features_30_sec.csv (real music, 1000 tracks)",
}
DESCRIPTIONS = {
    "musicnn-gtzan": "musicnn's MSD + MTT taggers (100 tags of real music, ISC licence) with a linear genre head on "
    "the named tags, trained on 50 real GTZAN clips; every genre decision splits exactly into named concepts",
    "cnn-synth": "short-chunk CNN trained on AudioConcept's synthetic genres (numpy renderer, 30 clips per genre); "
    "it knows synthetic timbres, not real recordings",
    "svm-gtzan": "StandardScaler + PowerTransformer + calibrated RBF SVC on the 57 features of the real GTZAN "
    "features_30_sec.csv (80/20 split, random_state 42); the runtime computes the features with numpy",
}


PATCH_KEYS = ("concepts", "genre_heads", "ood")
VALIDATION_KEY = "concept_validation"  # a CAV bundle's patch: its concepts' validation only (`validate-cavs`)


def apply_validation(manifest: dict, validation: dict) -> dict:
    """A manifest whose concepts carry their validation records (`audioconcept concepts validate-cavs`)."""
    c = manifest.get("concepts") or {}
    names = list(c.get("names") or [])
    if not names or sorted(validation) != sorted(names):
        raise ExportError("concept patch: its concepts differ from the bundle's (another model?)")
    return {**manifest, "concepts": {**c, "validation": {n: validation[n] for n in names}}}


def apply_patch(manifest: dict, patch: dict) -> dict:
    """A manifest with the validated concepts, their probes, the honest head and the distance to training
    (`audioconcept concepts validate-probes` writes the patch), or, for a CAV bundle, with its concepts'
    validation (`validate-cavs`)."""
    if VALIDATION_KEY in patch:
        if set(patch) != {VALIDATION_KEY}:
            raise ExportError(f"concept patch: {VALIDATION_KEY} comes alone")
        return apply_validation(manifest, patch[VALIDATION_KEY])
    unknown = sorted(set(patch) - set(PATCH_KEYS))
    if unknown:
        raise ExportError(f"concept patch: unknown sections {', '.join(unknown)}")
    if (manifest.get("concepts") or {}).get("outputs") != patch["concepts"]["outputs"]:
        raise ExportError("concept patch: its tag outputs differ from the bundle's (another tagger?)")
    out = {**manifest, **{k: patch[k] for k in PATCH_KEYS if k in patch}}
    gh = out.get("genre_heads") or {}
    default = gh.get("default")
    acc = ((gh.get("heads") or {}).get(default) or {}).get("accuracy") or {}
    if default and default != gh.get("in_graph") and "cv" in acc:
        # the runtime's default head is now this one: its accuracy is the bundle's; the graph's stays beside it
        metrics = dict(out.get("metrics") or {})
        if "cv" in metrics and "in_graph_cv" not in metrics:
            metrics["in_graph_cv"] = metrics["cv"]
        metrics["cv"] = acc["cv"]
        metrics["default_head"] = default
        metrics["heads"] = {**(metrics.get("heads") or {}), default: acc}
        out["metrics"] = metrics
    elif "in_graph_cv" in (out.get("metrics") or {}):  # patched again, back to the graph's own head as the default
        metrics = dict(out["metrics"])
        metrics["cv"] = metrics.pop("in_graph_cv")
        metrics.pop("default_head", None)
        out["metrics"] = metrics
    for name, head in (gh.get("heads") or {}).items():  # every head's accuracy beside the default's
        cv = (head.get("accuracy") or {}).get("cv")
        if cv and name not in ((out.get("metrics") or {}).get("heads") or {}):
            out["metrics"] = {**out["metrics"], "heads": {**out["metrics"].get("heads", {}), name: {"cv": cv}}}
    return out


def patch_bundle(folder: Path, patch_file: Path) -> Path:
    """Write the patch into a bundle folder's manifest and model card (atomically)."""
    from audioconcept.runtime.manifest_check import validate_manifest

    m = json.loads((folder / "manifest.json").read_text())
    m = apply_patch(m, json.loads(Path(patch_file).read_text()))
    validate_manifest(m, folder, str(folder))
    atomic_write_json(folder / "manifest.json", m)
    atomic_write_text(folder / "README.md", model_card(m))
    return folder


def package(name: str, checkpoint: Path, data: str | None = None, patch: Path | None = None) -> Path:
    if patch is not None and not Path(patch).is_file():
        raise ExportError(f"{patch}: no such concept patch")
    with tempfile.TemporaryDirectory() as tmp:
        fmts = ("onnx",)
        src = export_checkpoint(ExportConfig(checkpoint, Path(tmp) / name, fmts, data=data, name=name))
        m = json.loads((src / "manifest.json").read_text())
        keep = KEEP[name]
        dropped = [k for k in m["artifacts"] if k not in keep]
        m["artifacts"] = {k: v for k, v in m["artifacts"].items() if k in keep}
        m["description"] = DESCRIPTIONS[name]
        m["trained_on"] = TRAINED_ON[name]
        m["source_checkpoint"]["path"] = f"(not shipped) {Path(m['source_checkpoint']['path']).name}"
        if keep == ("onnx_body",) and m.get("runtime_frontend") != "numpy":
            raise ExportError(f"{name}: the numpy front end missed its parity gate, so the body alone cannot ship")
        if patch is not None:
            m = apply_patch(m, json.loads(Path(patch).read_text()))
        m["skipped"] = {
            **(m.get("skipped") or {}),
            **{k: "not shipped in the package (size); export the checkpoint for it" for k in dropped},
        }
        with atomic_dir(PACKAGE_DIR / name, marker="manifest.json", ours=is_our_bundle) as out:
            for art in m["artifacts"].values():
                shutil.copy2(src / art["file"], out / art["file"])
            atomic_write_text(out / "README.md", model_card(m))
            atomic_write_json(out / "manifest.json", m)
            size = sum(f.stat().st_size for f in out.iterdir())
            if size > MAX_BYTES.get(name, 1 << 40):
                raise ExportError(f"{name}: {size / 1e6:.1f} MB is over the {MAX_BYTES[name] / 1e6:.0f} MB budget")
    return PACKAGE_DIR / name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--musicnn-gtzan", type=Path, help="a `train probe` checkpoint (MSD_MTT_musicnn, shared clips)")
    ap.add_argument("--cnn", type=Path)
    ap.add_argument("--svm-gtzan", type=Path)
    ap.add_argument("--data", default=None, help="parity audio for the CNN (default: its training data)")
    ap.add_argument(
        "--concept-patch",
        type=Path,
        default=None,
        help="validated concepts, probes, honest head and OOD for musicnn-gtzan (`concepts validate-probes`)",
    )
    ap.add_argument(
        "--cnn-concept-patch",
        type=Path,
        default=None,
        help="the validation of cnn-synth's concepts (`concepts validate-cavs`)",
    )
    ap.add_argument(
        "--patch-only",
        action="store_true",
        help="write the concept patches into the packaged bundles without re-exporting their graphs",
    )
    a = ap.parse_args()
    if a.patch_only:
        if a.concept_patch is None and a.cnn_concept_patch is None:
            ap.error("--patch-only needs --concept-patch or --cnn-concept-patch")
        if a.concept_patch is not None:
            print(patch_bundle(PACKAGE_DIR / "musicnn-gtzan", a.concept_patch))
        if a.cnn_concept_patch is not None:
            print(patch_bundle(PACKAGE_DIR / "cnn-synth", a.cnn_concept_patch))
        return
    if a.musicnn_gtzan:
        print(package("musicnn-gtzan", a.musicnn_gtzan, patch=a.concept_patch))
    if a.cnn:
        print(package("cnn-synth", a.cnn, a.data, patch=a.cnn_concept_patch))
    if a.svm_gtzan:
        print(package("svm-gtzan", a.svm_gtzan))


if __name__ == "__main__":
    main()
