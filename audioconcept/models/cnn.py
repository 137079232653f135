"""The short-chunk CNN of the original AudioConcept (29.1 s input, 128-band mel, 5 conv blocks)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

POOLS = ((2, 3), (3, 4), (2, 5), (3, 3), (3, 4))
CHANNELS = (16, 16, 32, 32, 64)


@dataclass(frozen=True)
class CNNConfig:
    n_classes: int = 10
    n_mels: int = 128
    channels: tuple[int, ...] = CHANNELS
    pools: tuple[tuple[int, int], ...] = POOLS
    dense: int = 64
    dropout_conv: float = 0.1
    dropout_dense: float = 0.5


class ConvBlock(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, pool: tuple[int, int], dropout: float) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
            nn.MaxPool2d(pool),
            nn.Dropout(dropout),
        )


class CNN(nn.Module):
    """Body only: takes a (B, n_mels, frames) dB mel and returns logits."""

    layer_names = ("layer1", "layer2", "layer3", "layer4", "layer5", "dense1")
    embedding_layer = "dense1"

    def __init__(self, cfg: CNNConfig = CNNConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.spec_bn = nn.BatchNorm2d(1)
        c_prev = 1
        for i, (c, pool) in enumerate(zip(cfg.channels, cfg.pools, strict=True), start=1):
            setattr(self, f"layer{i}", ConvBlock(c_prev, c, pool, cfg.dropout_conv))
            c_prev = c
        self.dense1 = nn.Linear(c_prev, cfg.dense)
        self.bn = nn.BatchNorm1d(cfg.dense)
        self.dropout = nn.Dropout(cfg.dropout_dense)
        self.dense2 = nn.Linear(cfg.dense, cfg.n_classes)

    def forward_layers(self, mel: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Logits plus every named layer's activation (conv layers: (B, C, F, T); dense1: (B, D))."""
        x = self.spec_bn(mel.unsqueeze(1))
        acts: dict[str, torch.Tensor] = {}
        for i in range(1, len(self.cfg.channels) + 1):
            x = getattr(self, f"layer{i}")(x)
            acts[f"layer{i}"] = x
        # after five pools a 29.1 s input is 1x1; shorter or longer inputs are averaged
        x = x.mean(dim=(2, 3))
        x = torch.relu(self.bn(self.dense1(x)))
        acts["dense1"] = x
        return self.dense2(self.dropout(x)), acts

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.forward_layers(mel)[0]
