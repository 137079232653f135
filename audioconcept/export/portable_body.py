"""Graph-level rewrites that keep an exported body in one piece on every ONNX execution provider.

Nothing here changes what the model computes (the parity gate checks it): BatchNorm becomes the
per-channel affine it is in eval mode, and VGGish's bilinear resize becomes two MatMuls, because
onnxruntime's CoreML execution provider supports neither BatchNormalization nor that Resize.
musicnn's conv -> ReLU -> BatchNorm -> max-over-frequency blocks take the max before the affine (see
AffineFrequencyMax): the same numbers, since an affine map with a positive (negative) scale is
non-decreasing (non-increasing), rounding included; nothing but the convolutions touches a full-size
activation, which saves about a third of musicnn's peak memory in onnxruntime.

Dead filters go too. Where the block's input is bounded (musicnn's blocks see input_bn of a log10(1 + C x)
mel, which is never negative), a filter whose output can be shown never to be positive for ANY input in
that range (interval arithmetic over its taps, zero padding included) leaves ReLU at 0, so its channel is
the affine's shift at every frame: its convolution is not computed. In the MSD + MTT musicnn checkpoints
this holds for 60 % of the timbral filters' multiply-adds, a proof about the weights, not an observation
on some audio, so the outputs stay exactly the same for every song.
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


# a filter counts as dead only with this much room below 0, relative to the size of its terms: float32
# rounding of a sum can never lift it above 0
DEAD_MARGIN = 1e-4


def never_positive(conv: nn.Conv2d, lo: float, hi: float) -> torch.Tensor:
    """(C_out,) bool: filters whose output is <= 0 for every input with values in [lo, hi] (either may be
    infinite) and the conv's zero padding, by interval arithmetic: each tap takes the end of the interval
    that makes it largest."""
    w = conv.weight.detach().double().flatten(1)  # (C_out, taps); one input channel or many, same bound
    b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(len(w), dtype=torch.float64)
    lo, hi = min(lo, 0.0), max(hi, 0.0)  # zero padding can stand in for any tap
    pos, neg = w.clamp(min=0), w.clamp(max=0)
    # 0 * inf is nan: a tap of weight 0 adds nothing whatever the input
    zero = torch.zeros_like(w)
    terms = torch.where(pos > 0, pos * hi, zero) + torch.where(neg < 0, neg * lo, zero)
    bound = b + terms.sum(1)
    return bound < -DEAD_MARGIN * (b.abs() + terms.abs().sum(1))


class AffineFrequencyMax(nn.Module):
    """FrequencyMaxBlock (conv -> ReLU -> affine a y + b -> max over frequency) with the max taken first.

    Channels with a >= 0 give a relu(max_f y) + b; channels with a < 0 give a min_f relu(y) + b =
    a relu(-max_f(-y)) + b, where -y comes from the same conv with negated weights. So no full-size
    activation is ever scaled, shifted, negated or cropped, and no ReduceMin is needed (the CoreML
    execution provider lacks it); a Gather puts the channels back in order.

    `input_range` (lo, hi): what the block's input can hold. Filters that can never be positive there give
    b at every frame (ReLU keeps them at 0); they are not computed, but filled in with b (one live
    channel times zero, plus b: a broadcast Mul and Add, which every execution provider has)."""

    def __init__(self, block: nn.Module, input_range: tuple[float, float] | None = None) -> None:
        super().__init__()
        conv, self.crop = block.conv, block.crop
        affine = ChannelAffine(block.bn)
        dead = torch.zeros(len(affine.scale), dtype=torch.bool)
        if input_range is not None:
            dead = never_positive(conv, *input_range)
        if dead.all():  # keep one filter live: the fill needs a tensor of the block's output shape
            dead[0] = False
        pos = torch.nonzero((affine.scale >= 0) & ~dead).flatten()
        neg = torch.nonzero((affine.scale < 0) & ~dead).flatten()
        gone = torch.nonzero(dead).flatten()
        self.n_dead, self.n_filters = len(gone), len(dead)
        self.pos_conv = self._subconv(conv, pos, 1.0)
        self.neg_conv = self._subconv(conv, neg, -1.0)
        for name, idx in (("pos", pos), ("neg", neg)):
            self.register_buffer(f"{name}_scale", affine.scale[idx].reshape(1, -1, 1, 1).clone())
            self.register_buffer(f"{name}_shift", affine.shift[idx].reshape(1, -1, 1, 1).clone())
        self.register_buffer("dead_zero", torch.zeros(1, len(gone), 1, 1))
        self.register_buffer("dead_shift", affine.shift[gone].reshape(1, -1, 1, 1).clone())
        self.register_buffer("order", torch.argsort(torch.cat([pos, neg, gone])))

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
        if self.n_dead:
            parts.append(parts[0][:, :1] * self.dead_zero + self.dead_shift)
        y = torch.cat(parts, dim=1)[:, self.order]
        return y[..., self.crop :] if self.crop else y


def _swap_frequency_max(module: nn.Module, input_range: tuple[float, float] | None = None) -> None:
    """Every FrequencyMaxBlock -> AffineFrequencyMax; a module that knows what its blocks see
    (`frequency_block_input_range()`, musicnn) lets them drop their dead filters."""
    from audioconcept.models.musicnn import FrequencyMaxBlock

    if hasattr(module, "frequency_block_input_range"):
        input_range = module.frequency_block_input_range()
    for name, child in module.named_children():
        if isinstance(child, FrequencyMaxBlock):
            setattr(module, name, AffineFrequencyMax(child, input_range))
        else:
            _swap_frequency_max(child, input_range)


def _swap_batchnorm(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            if not child.track_running_stats or child.running_var is None or not child.affine:
                raise ValueError(f"{name}: only affine BatchNorm with running statistics can be folded")
            setattr(module, name, ChannelAffine(child))
        else:
            _swap_batchnorm(child)


def lean_body(body: nn.Module) -> nn.Module:
    """A copy of `body` (eval mode) whose frequency-max blocks take the max first and skip their dead filters:
    the same numbers in less time and memory on every execution provider. Other modules are as trained."""
    out = copy.deepcopy(body).eval()
    _swap_frequency_max(out)
    return out


def dead_filter_report(body: nn.Module) -> dict[str, dict]:
    """{block: {filters, dead}} of the AffineFrequencyMax blocks in `body` (after lean_body/portable_body)."""
    return {
        name: {"filters": m.n_filters, "dead": m.n_dead}
        for name, m in body.named_modules()
        if isinstance(m, AffineFrequencyMax)
    }


def portable_body(body: nn.Module, n_mels: int, n_frames: int) -> nn.Module:
    """A copy of `body` (eval mode) with the rewrites above; the original is left untouched."""
    out = lean_body(body)
    _swap_batchnorm(out)
    if hasattr(out, "use_matmul_resize"):
        out.use_matmul_resize(n_mels, n_frames)
    return out
