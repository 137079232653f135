"""Which part of its input window a body actually uses.

Max pools with floor division drop trailing frames: the short-chunk CNN pools its 1 251 mel frames
417 -> 104 -> 20 -> 6 -> 1, so frames after #975 (22.6 s of the 29.1 s window) never reach the
logits. Found with gradients: a frame the output does not depend on gets exactly zero gradient.
"""

from __future__ import annotations

import torch


def influential_frames(body: torch.nn.Module, n_mels: int, n_frames: int, trials: int = 3) -> int:
    """1 + the last time frame of a (1, n_mels, n_frames) dB mel with a nonzero gradient of the
    logits (over a few random inputs, eval mode); n_frames when the whole window is used."""
    body = body.eval()
    g = torch.zeros(n_frames)
    gen = torch.Generator().manual_seed(0)
    for _ in range(trials):
        mel = (torch.randn(1, n_mels, n_frames, generator=gen) * 20 - 40).requires_grad_(True)
        out = body(mel)
        (grad,) = torch.autograd.grad(out.sum(), mel)
        g += grad.abs().sum(dim=(0, 1))
    nz = torch.nonzero(g > 0)
    return int(nz.max()) + 1 if len(nz) else n_frames
