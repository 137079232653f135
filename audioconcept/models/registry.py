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
    pretrained: bool = False  # imported (import-pretrained), not trained here


# musicnn's 187-frame patches: 1 + n // 256 == 187 frames for n = 186 * 256 samples at 16 kHz (2.976 s)
MUSICNN_WINDOW_S = 186 * 256 / 16_000


MODELS: dict[str, ModelSpec] = {
    "cnn": ModelSpec("cnn", 29.1, 1, "torch"),
    "vggish": ModelSpec("vggish", 3.96, 7, "torch", {"width": 1.0}),
    "svm": ModelSpec("svm", 30.0, 1, "sklearn"),
    "musicnn": ModelSpec("musicnn", MUSICNN_WINDOW_S, 10, "torch", pretrained=True),
    "musicnn-vgg": ModelSpec("musicnn-vgg", MUSICNN_WINDOW_S, 10, "torch", pretrained=True),
    "musicnn-ensemble": ModelSpec("musicnn-ensemble", MUSICNN_WINDOW_S, 10, "torch", pretrained=True),
}


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise AudioConceptError(f"unknown model {name!r}; choose from {', '.join(MODELS)}") from None


def build_body(arch: str, n_classes: int, **kwargs: Any):
    """The torch body (mel in, logits out) for `arch`."""
    from audioconcept.models.cnn import CNN, CNNConfig
    from audioconcept.models.musicnn import Musicnn, MusicnnConfig, MusicnnVGG, MusicnnVGGConfig, TagEnsemble
    from audioconcept.models.vggish import VGGish, VGGishConfig

    def ensemble() -> TagEnsemble:
        members = kwargs.get("members") or {}
        if not members or sum(int(m["n_classes"]) for m in members.values()) != n_classes:
            raise AudioConceptError(f"a musicnn-ensemble needs members whose tags add up to {n_classes}")
        return TagEnsemble({k: build_body(m["arch"], int(m["n_classes"])) for k, m in members.items()})

    builders: dict[str, Callable[..., Any]] = {
        "cnn": lambda: CNN(CNNConfig(n_classes=n_classes)),
        "vggish": lambda: VGGish(VGGishConfig(n_classes=n_classes, width=float(kwargs.get("width", 1.0)))),
        "musicnn": lambda: Musicnn(MusicnnConfig(n_classes=n_classes)),
        "musicnn-vgg": lambda: MusicnnVGG(MusicnnVGGConfig(n_classes=n_classes)),
        "musicnn-ensemble": ensemble,
    }
    if arch not in builders:
        raise AudioConceptError(f"{arch!r} is not a neural architecture ({', '.join(builders)})")
    return builders[arch]()
