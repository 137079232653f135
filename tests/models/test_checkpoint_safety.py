"""Nothing runs from a checkpoint: SVM pickles load through the allowlist, old joblib files are refused
with a way forward, and payloads planted in every checkpoint loader leave no marker."""

import json
import pickle

import numpy as np
import pytest

from audioconcept.errors import CheckpointError, UnsafePickleError
from audioconcept.models import safe_pickle
from audioconcept.models.checkpoint import (
    LEGACY_SKLEARN,
    SKLEARN,
    WEIGHTS,
    CheckpointConfig,
    load_svm_checkpoint,
    load_torch_checkpoint,
    read_config,
    save_svm_checkpoint,
)
from tests.payloads import assert_one_line_error, joblib_payload, pickles, run_cli

pytest.importorskip("sklearn")
KINDS = ["os.system", "exec", "subprocess.Popen", "inside a Pipeline", "in a dict", "raw GLOBAL eval"]


def _data(n_per=30, k=3, d=57, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(["blues", "jazz", "rock"][:k], n_per)
    X = rng.standard_normal((n_per * k, d))
    for i, lab in enumerate(np.unique(y)):
        X[y == lab, i] += 2.0
    return X, y


def _pipelines():
    """The SVM pipeline as it is, and as the SVM-pipeline work may grow it."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_selection import SelectKBest, VarianceThreshold, f_classif
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from audioconcept.models.svm import make_pipeline

    return {
        "scaler+svc": make_pipeline(),
        "calibrated sigmoid, balanced, kbest": Pipeline(
            [
                ("var", VarianceThreshold()),
                ("kbest", SelectKBest(f_classif, k=20)),
                ("scaler", StandardScaler()),
                ("svc", CalibratedClassifierCV(SVC(class_weight="balanced"), cv=StratifiedKFold(3), method="sigmoid")),
            ]
        ),
        "calibrated isotonic, not ensembled": Pipeline(
            [
                ("scaler", StandardScaler()),
                ("svc", CalibratedClassifierCV(SVC(), cv=3, method="isotonic", ensemble=False)),
            ]
        ),
    }


def _cfg(labels):
    return CheckpointConfig(arch="svm", labels=list(labels), window_s=30.0)


@pytest.mark.parametrize("name", list(_pipelines()))
def test_svm_pipelines_round_trip_through_the_allowlist(tmp_path, name):
    X, y = _data()
    pipe = _pipelines()[name].fit(X, y)
    save_svm_checkpoint(tmp_path, pipe, _cfg(pipe.classes_))
    assert (tmp_path / SKLEARN).exists() and not (tmp_path / LEGACY_SKLEARN).exists()
    got, cfg = load_svm_checkpoint(tmp_path)
    np.testing.assert_array_equal(got.predict_proba(X), pipe.predict_proba(X))
    assert list(got.classes_) == list(pipe.classes_) == cfg.labels


def test_saving_an_unlisted_step_fails_when_saved_naming_the_class(tmp_path):
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline
    from sklearn.svm import SVC

    X, y = _data()
    pipe = Pipeline([("pca", PCA(5)), ("svc", SVC(probability=True))]).fit(X, y)
    with pytest.raises(CheckpointError, match=r"sklearn\.decomposition\._pca\.PCA.*TRUSTED_TYPES"):
        save_svm_checkpoint(tmp_path, pipe, _cfg(pipe.classes_))
    assert not (tmp_path / SKLEARN).exists()


def test_every_trusted_type_exists_where_its_module_does():
    """A typo in the table would silently refuse a real model: each entry must resolve."""
    import importlib

    for module, names in safe_pickle.TRUSTED_TYPES.items():
        try:
            mod = importlib.import_module(module)
        except ImportError:  # e.g. numpy.core on numpy 2, sklearn.frozen before 1.6
            continue
        for name in names:
            assert hasattr(mod, name), f"{module}.{name}"


@pytest.mark.parametrize("kind", KINDS)
def test_payload_in_svm_checkpoint_is_refused(tmp_path, kind):
    marker = tmp_path / "PWNED"
    ck = tmp_path / "ck"
    ck.mkdir()
    (ck / "config.json").write_text(json.dumps(_cfg(["a", "b"]).to_dict()))
    (ck / SKLEARN).write_bytes(pickles(marker)[kind])
    with pytest.raises(UnsafePickleError, match="not on the allowlist"):
        load_svm_checkpoint(ck)
    assert not marker.exists()


def test_export_and_evaluate_of_a_planted_checkpoint_run_nothing(tmp_path, svm_features_csv):
    """The reported reproduction: a payload beside an SVM config.json, then `export` (and `evaluate`)."""
    marker = tmp_path / "PWNED"
    ck = tmp_path / "ck"
    ck.mkdir()
    (ck / "config.json").write_text(json.dumps(_cfg(["a", "b"]).to_dict()))
    (ck / SKLEARN).write_bytes(pickles(marker)["os.system"])
    out = tmp_path / "X"
    p = run_cli("export", str(ck), "--out", str(out), "--formats", "onnx", "--data", f"features-csv:{svm_features_csv}")
    assert_one_line_error(p, contains="not on the allowlist")
    p = run_cli("evaluate", str(ck), "--data", f"features-csv:{svm_features_csv}")
    assert_one_line_error(p, contains="not on the allowlist")
    assert not marker.exists() and not out.exists()


def test_old_joblib_checkpoint_is_refused_with_a_way_forward(tmp_path, svm_features_csv):
    """Old checkpoints (model.joblib) are never loaded: the error says how to retrain or convert, and
    import-checkpoint converts a trusted one through the same allowlist."""
    import joblib

    X, y = _data()
    pipe = _pipelines()["scaler+svc"].fit(X, y)
    old = tmp_path / "old"
    old.mkdir()
    joblib.dump(pipe, old / LEGACY_SKLEARN)
    (old / "config.json").write_text(json.dumps(_cfg(pipe.classes_).to_dict()))
    with pytest.raises(CheckpointError, match="old joblib SVM checkpoint.*retrain.*import-checkpoint"):
        load_svm_checkpoint(old)
    p = run_cli("export", str(old), "--out", str(tmp_path / "b"), "--data", f"features-csv:{svm_features_csv}")
    line = assert_one_line_error(p, contains="import-checkpoint")
    assert "--arch svm" in line
    # the conversion the message suggests
    p = run_cli("import-checkpoint", str(old / LEGACY_SKLEARN), "--arch", "svm", str(tmp_path / "new"))
    assert p.returncode == 0, p.stderr
    got, cfg = load_svm_checkpoint(tmp_path / "new")
    np.testing.assert_array_equal(got.predict_proba(X), pipe.predict_proba(X))
    assert cfg.labels == list(pipe.classes_)


def test_malicious_joblib_files_are_never_run(tmp_path):
    marker = tmp_path / "PWNED"
    old = tmp_path / "old"
    old.mkdir()
    (old / LEGACY_SKLEARN).write_bytes(joblib_payload(marker))
    (old / "config.json").write_text(json.dumps(_cfg(["a", "b"]).to_dict()))
    with pytest.raises(CheckpointError, match="old joblib"):
        load_svm_checkpoint(old)  # refused by name, never opened
    p = run_cli("import-checkpoint", str(old / LEGACY_SKLEARN), "--arch", "svm", str(tmp_path / "new"))
    assert_one_line_error(p, contains="refused to load")
    assert not marker.exists() and not (tmp_path / "new").exists()


@pytest.mark.parametrize("kind", KINDS)
def test_import_checkpoint_refuses_payloads(tmp_path, kind):
    from audioconcept.models.legacy import import_checkpoint

    marker = tmp_path / "PWNED"
    f = tmp_path / "best_svm_model.pkl"
    f.write_bytes(pickles(marker)[kind])
    for arch in ("svm", "cnn"):
        with pytest.raises(CheckpointError):
            import_checkpoint(f, arch, tmp_path / arch)
        assert not (tmp_path / arch).exists()
    assert not marker.exists()


def test_payload_as_torch_weights_is_refused(tmp_path, cnn_checkpoint):
    import shutil

    marker = tmp_path / "PWNED"
    ck = tmp_path / "ck"
    shutil.copytree(cnn_checkpoint, ck)
    for kind in ("os.system", "exec"):
        (ck / WEIGHTS).write_bytes(pickles(marker)[kind])
        with pytest.raises(CheckpointError, match="cannot load weights"):
            load_torch_checkpoint(ck)
    assert not marker.exists()


@pytest.mark.parametrize(
    "content,match",
    [
        ("[" * 200_000 + "]" * 200_000, "unreadable"),
        ('["a", "b"]', "not a JSON object"),
        ('{"arch": "svm", "labels": "abc", "window_s": 30}', "labels"),
        ('{"arch": "svm", "labels": ["a", "b"], "window_s": -1}', "window_s"),
        ('{"arch": "svm", "labels": ["a", "b"], "window_s": 30, "bogus": 1}', None),
    ],
)
def test_hostile_checkpoint_configs_give_one_line(tmp_path, content, match):
    (tmp_path / "config.json").write_text(content)
    if match is None:  # unknown keys are ignored
        assert read_config(tmp_path).arch == "svm"
        return
    with pytest.raises(CheckpointError, match=match) as e:
        read_config(tmp_path)
    assert "\n" not in str(e.value)


def test_restricted_loader_needs_no_joblib_for_plain_pickles(tmp_path):
    from sklearn.preprocessing import StandardScaler

    s = StandardScaler().fit(np.eye(3))
    assert isinstance(safe_pickle.loads(pickle.dumps(s, protocol=5)), StandardScaler)
    assert isinstance(safe_pickle.loads(pickle.dumps(s, protocol=2)), StandardScaler)
