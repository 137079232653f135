"""The modules that get exported, and that concepts and attribution run: fixed output names, fp32 front end,
optional concept head."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

OUTPUTS = ("logits", "probabilities", "embedding")
CONCEPT_OUTPUTS = ("concepts", "concept_frames")


@dataclass(frozen=True)
class ConceptHead:
    """CAV directions for one layer: p = sigmoid(scale * (a . w) + bias) per concept."""

    layer: str
    names: tuple[str, ...]
    weights: torch.Tensor  # (n_concepts, dim) on the pooled activation
    bias: torch.Tensor  # (n_concepts,)


def pool_time(act: torch.Tensor) -> torch.Tensor:
    """Conv activation (B, C, F, T) -> (B, C*F) by averaging over time; dense (B, D) unchanged."""
    return act.mean(dim=-1).flatten(1) if act.ndim == 4 else act


def frame_projection(act: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """(B, C, F, T) x (K, C*F) -> (B, K, T): the CAV score of every time frame of the layer."""
    # MatMul rather than Einsum: onnxruntime's CoreML execution provider has no Einsum
    if act.ndim != 4:
        return (act @ w.T).unsqueeze(-1)
    b, c, f, t = act.shape
    return torch.matmul(w, act.reshape(b, c * f, t))


def has_native_concepts(body: nn.Module) -> bool:
    """Bodies whose concepts are their own outputs (a tagger's tags) rather than CAV projections."""
    return callable(getattr(body, "concept_outputs", None))


class BodyOutputs(nn.Module):
    """mel (B, n_mels, frames) -> logits, probabilities, embedding[, concepts, concept_frames].

    Probabilities are a softmax over the classes, or independent sigmoids for a multi-label tagger. The
    concepts are a CAV head's projections, or a body's own concept outputs (a tagger's tag probabilities,
    one frame per window)."""

    def __init__(self, body: nn.Module, head: ConceptHead | None = None) -> None:
        super().__init__()
        self.body = body
        self.head_layer = head.layer if head else None
        self.native_concepts = head is None and has_native_concepts(body)
        self.multi_label = bool(getattr(body, "multi_label", False))
        if head is not None:
            self.register_buffer("cav_w", head.weights.float().clone())
            self.register_buffer("cav_b", head.bias.float().clone())

    @property
    def with_concepts(self) -> bool:
        return self.head_layer is not None or self.native_concepts

    def forward(self, mel: torch.Tensor):
        logits, acts = self.body.forward_layers(mel)
        emb = pool_time(acts[self.body.embedding_layer])
        probs = torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)
        outs = (logits, probs, emb)
        if self.native_concepts:
            concepts = self.body.concept_outputs(logits, acts)
            return (*outs, concepts, concepts.unsqueeze(-1))
        if self.head_layer is None:
            return outs
        act = acts[self.head_layer]
        concepts = torch.sigmoid(pool_time(act) @ self.cav_w.T + self.cav_b)
        frames = torch.sigmoid(frame_projection(act, self.cav_w) + self.cav_b[None, :, None])
        return (*outs, concepts, frames)


class WaveformOutputs(nn.Module):
    """waveform (B, T) -> the same outputs, with the front end in front."""

    def __init__(self, frontend: nn.Module, body_outputs: BodyOutputs) -> None:
        super().__init__()
        self.frontend = frontend
        self.head = body_outputs

    def forward(self, waveform: torch.Tensor):
        return self.head(self.frontend(waveform))


def output_names(with_concepts: bool) -> list[str]:
    return list(OUTPUTS) + (list(CONCEPT_OUTPUTS) if with_concepts else [])
