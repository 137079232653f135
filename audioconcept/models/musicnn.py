"""musicnn (Pons and Serra, 2019) and its VGG-like baseline in PyTorch, for the weights that the
`musicnn` 0.1.0 wheel ships (ISC licence, Music Technology Group, Universitat Pompeu Fabra).

Both take a (B, 96, frames) log10(1 + 10000 mel) spectrogram (see MUSICNN_MEL) and return 50
pre-sigmoid tag logits; they were trained on 187-frame (3 s) patches. The TensorFlow originals
work on NHWC tensors with H = time and W = frequency; here everything runs as (B, C, freq, time),
with the kernels transposed when the weights are loaded (audioconcept.models.pretrained), so that
every conv activation has the project's (B, C, F, T) layout. TensorFlow's "same" padding (for even
kernels: one more frame after than before) and its BatchNorm epsilon (1e-3) are reproduced; there
is no Pad op and no data-dependent control flow, so the modules export with torch.export and
the ONNX exporter.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import torch
from torch import nn

from audioconcept.models.frontend_config import MelConfig
from audioconcept.models.outputs import pool_time

SAMPLE_RATE = 16_000
PATCH_FRAMES = 187  # the models' 3 s training patches
HOP = 256
# 187 frames with center=True: 1 + n // hop == 187 for n = 186 * hop = 47 616 samples
WINDOW_S = (PATCH_FRAMES - 1) * HOP / SAMPLE_RATE
TF_BN_EPS = 1e-3  # tf.compat.v1.layers.batch_normalization's default

# librosa.feature.melspectrogram's defaults of 2019 (Slaney scale and norm, center=True, reflect
# padding) at 16 kHz, n_fft 512, hop 256, 96 bands; then log10(1 + 10000 x) in float32
MUSICNN_MEL = MelConfig(
    sample_rate=SAMPLE_RATE,
    n_fft=512,
    hop_length=HOP,
    n_mels=96,
    f_min=0.0,
    f_max=SAMPLE_RATE / 2,
    mel_scale="slaney",
    norm="slaney",
    db="",
    compression="log10(1+C*x)",
    log_c=10_000.0,
)
# the largest finite value log10(1 + C x) can take, for any finite power x up to float64's maximum (a real song
# stays under 8): no front end, numpy or in-graph, can hand the model more
MEL_MAX = math.ceil(math.log10(MUSICNN_MEL.log_c) + math.log10(sys.float_info.max))


def tf_batch_norm(n: int, dims: int = 2) -> nn.Module:
    return nn.BatchNorm2d(n, eps=TF_BN_EPS) if dims == 2 else nn.BatchNorm1d(n, eps=TF_BN_EPS)


class Tagger:
    """What the exported graphs read from a tag model: its outputs are independent sigmoid tags (not one
    softmax over classes), and the tags themselves are its concepts."""

    multi_label = True

    def concept_outputs(self, logits: torch.Tensor, acts: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, n_tags) tag probabilities."""
        return torch.sigmoid(logits)


class FrequencyMaxBlock(nn.Module):
    """conv -> ReLU -> BatchNorm -> max over all frequencies: (B, 1, F, T) -> (B, C, 1, T).

    `time_pad` = (before, after) frames of zero padding, as TensorFlow places it; an asymmetric
    pair is spelled as symmetric conv padding of `after` and dropping the first output frames."""

    def __init__(self, c_out: int, kernel: tuple[int, int], time_pad: tuple[int, int]) -> None:
        super().__init__()
        before, after = time_pad
        self.conv = nn.Conv2d(1, c_out, kernel, padding=(0, after))
        self.bn = tf_batch_norm(c_out)
        self.crop = after - before

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if self.crop:
            y = y[..., self.crop :]
        return self.bn(torch.relu(y)).amax(dim=2, keepdim=True)


class MidendConv(nn.Module):
    """A 7-frame conv across all channels -> ReLU -> BatchNorm: (B, C_in, 1, T) -> (B, C_out, 1, T)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, (1, 7), padding=(0, 3))
        self.bn = tf_batch_norm(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(torch.relu(self.conv(x)))


@dataclass(frozen=True)
class MusicnnConfig:
    n_classes: int = 50
    n_mels: int = 96
    frontend_filters: float = 1.6  # x128 timbral and x32 temporal filters per block
    midend_filters: int = 64
    backend_units: int = 200
    dropout: float = 0.5


class Musicnn(Tagger, nn.Module):
    """Musically motivated CNN: timbral (vertical) and temporal (horizontal) front-end filters, a
    dense mid-end of 1-D convs over time, temporal max + mean pooling, a dense back-end.

    Layers (for concept analysis):
    - timbral (B, 408, 1, T): 7-frame filters spanning 38 and 67 of the 96 bands (pitch-invariant
      timbre), max over frequency;
    - temporal (B, 153, 1, T): 1-band filters 128, 64 and 32 frames long (tempo, rhythm), max over
      frequency;
    - midend1..3 (B, 64, 1, T): the mid-end convs (2 and 3 with their residual connections);
    - pooled (B, 2 * 753): max and mean over time of front end + mid-end, interleaved per channel
      (max, mean) as the original flattens them;
    - penultimate (B, 200): the back-end's dense layer after BatchNorm (the embedding)."""

    layer_names = ("timbral", "temporal", "midend1", "midend2", "midend3", "pooled", "penultimate")
    embedding_layer = "penultimate"

    def __init__(self, cfg: MusicnnConfig = MusicnnConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        timbral = int(cfg.frontend_filters * 128)
        temporal = int(cfg.frontend_filters * 32)
        self.input_bn = tf_batch_norm(1)
        self.timbral_38 = FrequencyMaxBlock(timbral, (int(0.4 * cfg.n_mels), 7), (3, 3))
        self.timbral_67 = FrequencyMaxBlock(timbral, (int(0.7 * cfg.n_mels), 7), (3, 3))
        self.temporal_128 = FrequencyMaxBlock(temporal, (1, 128), (63, 64))
        self.temporal_64 = FrequencyMaxBlock(temporal, (1, 64), (31, 32))
        self.temporal_32 = FrequencyMaxBlock(temporal, (1, 32), (15, 16))
        front = 2 * timbral + 3 * temporal
        self.midend1 = MidendConv(front, cfg.midend_filters)
        self.midend2 = MidendConv(cfg.midend_filters, cfg.midend_filters)
        self.midend3 = MidendConv(cfg.midend_filters, cfg.midend_filters)
        pooled = 2 * (front + 3 * cfg.midend_filters)
        self.pool_bn = tf_batch_norm(pooled, dims=1)
        self.dense = nn.Linear(pooled, cfg.backend_units)
        self.dense_bn = tf_batch_norm(cfg.backend_units, dims=1)
        self.out = nn.Linear(cfg.backend_units, cfg.n_classes)
        self.dropout = nn.Dropout(cfg.dropout)

    def frequency_block_input_range(self) -> tuple[float, float]:
        """(lo, hi) of what the front-end blocks can see: input_bn (eval mode) of a log10(1 + C x) mel, which is
        never negative and, for any finite power x (float64 included), at most MEL_MAX. Exporters use it to prove
        filters dead (export.portable_body)."""
        bn = self.input_bn
        scale = float(bn.weight.detach()[0] / torch.sqrt(bn.running_var[0] + bn.eps))
        shift = float(bn.bias.detach()[0] - bn.running_mean[0] * scale)
        ends = (shift, scale * MEL_MAX + shift)
        return min(ends), max(ends)

    def forward_layers(self, mel: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(B, n_mels, frames) -> logits (B, n_classes) and every named layer's activation."""
        x = self.input_bn(mel.unsqueeze(1))
        timbral = torch.cat([self.timbral_38(x), self.timbral_67(x)], dim=1)
        temporal = torch.cat([self.temporal_128(x), self.temporal_64(x), self.temporal_32(x)], dim=1)
        front = torch.cat([timbral, temporal], dim=1)
        m1 = self.midend1(front)
        m2 = self.midend2(m1) + m1
        m3 = self.midend3(m2) + m2
        feats = torch.cat([front, m1, m2, m3], dim=1)  # (B, 753, 1, T)
        pooled = torch.stack([feats.amax(dim=-1), feats.mean(dim=-1)], dim=-1).flatten(1)
        pen = self.dense_bn(torch.relu(self.dense(self.dropout(self.pool_bn(pooled)))))
        acts = {
            "timbral": timbral,
            "temporal": temporal,
            "midend1": m1,
            "midend2": m2,
            "midend3": m3,
            "pooled": pooled,
            "penultimate": pen,
        }
        return self.out(self.dropout(pen)), acts

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.forward_layers(mel)[0]


# (kernel (freq, time), stride (freq, time)) of the VGG baseline's five max pools
VGG_POOLS = (((1, 4), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((4, 4), (4, 4)))


@dataclass(frozen=True)
class MusicnnVGGConfig:
    n_classes: int = 50
    n_mels: int = 96
    n_frames: int = PATCH_FRAMES  # the output layer reads the flattened last pool: fixed input length
    filters: int = 128
    dropout_conv: float = 0.25
    dropout: float = 0.5


class MusicnnVGG(Tagger, nn.Module):
    """The VGG-like baseline: five 3x3 conv -> ReLU -> BatchNorm -> max-pool blocks, then one dense
    layer on the flattened last pool. Takes exactly `n_frames` frames.

    Layers: pool1..pool5 (B, 128, F, T) after each block (pool5: (B, 128, 1, 2) for 96 x 187); the
    embedding is pool5, averaged over its two time steps by the exporter."""

    layer_names = ("pool1", "pool2", "pool3", "pool4", "pool5")
    embedding_layer = "pool5"

    def __init__(self, cfg: MusicnnVGGConfig = MusicnnVGGConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.input_bn = tf_batch_norm(1)
        self.convs = nn.ModuleList()
        self.bns = nn.ModuleList()
        self.pools = nn.ModuleList()
        f, t, c_in = cfg.n_mels, cfg.n_frames, 1
        for kernel, stride in VGG_POOLS:
            self.convs.append(nn.Conv2d(c_in, cfg.filters, 3, padding=1))
            self.bns.append(tf_batch_norm(cfg.filters))
            self.pools.append(nn.MaxPool2d(kernel, stride))
            f, t, c_in = (f - kernel[0]) // stride[0] + 1, (t - kernel[1]) // stride[1] + 1, cfg.filters
        if f < 1 or t < 1:
            raise ValueError(f"a {cfg.n_mels} x {cfg.n_frames} input is too small for the VGG baseline")
        self.dropout_conv = nn.Dropout(cfg.dropout_conv)
        self.dropout = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(cfg.filters * f * t, cfg.n_classes)

    def forward_layers(self, mel: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = self.input_bn(mel.unsqueeze(1))
        acts: dict[str, torch.Tensor] = {}
        for i, (conv, bn, pool) in enumerate(zip(self.convs, self.bns, self.pools, strict=True), start=1):
            if i > 1:
                x = self.dropout_conv(x)
            x = pool(bn(torch.relu(conv(x))))
            acts[f"pool{i}"] = x
        # TensorFlow flattens NHWC = (time, freq, channel); the output layer's weights expect that order
        flat = x.permute(0, 3, 2, 1).flatten(1)
        return self.out(self.dropout(flat)), acts

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.forward_layers(mel)[0]


class TagEnsemble(Tagger, nn.Module):
    """Several tag models on one mel: their logits concatenated (e.g. MSD + MTT = 100 tags).

    Layers are `<member>.<layer>` for every member layer, plus `embedding`: the members'
    embeddings, each pooled over time, side by side."""

    embedding_layer = "embedding"

    def __init__(self, members: dict[str, nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleDict(members)
        self.layer_names = tuple(f"{name}.{lay}" for name, body in self.members.items() for lay in body.layer_names) + (
            "embedding",
        )

    def forward_layers(self, mel: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits, acts, embs = [], {}, []
        for name, body in self.members.items():
            lg, a = body.forward_layers(mel)
            logits.append(lg)
            acts.update({f"{name}.{k}": v for k, v in a.items()})
            e = a[body.embedding_layer]
            embs.append(pool_time(e))
        acts["embedding"] = torch.cat(embs, dim=1)
        return torch.cat(logits, dim=1), acts

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.forward_layers(mel)[0]


def count_parameters(module: nn.Module) -> int:
    """Learned parameters (BatchNorm moving statistics excluded)."""
    return sum(p.numel() for p in module.parameters())
