"""The original training recipe: AdamW, label smoothing, ReduceLROnPlateau on validation accuracy,
early stopping, best checkpoint kept."""

from __future__ import annotations

import copy
import logging
import platform
import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from audioconcept.data.spec import load_tracks, parse_data_spec
from audioconcept.errors import DataSpecError
from audioconcept.models.checkpoint import CheckpointConfig, save_torch_checkpoint
from audioconcept.models.classifier import AudioClassifier
from audioconcept.models.frontend_config import MelConfig
from audioconcept.models.registry import build_body, get_spec
from audioconcept.train.audio_dataset import AudioCache, CropDataset, MelCropDataset
from audioconcept.train.config import TrainConfig
from audioconcept.train.evaluate import song_logits_torch
from audioconcept.train.metrics import classification_metrics
from audioconcept.train.plots import plot_confusion, plot_curves
from audioconcept.utils import atomic_write_json

log = logging.getLogger(__name__)


def tune_malloc() -> None:
    """Keep glibc from returning large activation buffers to the OS after every step: the
    page faults of re-mapping them cost about a third of a CPU training step."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)
    libc.mallopt(m_trim_threshold, 2**30)
    libc.mallopt(m_top_pad, 256 * 1024 * 1024)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train_torch(cfg: TrainConfig, on_epoch: Callable[[dict], None] | None = None) -> tuple[Path, dict]:
    """`on_epoch(row)` receives each epoch's metrics (experiment tracking).

    Under torchrun (or `--nproc`) every rank runs this: DDP averages the gradients, each rank trains on
    its shard of every epoch and validates on its shard of the valid set, the sums make every rank take
    the same decisions, and rank 0 alone writes the checkpoint (other ranks return an empty run)."""
    from audioconcept.train.ddp import join

    ctx = join(cfg.device)
    try:
        return _train(cfg, ctx, on_epoch)
    finally:
        ctx.close()


def _train(cfg: TrainConfig, ctx, on_epoch: Callable[[dict], None] | None) -> tuple[Path, dict]:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    t_start = time.time()
    tune_malloc()
    seed_everything(cfg.seed)
    ms = get_spec(cfg.model)
    spec = parse_data_spec(cfg.data)
    if spec.kind == "features-csv":
        raise DataSpecError(f"{cfg.model} trains on audio; features-csv is for the svm")
    tl = load_tracks(spec, cfg.seed)
    train_t, valid_t, test_t = tl.split("train"), tl.split("valid"), tl.split("test")
    if not train_t or not valid_t:
        raise DataSpecError(f"{spec}: need tracks in both train and valid splits")
    device = ctx.device
    log.info(
        "training %s on %s (%d/%d/%d tracks) on %s", cfg.model, spec, len(train_t), len(valid_t), len(test_t), device
    )
    cache = AudioCache(train_t + valid_t + test_t)
    augment = None
    if cfg.augment.enabled:
        from audioconcept.train.augment import Augmenter

        augment = Augmenter(cfg.augment, cfg.seed)
    arch_config = {"width": cfg.width} if cfg.model == "vggish" else {}
    model = AudioClassifier(build_body(cfg.model, len(tl.labels), **arch_config), MelConfig()).to(device)
    if augment is None:  # no waveform augmentation: compute each mel once, train the body on mel crops
        ds = MelCropDataset(train_t, tl.labels, ms.window_s, cache, model.frontend.to("cpu"), cfg.seed + ctx.rank)
        model.to(device)
        forward = ctx.wrap(model.body)
    else:
        ds = CropDataset(train_t, tl.labels, ms.window_s, cache, augment, cfg.seed + ctx.rank)
        forward = ctx.wrap(model)
    g = torch.Generator().manual_seed(cfg.seed)
    sampler = ctx.sampler(ds, cfg.seed)  # None in one process; with DDP each rank's share of an epoch
    loader = DataLoader(
        ds,
        batch_size=cfg.batch_size,  # per process: the global batch is world_size x this
        shuffle=sampler is None,
        sampler=sampler,
        generator=g,
        num_workers=cfg.num_workers,
        drop_last=len(sampler or ds) > cfg.batch_size,
    )
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=cfg.lr_factor, patience=cfg.lr_patience)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    history: list[dict] = []
    best_acc, best_epoch, best_state, stale = -1.0, 0, None, 0
    my_valid = ctx.shard(valid_t)  # each rank scores its share; the sums give every rank the same accuracy
    cols = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
    )
    with Progress(*cols, transient=False, disable=not ctx.is_main) as bar:
        task = bar.add_task(f"{cfg.model} epochs", total=cfg.epochs, info="")
        for epoch in range(1, cfg.epochs + 1):
            model.train()
            if sampler is not None:
                sampler.set_epoch(epoch)
            losses, correct, seen = [], 0, 0
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                logits = forward(x)
                loss = loss_fn(logits, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(loss.item())
                correct += int((logits.argmax(1) == y).sum())
                seen += len(y)
            hits = 0
            if my_valid:
                vl = song_logits_torch(model, my_valid, ms.window_s, ms.eval_chunks, device, cache=cache)
                hits = sum(tl.labels[i] == t.label for i, t in zip(vl.argmax(1), my_valid, strict=True))
            loss_sum, n_batches, correct, seen, hits, n_valid = ctx.all_sum(
                [sum(losses), len(losses), correct, seen, hits, len(my_valid)]
            )
            valid_acc = hits / max(n_valid, 1)
            sched.step(valid_acc)
            row = {
                "epoch": epoch,
                "train_loss": loss_sum / max(n_batches, 1),
                "train_acc": correct / max(seen, 1),
                "valid_acc": valid_acc,
                "lr": opt.param_groups[0]["lr"],
                "time_s": round(time.time() - t_start, 1),
            }
            history.append(row)
            if on_epoch is not None:
                on_epoch(row)
            if valid_acc > best_acc:
                best_acc, best_epoch, stale = valid_acc, epoch, 0
                if ctx.is_main:
                    best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
            else:
                stale += 1
            bar.update(task, advance=1, info=f"loss {row['train_loss']:.3f} valid {valid_acc:.3f} best {best_acc:.3f}")
            log.debug("epoch %s", row)
            if cfg.patience and stale >= cfg.patience:
                log.info("early stop at epoch %d (no improvement for %d epochs)", epoch, cfg.patience)
                break
            if ctx.any(bool(cfg.time_budget_s) and time.time() - t_start > cfg.time_budget_s):
                log.info("time budget of %.0f s reached at epoch %d", cfg.time_budget_s, epoch)
                break
    # the ranks hold identical weights (DDP): their checksums, in run.json, show it
    rank_checksums = ctx.gather(float(sum(p.detach().double().sum().item() for p in model.parameters())))
    if not ctx.is_main:
        return Path(cfg.out), {}
    model.load_state_dict(best_state)
    model.to("cpu").eval()
    test_metrics = None
    if test_t:
        tl_logits = song_logits_torch(model, test_t, ms.window_s, ms.eval_chunks, cache=cache)
        test_metrics = classification_metrics(
            [t.label for t in test_t], [tl.labels[i] for i in tl_logits.argmax(1)], list(tl.labels)
        )
    ck = CheckpointConfig(
        arch=cfg.model,
        labels=list(tl.labels),
        window_s=ms.window_s,
        eval_chunks=ms.eval_chunks,
        arch_config=arch_config,
        trained_on=str(spec),
        data_seed=cfg.seed,
        metrics={"best_valid_acc": best_acc, "best_epoch": best_epoch, "test": test_metrics},
    )
    out = Path(cfg.out)
    save_torch_checkpoint(out, model, ck)
    plot_curves(history, out / "curves.png")
    if test_metrics:
        plot_confusion(
            np.array(test_metrics["confusion_matrix"]),
            list(tl.labels),
            out / "confusion-test.png",
            f"{cfg.model} test acc {test_metrics['accuracy']:.3f}",
        )
    run = {
        "config": cfg.to_dict(),
        "history": history,
        "best_epoch": best_epoch,
        "best_valid_acc": best_acc,
        "test": test_metrics,
        "wall_time_s": round(time.time() - t_start, 1),
        "device": str(device),
        "distributed": ctx.describe() | {"per_process_batch_size": cfg.batch_size, "rank_checksums": rank_checksums},
        "torch": torch.__version__,
        "host": platform.node(),
        "dataset": tl.summary(),
    }
    atomic_write_json(out / "run.json", run)
    return out, run
