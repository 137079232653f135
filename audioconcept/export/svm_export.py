"""SVM bundle: skl2onnx (zipmap off), feature names and order in the manifest.

Reported label: argmax(probabilities). The runtime ignores skl2onnx's `label` output: for a
plain SVC(probability=True) pipeline (imported checkpoints) it follows SVC.predict, which
disagrees with the probabilities on some rows; for our calibrated pipelines the two agree.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from audioconcept import SAMPLE_RATE
from audioconcept.data.features_csv import FEATURE_NAMES
from audioconcept.errors import ExportError
from audioconcept.export.manifest import artifact_entry, core_manifest, model_card
from audioconcept.export.parity import compare
from audioconcept.models.features import EXTRACTOR_VERSION
from audioconcept.models.svm import LABEL_RULE
from audioconcept.runtime.bundle import MANIFEST, is_our_bundle
from audioconcept.runtime.formats import Gate, export_flags_for, format_for_flag
from audioconcept.utils import atomic_dir, atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)
PROBA_TOLERANCE = 1e-5  # the SVM's outputs are probabilities: compared directly


def svm_to_onnx(pipe, metadata: dict | None = None):
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType

    from audioconcept.export.onnx_export import _rename_io, set_metadata
    from audioconcept.export.onnx_power_transformer import register

    register()  # a PowerTransformer that stays float64
    svc = pipe.steps[-1][1]
    onx = convert_sklearn(
        pipe,
        initial_types=[("features", DoubleTensorType([None, len(FEATURE_NAMES)]))],
        options={id(svc): {"zipmap": False}},
        target_opset={"": 18, "ai.onnx.ml": 3},
    )
    outs = [o.name for o in onx.graph.output]
    _rename_io(onx, {outs[0]: "label", outs[1]: "probabilities"})
    if metadata:
        set_metadata(onx, metadata)
    return onx


def _parity_features(data: str, ck_trained_on: str, n: int) -> np.ndarray:
    from audioconcept.data.features_csv import read_features_csv
    from audioconcept.data.spec import parse_data_spec

    spec = parse_data_spec(data)
    if spec.kind == "features-csv":
        return read_features_csv(spec.path).X[: max(n, 200)]
    from audioconcept.export.data_windows import split_paths
    from audioconcept.models.features import batch_features

    return batch_features(split_paths(data, "test", limit=max(n, 16)))


def export_svm(cfg, ck) -> Path:
    import onnxruntime as ort

    from audioconcept.export.data_windows import resolve_data
    from audioconcept.models.checkpoint import checkpoint_sha256, load_svm_checkpoint

    pipe, _ = load_svm_checkpoint(cfg.checkpoint)
    formats = cfg.formats or export_flags_for("sklearn")
    data = resolve_data(cfg.data, ck.trained_on)
    X = _parity_features(data, ck.trained_on, cfg.n_parity)
    name = cfg.name or cfg.out.name
    labels = [str(c) for c in pipe.classes_]
    n = len(labels)
    core = core_manifest(
        name=name,
        arch="svm",
        labels=labels,
        window_s=ck.window_s,
        hop_s=ck.window_s,
        sample_rate=SAMPLE_RATE,
        frontend=None,
        inputs={"features": {"name": "features", "shape": ["batch", len(FEATURE_NAMES)], "dtype": "float64"}},
        outputs=[
            {"name": "label", "shape": ["batch"], "dtype": "string"},
            {"name": "probabilities", "shape": ["batch", n], "dtype": "float64"},
        ],
        source_sha256=checkpoint_sha256(cfg.checkpoint),
        source_path=str(cfg.checkpoint),
        trained_on=ck.trained_on,
        metrics=ck.metrics,
        extra={
            "features": list(FEATURE_NAMES),
            "label_rule": LABEL_RULE,
            "feature_extractor": f"audioconcept.models.features {EXTRACTOR_VERSION} (numpy; librosa 0.11's "
            "definitions of the GTZAN features_30_sec.csv columns)",
            "short_clips": "features are means/variances over the audio present; no padding, no length feature",
        },
    )
    artifacts, parity, skipped = {}, {}, {}
    with atomic_dir(cfg.out, MANIFEST, cfg.force, ours=is_our_bundle) as tmp:
        if "onnx" in formats:
            onx = svm_to_onnx(pipe, core)
            (tmp / "model.onnx").write_bytes(onx.SerializeToString())
            sess = ort.InferenceSession(str(tmp / "model.onnx"), providers=["CPUExecutionProvider"])
            label, proba = sess.run(None, {"features": X.astype(np.float64)})
            ref = pipe.predict_proba(X)
            gate = Gate(PROBA_TOLERANCE, format_for_flag("onnx").gate.min_top1_agreement)
            parity["onnx"] = compare(ref, proba, gate, "SVM model.onnx probabilities")
            parity["onnx"]["label_output_matches_predict"] = float(np.mean(label == pipe.predict(X)))
            parity["onnx"]["predict_vs_argmax_proba_disagreement"] = float(
                np.mean(pipe.predict(X) != pipe.classes_[ref.argmax(1)])
            )
            artifacts["onnx"] = artifact_entry(tmp, "model.onnx", "features", "float64")
            # background rows for the runtime's exact group-Shapley explanations
            bg = X[np.random.default_rng(0).permutation(len(X))[:48]]
            np.save(tmp / "shapley_background.npy", bg.astype(np.float64))
            artifacts["shapley_background"] = artifact_entry(tmp, "shapley_background.npy", "none", "float64")
        if "coreml" in formats:
            skipped["coreml"] = _svm_coreml_reason()
            if cfg.formats and "coreml" in cfg.formats and formats == ("coreml",):
                raise ExportError(f"SVM CoreML export is not possible here: {skipped['coreml']}")
        if not artifacts:
            raise ExportError("no artifact was exported")
        manifest = {**core, "artifacts": artifacts, "parity": parity, "skipped": skipped}
        atomic_write_json(tmp / MANIFEST, manifest)
        atomic_write_text(tmp / "README.md", model_card(manifest))
    return cfg.out


def _svm_coreml_reason() -> str:
    try:
        import sklearn
        from coremltools._deps import _HAS_SKLEARN
        from coremltools.converters import sklearn as ct_sklearn  # noqa: F401
        from coremltools.converters.sklearn import _sklearn_util  # noqa: F401
    except Exception as e:
        return f"coremltools is not usable here ({type(e).__name__})"
    if not _HAS_SKLEARN:
        return (
            f"coremltools' scikit-learn converter does not support scikit-learn {sklearn.__version__}; "
            "use model.onnx (onnxruntime runs it on every platform, CoreML EP included)"
        )
    return "not attempted: the SVM runs through model.onnx on every platform"
