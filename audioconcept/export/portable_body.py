"""Graph-level rewrites that keep an exported body in one piece on every ONNX execution provider.

Nothing here changes what the model computes (the parity gate checks it): BatchNorm becomes the
per-channel affine it is in eval mode, and VGGish's bilinear resize becomes two MatMuls, because
onnxruntime's CoreML execution provider supports neither BatchNormalization nor that Resize.
musicnn's conv -> ReLU -> BatchNorm -> max-over-frequency blocks take the max before the affine (see
AffineFrequencyMax): the same numbers, since an affine map with a positive (negative) scale is
non-decreasing (non-increasing), rounding included; nothing but the convolutions touches a full-size
activation, which saves about a third of musicnn's peak memory in onnxruntime.
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


class AffineFrequencyMax(nn.Module):
    """FrequencyMaxBlock (conv -> ReLU -> affine a y + b -> max over frequency) with the max taken first.

    Channels with a >= 0 give a relu(max_f y) + b; channels with a < 0 give a min_f relu(y) + b =
    a relu(-max_f(-y)) + b, where -y comes from the same conv with negated weights. So no full-size
    activation is ever scaled, shifted, negated or cropped, and no ReduceMin is needed (the CoreML
    execution provider lacks it); a Gather puts the channels back in order."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        conv, self.crop = block.conv, block.crop
        affine = ChannelAffine(block.bn)
        pos = torch.nonzero(affine.scale >= 0).flatten()
        neg = torch.nonzero(affine.scale < 0).flatten()
        self.pos_conv = self._subconv(conv, pos, 1.0)
        self.neg_conv = self._subconv(conv, neg, -1.0)
        for name, idx in (("pos", pos), ("neg", neg)):
            self.register_buffer(f"{name}_scale", affine.scale[idx].reshape(1, -1, 1, 1).clone())
            self.register_buffer(f"{name}_shift", affine.shift[idx].reshape(1, -1, 1, 1).clone())
        self.register_buffer("order", torch.argsort(torch.cat([pos, neg])))

    @staticmethod
    def _subconv(conv: nn.Conv2d, idx: torch.Tensor, sign: float) -> nn.Conv2d | None:
        if not len(idx):
            return None
        sub = nn.Conv2d(conv.in_channels, len(idx), conv.kernel_size, padding=conv.padding)
        with torch.no_grad():
            sub.weight.copy_(sign * conv.weight[idx])
            sub.bias.copy_(sign * conv.bias[idx])
        return sub.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = []
        if self.pos_conv is not None:
            parts.append(self.pos_scale * torch.relu(self.pos_conv(x).amax(dim=2, keepdim=True)) + self.pos_shift)
        if self.neg_conv is not None:
            m = self.neg_conv(x).amax(dim=2, keepdim=True)
            parts.append(self.neg_scale * torch.relu(m * -1.0) + self.neg_shift)  # not -m: no Neg on CoreML
        y = torch.cat(parts, dim=1)[:, self.order]
        return y[..., self.crop :] if self.crop else y


def _swap_frequency_max(module: nn.Module) -> None:
    from audioconcept.models.musicnn import FrequencyMaxBlock

    for name, child in module.named_children():
        if isinstance(child, FrequencyMaxBlock):
            setattr(module, name, AffineFrequencyMax(child))
        else:
            _swap_frequency_max(child)


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
    _swap_frequency_max(out)
    _swap_batchnorm(out)
    if hasattr(out, "use_matmul_resize"):
        out.use_matmul_resize(n_mels, n_frames)
    return out
