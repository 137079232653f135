"""A genre head on a pretrained tagger: the module that `train probe` writes and the exporter converts.

Two heads, both linear:
- "concepts": a concept bottleneck. Genre logits = W p + b on the tagger's tag probabilities p, so every
  genre logit splits exactly into one contribution per named tag (w_gk p_k) plus the bias.
- "embedding": a linear probe on the tagger's pooled embedding, the accuracy reference.

Either way the module outputs the genre logits, and its concept outputs are the tag probabilities, so the
timeline, spans and clips of the runtime show the tags whatever the head.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from audioconcept.models.outputs import pool_time

HEAD_INPUTS = ("concepts", "embedding")


@dataclass(frozen=True)
class ProbeConfig:
    backbone_arch: str  # a tagger's registry name (musicnn, musicnn-vgg, musicnn-ensemble)
    n_tags: int
    n_classes: int
    head: str = "concepts"  # concepts | embedding
    n_features: int = 0  # the head's input size (n_tags for "concepts"; the embedding size otherwise)
    backbone_config: dict | None = None  # the tagger's arch_config (the ensemble's members)


class TagProbe(nn.Module):
    """tagger (mel -> tag logits, layers) + linear genre head; forward_layers -> (genre logits, layers).

    Layers: the tagger's own, plus `tags` (B, n_tags), the sigmoid tag probabilities."""

    def __init__(self, backbone: nn.Module, cfg: ProbeConfig) -> None:
        super().__init__()
        if cfg.head not in HEAD_INPUTS:
            raise ValueError(f"head must be one of {HEAD_INPUTS}, not {cfg.head!r}")
        self.cfg = cfg
        self.backbone = backbone
        n_features = cfg.n_features or cfg.n_tags
        self.head = nn.Linear(n_features, cfg.n_classes)
        self.layer_names = (*backbone.layer_names, "tags")
        self.embedding_layer = backbone.embedding_layer

    def forward_layers(self, mel: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        tag_logits, acts = self.backbone.forward_layers(mel)
        tags = torch.sigmoid(tag_logits)
        acts = {**acts, "tags": tags}
        x = tags if self.cfg.head == "concepts" else pool_time(acts[self.embedding_layer])
        return self.head(x), acts

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.forward_layers(mel)[0]

    def concept_outputs(self, logits: torch.Tensor, acts: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, n_tags) tag probabilities: the named concepts of the genre decision."""
        return acts["tags"]
