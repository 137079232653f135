"""VGG16-style "VGGish" on the mel image resized to 224x224 (3.96 s input)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


@dataclass(frozen=True)
class VGGishConfig:
    n_classes: int = 10
    width: float = 1.0
    image_size: int = 224
    hidden: int = 4096
    dropout: float = 0.5


class VGGish(nn.Module):
    """Body only: takes a (B, n_mels, frames) dB mel and returns logits."""

    layer_names = ("block1", "block2", "block3", "block4", "block5", "fc1", "fc2")
    embedding_layer = "fc2"

    def __init__(self, cfg: VGGishConfig = VGGishConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.spec_bn = nn.BatchNorm2d(1)
        blocks: list[nn.Sequential] = []
        layers: list[nn.Module] = []
        c_prev = 1
        for v in VGG16:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
                blocks.append(nn.Sequential(*layers))
                layers = []
                continue
            c = max(4, int(round(int(v) * cfg.width)))
            layers += [nn.Conv2d(c_prev, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            c_prev = c
        self.blocks = nn.ModuleList(blocks)
        side = cfg.image_size // 32
        hidden = max(16, int(round(cfg.hidden * cfg.width)))
        self.fc1 = nn.Linear(c_prev * side * side, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, cfg.n_classes)
        self.dropout = nn.Dropout(cfg.dropout)

    def use_matmul_resize(self, n_mels: int, n_frames: int) -> None:
        """Spell the bilinear resize as two fixed matrices, rows @ mel @ cols (exact: bilinear
        resizing without antialiasing is separable and linear), for graphs whose runtime has no
        usable Resize op (onnxruntime's CoreML execution provider). Fixes the input length."""
        s = self.cfg.image_size
        self.register_buffer("resize_rows", _bilinear_matrix(n_mels, s), persistent=False)
        self.register_buffer("resize_cols_t", _bilinear_matrix(n_frames, s).T.contiguous(), persistent=False)

    def _resize(self, mel: torch.Tensor) -> torch.Tensor:
        x = mel.unsqueeze(1)
        if hasattr(self, "resize_rows"):
            return torch.matmul(torch.matmul(self.resize_rows, x), self.resize_cols_t)
        s = self.cfg.image_size
        return nn.functional.interpolate(x, size=(s, s), mode="bilinear", align_corners=False)

    def forward_layers(self, mel: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = self.spec_bn(self._resize(mel))
        acts: dict[str, torch.Tensor] = {}
        for i, block in enumerate(self.blocks, start=1):
            x = block(x)
            acts[f"block{i}"] = x
        x = torch.flatten(x, 1)
        x = self.dropout(torch.relu(self.fc1(x)))
        acts["fc1"] = x
        x = self.dropout(torch.relu(self.fc2(x)))
        acts["fc2"] = x
        return self.out(x), acts

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.forward_layers(mel)[0]


def _bilinear_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in) matrix A with A @ v == interpolate(v, n_out, bilinear, align_corners=False)."""
    eye = torch.eye(n_in, dtype=torch.float64)[None, None]
    a = nn.functional.interpolate(eye, size=(n_out, n_in), mode="bilinear", align_corners=False)
    return a[0, 0].float()
