"""`audioconcept train MODEL --nproc N`: the training loop on N data-parallel workers of this machine."""

from __future__ import annotations

import logging

from audioconcept.errors import AudioConceptError
from audioconcept.train.config import TrainConfig
from audioconcept.train.ddp import check_launch, launch


def _train_worker(cfg: TrainConfig) -> tuple:
    """One rank: `train_torch` joins the group that the launcher set up in its environment."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from audioconcept.train.loop import train_torch

    try:
        out, run = train_torch(cfg)
    except AudioConceptError as e:  # the parent shows this one line: no chained traceback
        raise e.with_traceback(None) from None
    return (str(out), run) if run else (None, None)


def launch_training(cfg: TrainConfig, nproc: int) -> tuple:
    """`train_torch(cfg)` on `nproc` data-parallel workers; -> rank 0's (checkpoint folder, run record)."""
    check_launch(nproc, cfg.device)
    return launch(nproc, _train_worker, cfg)
