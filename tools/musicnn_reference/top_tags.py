"""Sanity check of the imported musicnn models on real clips: the top tags per clip and per genre.

    .venv/bin/python tools/musicnn_reference/top_tags.py --checkpoints models/checkpoints/pretrained \
        --clips ../shared/gtzan/clips [--models MSD_musicnn,MTT_musicnn] [--top 5]

Each clip: our loader at 16 kHz -> our numpy front end -> non-overlapping 187-frame patches (as
musicnn's extractor cuts them) -> tag probabilities averaged over the patches. Prints Markdown.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from audioconcept.data.audio import load_audio
from audioconcept.models.checkpoint import load_torch_checkpoint
from audioconcept.models.musicnn import PATCH_FRAMES
from audioconcept.runtime.frontend import NumpyMelFrontEnd


def clip_patches(path: Path, front: NumpyMelFrontEnd, sr: int) -> np.ndarray:
    mel = front(load_audio(path, sr=sr)[None])[0]
    starts = range(0, mel.shape[1] - PATCH_FRAMES + 1, PATCH_FRAMES)
    return np.stack([mel[:, s : s + PATCH_FRAMES] for s in starts])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoints", type=Path, required=True)
    ap.add_argument("--clips", type=Path, required=True)
    ap.add_argument("--models", default="MSD_musicnn,MTT_musicnn,MSD_vgg,MTT_vgg")
    ap.add_argument("--top", type=int, default=5)
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    clips = sorted(args.clips.glob("*/*.flac"))
    for name in args.models.split(","):
        model, cfg = load_torch_checkpoint(args.checkpoints / name)
        front = NumpyMelFrontEnd(cfg.mel)
        labels = np.array(cfg.labels)
        by_genre: dict[str, list[np.ndarray]] = defaultdict(list)
        print(f"\n### {name}\n\n| clip | top {args.top} tags (mean probability over 3 s patches) |\n|---|---|")
        for path in clips:
            p = torch.sigmoid(model.body(torch.from_numpy(clip_patches(path, front, cfg.mel["sample_rate"]))))
            p = p.mean(0).numpy()
            by_genre[path.parent.name].append(p)
            top = np.argsort(-p)[: args.top]
            print(f"| {path.stem} | {', '.join(f'{labels[i]} {p[i]:.2f}' for i in top)} |")
        print(f"\n| genre ({name}) | top {args.top} tags, mean over its clips |\n|---|---|")
        for genre, ps in sorted(by_genre.items()):
            m = np.mean(ps, axis=0)
            print(f"| {genre} | {', '.join(f'{labels[i]} {m[i]:.2f}' for i in np.argsort(-m)[: args.top])} |")


if __name__ == "__main__":
    main()
