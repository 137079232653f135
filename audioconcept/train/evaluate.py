"""Song-level evaluation: average chunk logits (or SVM probabilities) per track."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from audioconcept.train.metrics import classification_metrics
from audioconcept.utils import atomic_write_json

log = logging.getLogger(__name__)


def song_logits_torch(
    model, tracks, window_s: float, n_chunks: int, device=None, batch: int = 16, cache=None
) -> np.ndarray:
    """(n_tracks, n_classes) mean chunk logits."""
    import torch

    from audioconcept.data.audio import eval_chunks, load_audio

    device = device or torch.device("cpu")
    out = []
    model.eval()
    with torch.inference_mode():
        for t in tracks:
            x = cache[str(t.path)] if cache is not None else load_audio(t.path)
            chunks = torch.from_numpy(eval_chunks(x, window_s, n_chunks))
            logits = torch.cat(
                [model(chunks[i : i + batch].to(device)).float().cpu() for i in range(0, len(chunks), batch)]
            )
            out.append(logits.mean(0).numpy())
    return np.stack(out) if out else np.zeros((0, 0), dtype=np.float32)


def evaluate_checkpoint(
    checkpoint: str | Path, data: str, split: str = "test", out: Path | None = None, seed: int | None = None
) -> dict:
    """`seed` is the split seed; by default the one the checkpoint was trained with, so the test
    split here is the test split of training."""
    from audioconcept.data.spec import load_tracks, parse_data_spec
    from audioconcept.models.checkpoint import load_any, read_config
    from audioconcept.train.plots import plot_confusion

    cfg = read_config(checkpoint)
    spec = parse_data_spec(data)
    seed = cfg.data_seed if seed is None else seed
    if cfg.arch == "svm":
        from audioconcept.train.svm_train import evaluate_svm

        pipe, _ = load_any(checkpoint)
        metrics = evaluate_svm(pipe, spec, split, seed)
    else:
        model, _ = load_any(checkpoint)
        tracks = load_tracks(spec, seed).split(split)
        logits = song_logits_torch(model, tracks, cfg.window_s, cfg.eval_chunks)
        pred = [cfg.labels[i] for i in logits.argmax(1)]
        metrics = classification_metrics([t.label for t in tracks], pred, cfg.labels)
    metrics.update({"checkpoint": str(checkpoint), "data": data, "split": split, "arch": cfg.arch})
    out = Path(out) if out else Path(checkpoint if Path(checkpoint).is_dir() else Path(checkpoint).parent)
    atomic_write_json(out / f"eval-{split}.json", metrics)
    plot_confusion(
        np.array(metrics["confusion_matrix"]),
        cfg.labels,
        out / f"confusion-{split}.png",
        f"{cfg.arch} on {spec.kind} {split}: acc {metrics['accuracy']:.3f}",
    )
    return metrics
