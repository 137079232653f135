"""Optional experiment tracking for `audioconcept train --track none|wandb|mlflow`.

W&B runs offline unless the user is logged in (WANDB_API_KEY or a netrc entry), so it works
without an account; MLflow logs to a local file store (./mlruns unless MLFLOW_TRACKING_URI is
set). Both are extras; training never depends on them. Logged: the config, per-epoch metrics,
the final evaluation, the confusion matrix (as a figure and a table) and the checkpoint folder
as an artifact.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from audioconcept.errors import AudioConceptError, MissingExtra

log = logging.getLogger(__name__)

TRACKERS = ("none", "wandb", "mlflow")


@dataclass(frozen=True)
class TrackConfig:
    kind: str = "none"
    project: str = "audioconcept"
    run_name: str | None = None
    directory: Path | None = None  # W&B: its run folder; MLflow: the file store (default ./mlruns)


class NullTracker:
    def log_config(self, config: dict) -> None: ...
    def log_epoch(self, row: dict) -> None: ...
    def log_final(self, run: dict, checkpoint: Path) -> None: ...
    def finish(self) -> None: ...


def _final_metrics(run: dict) -> dict[str, float]:
    test = run.get("test") or {}
    m = {f"test.{k}": float(test[k]) for k in ("accuracy", "macro_f1") if k in test}
    for lab, v in (test.get("per_class") or {}).items():
        m[f"test.f1.{lab}"] = float(v["f1"])
    return m


def _confusion_png(run: dict, path: Path) -> Path | None:
    test = run.get("test") or {}
    if "confusion_matrix" not in test:
        return None
    import numpy as np

    from audioconcept.train.plots import plot_confusion

    plot_confusion(np.asarray(test["confusion_matrix"]), list(test["labels"]), path)
    return path


class WandbTracker:
    def __init__(self, cfg: TrackConfig, model: str) -> None:
        try:
            import wandb
        except ImportError:
            raise MissingExtra("wandb", "track", "--track wandb") from None
        self.wandb = wandb
        logged_in = bool(os.environ.get("WANDB_API_KEY")) or _netrc_has("api.wandb.ai")
        mode = os.environ.get("WANDB_MODE") or ("online" if logged_in else "offline")
        if mode == "offline":
            log.info("W&B: offline mode (not logged in); sync later with `wandb sync`")
        kwargs = {"dir": str(cfg.directory)} if cfg.directory else {}
        if cfg.directory:
            Path(cfg.directory).mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            project=cfg.project, name=cfg.run_name, mode=mode, job_type=f"train-{model}", reinit=True, **kwargs
        )

    def log_config(self, config: dict) -> None:
        self.run.config.update(config, allow_val_change=True)

    def log_epoch(self, row: dict) -> None:
        self.run.log({k: v for k, v in row.items() if k != "epoch"}, step=int(row["epoch"]))

    def log_final(self, run: dict, checkpoint: Path) -> None:
        wandb = self.wandb
        self.run.summary.update(_final_metrics(run))
        test = run.get("test") or {}
        if "confusion_matrix" in test:
            labels = test["labels"]
            rows = [
                [t, p, n]
                for i, t in enumerate(labels)
                for j, p in enumerate(labels)
                if (n := test["confusion_matrix"][i][j])
            ]
            self.run.log({"confusion_matrix": wandb.Table(columns=["true", "predicted", "count"], data=rows)})
            png = _confusion_png(run, Path(checkpoint) / "confusion_tracking.png")
            if png:
                self.run.log({"confusion_matrix_plot": wandb.Image(str(png))})
        art = wandb.Artifact(f"checkpoint-{self.run.id}", type="model")
        art.add_dir(str(checkpoint))
        self.run.log_artifact(art)

    def finish(self) -> None:
        self.run.finish()


def _netrc_has(host: str) -> bool:
    import netrc

    try:
        return netrc.netrc().authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


class MlflowTracker:
    def __init__(self, cfg: TrackConfig, model: str) -> None:
        try:
            import mlflow
        except ImportError:
            raise MissingExtra("mlflow", "track", "--track mlflow") from None
        self.mlflow = mlflow
        if cfg.directory or not os.environ.get("MLFLOW_TRACKING_URI"):
            # a plain local file store: no server, no database (MLflow 3 keeps it behind this switch)
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            store = Path(cfg.directory or "mlruns").resolve()
            store.mkdir(parents=True, exist_ok=True)
            mlflow.set_tracking_uri(store.as_uri())
        mlflow.set_experiment(cfg.project)
        self.run = mlflow.start_run(run_name=cfg.run_name or f"train-{model}")

    def log_config(self, config: dict) -> None:
        self.mlflow.log_params({k: str(v)[:500] for k, v in config.items()})

    def log_epoch(self, row: dict) -> None:
        self.mlflow.log_metrics({k: float(v) for k, v in row.items() if k != "epoch"}, step=int(row["epoch"]))

    def log_final(self, run: dict, checkpoint: Path) -> None:
        self.mlflow.log_metrics(_final_metrics(run))
        test = run.get("test") or {}
        if "confusion_matrix" in test:
            self.mlflow.log_dict(
                {"labels": test["labels"], "matrix": test["confusion_matrix"]}, "confusion_matrix.json"
            )
            png = _confusion_png(run, Path(checkpoint) / "confusion_tracking.png")
            if png:
                self.mlflow.log_artifact(str(png))
        self.mlflow.log_artifacts(str(checkpoint), artifact_path="checkpoint")

    def finish(self) -> None:
        self.mlflow.end_run()


def make_tracker(cfg: TrackConfig, model: str):
    if cfg.kind not in TRACKERS:
        raise AudioConceptError(f"--track {cfg.kind}: choose one of {', '.join(TRACKERS)}")
    if cfg.kind == "wandb":
        return WandbTracker(cfg, model)
    if cfg.kind == "mlflow":
        return MlflowTracker(cfg, model)
    return NullTracker()


def read_wandb_offline(run_dir: Path) -> dict:
    """Read an offline W&B run folder back without a server: config, history rows, summary and
    the number of artifacts. wandb 0.2x+ keeps these in run-*.wandb, a LevelDB-style log of
    protobuf records (32 KiB blocks, 7-byte record headers) after a 7-byte W&B header."""
    import json

    from wandb.proto import wandb_internal_pb2 as pb

    (path,) = Path(run_dir).glob("run-*.wandb")
    data = path.read_bytes()
    block, pos, buf, records = 32768, 7, b"", []
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:  # block trailer padding
            pos += left
            continue
        n, kind = int.from_bytes(data[pos + 4 : pos + 6], "little"), data[pos + 6]
        buf += data[pos + 7 : pos + 7 + n]
        pos += 7 + n
        if kind in (1, 4):  # FULL or LAST fragment
            records.append(buf)
            buf = b""
    out: dict = {"config": {}, "history": [], "summary": {}, "artifacts": 0}

    def items(seq) -> dict:
        return {(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in seq}

    for raw in records:
        r = pb.Record()
        r.ParseFromString(raw)
        kind = r.WhichOneof("record_type")
        if kind == "run":  # a config set before the run started travels inside its run record
            out["config"].update({k: v for k, v in items(r.run.config.update).items() if not k.startswith("_")})
        elif kind == "config":
            out["config"].update(items(r.config.update))
        elif kind == "history":
            out["history"].append(items(r.history.item))
        elif kind == "summary":
            out["summary"].update({k: v for k, v in items(r.summary.update).items() if not k.startswith("_")})
        elif kind == "artifact":
            out["artifacts"] += 1
    return out
