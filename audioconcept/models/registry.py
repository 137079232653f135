"""Model names -> builders and input windows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from audioconcept.errors import AudioConceptError


@dataclass(frozen=True)
class ModelSpec:
    name: str
    window_s: float  # model input length in seconds
    eval_chunks: int  # evenly spaced chunks per track at evaluation
    kind: str  # "torch" or "sklearn"
    defaults: dict[str, Any] = field(default_factory=dict)


MODELS: dict[str, ModelSpec] = {
    "cnn": ModelSpec("cnn", 29.1, 1, "torch"),
    "vggish": ModelSpec("vggish", 3.96, 7, "torch", {"width": 1.0}),
    "svm": ModelSpec("svm", 30.0, 1, "sklearn"),
}


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise AudioConceptError(f"unknown model {name!r}; choose from {', '.join(MODELS)}") from None


def build_body(arch: str, n_classes: int, **kwargs: Any):
    """The torch body (mel in, logits out) for `arch`."""
    from audioconcept.models.cnn import CNN, CNNConfig
    from audioconcept.models.vggish import VGGish, VGGishConfig

    builders: dict[str, Callable[..., Any]] = {
        "cnn": lambda: CNN(CNNConfig(n_classes=n_classes)),
        "vggish": lambda: VGGish(VGGishConfig(n_classes=n_classes, width=float(kwargs.get("width", 1.0)))),
    }
    if arch not in builders:
        raise AudioConceptError(f"{arch!r} is not a neural architecture ({', '.join(builders)})")
    return builders[arch]()
