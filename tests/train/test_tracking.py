"""Experiment tracking: a run logged to an offline W&B folder and to a local MLflow store, read back."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from audioconcept.train.tracking import TrackConfig, make_tracker, read_wandb_offline

LABELS = ["blues", "metal"]
RUN = {
    "test": {
        "accuracy": 0.75,
        "macro_f1": 0.7,
        "per_class": {"blues": {"f1": 0.8}, "metal": {"f1": 0.6}},
        "confusion_matrix": [[3, 1], [1, 3]],
        "labels": LABELS,
    }
}


def _checkpoint(tmp_path):
    ck = tmp_path / "ck"
    ck.mkdir()
    (ck / "config.json").write_text(json.dumps({"arch": "cnn"}))
    return ck


def _log(tracker, ck):
    tracker.log_config({"model": "cnn", "lr": 0.003, "epochs": 3})
    for epoch in range(1, 4):
        tracker.log_epoch({"epoch": epoch, "train_loss": 1.0 / epoch, "valid_acc": 0.5 + 0.1 * epoch})
    tracker.log_final(RUN, ck)
    tracker.finish()


def test_mlflow_local_store_read_back(tmp_path):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    store = tmp_path / "mlruns"
    _log(make_tracker(TrackConfig("mlflow", "ac-test", "run1", store), "cnn"), _checkpoint(tmp_path))
    client = MlflowClient(tracking_uri=store.resolve().as_uri())
    exp = client.get_experiment_by_name("ac-test")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.data.params["lr"] == "0.003"
    assert run.data.metrics["test.accuracy"] == 0.75
    hist = client.get_metric_history(run.info.run_id, "valid_acc")
    assert [round(m.value, 3) for m in sorted(hist, key=lambda m: m.step)] == [0.6, 0.7, 0.8]
    arts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"confusion_matrix.json", "checkpoint"} <= arts
    ck_files = {a.path for a in client.list_artifacts(run.info.run_id, "checkpoint")}
    assert "checkpoint/config.json" in ck_files


def test_wandb_offline_folder_read_back(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    # a fresh interpreter, as `audioconcept train --track wandb` has: wandb keeps process-wide state (its service,
    # settings, the current run) that tests run earlier in the same pytest worker may have touched
    ck = _checkpoint(tmp_path)
    code = (
        "import sys; sys.path.insert(0, sys.argv[3]); from pathlib import Path; import test_tracking as t; "
        "t._log(t.make_tracker(t.TrackConfig('wandb', 'ac-test', 'run1', Path(sys.argv[1])), 'cnn'), Path(sys.argv[2]))"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path), str(ck), str(Path(__file__).parent)], check=True)
    runs = sorted((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, list((tmp_path / "wandb").iterdir())
    got = read_wandb_offline(runs[0])
    assert got["config"]["lr"] == 0.003 and got["config"]["epochs"] == 3
    epochs = [h for h in got["history"] if "valid_acc" in h]
    assert [h["_step"] for h in epochs] == [1, 2, 3]
    assert [round(h["valid_acc"], 3) for h in epochs] == [0.6, 0.7, 0.8]
    assert got["summary"]["test.accuracy"] == 0.75
    assert any(k.startswith("confusion_matrix") for h in got["history"] for k in h)
    assert got["artifacts"] >= 1  # the checkpoint


def test_unknown_tracker_is_a_one_line_error():
    from audioconcept.errors import AudioConceptError

    with pytest.raises(AudioConceptError, match="choose one of none, wandb, mlflow"):
        make_tracker(TrackConfig("tensorboard"), "cnn")


def test_train_cli_logs_to_mlflow(tmp_path, svm_features_csv):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    from audioconcept.cli import main

    store = tmp_path / "mlruns"
    main(
        [
            "train",
            "svm",
            "--data",
            f"features-csv:{svm_features_csv}",
            "--out",
            str(tmp_path / "svm"),
            "--no-grid",
            "--track",
            "mlflow",
            "--track-dir",
            str(store),
        ]
    )
    client = MlflowClient(tracking_uri=store.resolve().as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("audioconcept").experiment_id])
    assert 0.0 <= run.data.metrics["test.accuracy"] <= 1.0 and run.data.params["model"] == "svm"
