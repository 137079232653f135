"""Graph-level rewrites that keep an exported body in one piece on every ONNX execution provider.

Nothing here changes what the model computes (the parity gate checks it): BatchNorm becomes the
per-channel affine it is in eval mode, and VGGish's bilinear resize becomes two MatMuls, because
onnxruntime's CoreML execution provider supports neither BatchNormalization nor that Resize.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class ChannelAffine(nn.Module):
    """Eval-mode BatchNorm as y = x * scale + shift, broadcast over the channel axis (dim 1)."""

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm) -> None:
        super().__init__()
        scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        shift = bn.bias.detach() - bn.running_mean * scale
        self.register_buffer("scale", scale.float().clone())
        self.register_buffer("shift", shift.float().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return x * self.scale.reshape(shape) + self.shift.reshape(shape)


def _swap_batchnorm(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            if not child.track_running_stats or child.running_var is None or not child.affine:
                raise ValueError(f"{name}: only affine BatchNorm with running statistics can be folded")
            setattr(module, name, ChannelAffine(child))
        else:
            _swap_batchnorm(child)


def portable_body(body: nn.Module, n_mels: int, n_frames: int) -> nn.Module:
    """A copy of `body` (eval mode) with the rewrites above; the original is left untouched."""
    out = copy.deepcopy(body).eval()
    _swap_batchnorm(out)
    if hasattr(out, "use_matmul_resize"):
        out.use_matmul_resize(n_mels, n_frames)
    return out
