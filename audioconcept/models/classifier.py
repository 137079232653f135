"""Waveform-in classifier: mel front end + body, the unit that trains, exports and explains."""

from __future__ import annotations

import torch
from torch import nn

from audioconcept.models.frontend import MelFrontEnd
from audioconcept.models.frontend_config import MelConfig


class AudioClassifier(nn.Module):
    def __init__(self, body: nn.Module, mel: MelConfig = MelConfig(), frontend_mode: str = "stft") -> None:
        super().__init__()
        self.frontend = MelFrontEnd(mel, frontend_mode)
        self.body = body

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.body(self.frontend(wav))

    def forward_layers(self, wav: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.body.forward_layers(self.frontend(wav))
