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
    # True: a window is framed as a slice of the whole song's spectrogram (musicnn): its samples carry
    # n_fft / 2 real samples of context on both sides and the front end runs with center=False
    song_framing: bool = False


# musicnn's 187-frame patches: 1 + n // 256 == 187 frames for n = 186 * 256 samples at 16 kHz (2.976 s)
MUSICNN_WINDOW_S = 186 * 256 / 16_000


MODELS: dict[str, ModelSpec] = {
    "cnn": ModelSpec("cnn", 29.1, 1, "torch"),
    "vggish": ModelSpec("vggish", 3.96, 7, "torch", {"width": 1.0}),
    "svm": ModelSpec("svm", 30.0, 1, "sklearn"),
    "musicnn": ModelSpec("musicnn", MUSICNN_WINDOW_S, 10, "torch", pretrained=True, song_framing=True),
    "musicnn-vgg": ModelSpec("musicnn-vgg", MUSICNN_WINDOW_S, 10, "torch", pretrained=True, song_framing=True),
    "musicnn-ensemble": ModelSpec(
        "musicnn-ensemble", MUSICNN_WINDOW_S, 10, "torch", pretrained=True, song_framing=True
    ),
    # a genre head on a pretrained musicnn tagger (`train probe`)
    "musicnn-probe": ModelSpec("musicnn-probe", MUSICNN_WINDOW_S, 10, "torch", song_framing=True),
}


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise AudioConceptError(f"unknown model {name!r}; choose from {', '.join(MODELS)}") from None


def window_framing(arch: str, mel: dict):
    """-> (MelConfig of one window, context samples on each side) for models of `arch`."""
    from audioconcept.models.frontend_config import MelConfig, song_framing

    cfg = MelConfig.from_dict(mel)
    return song_framing(cfg) if get_spec(arch).song_framing else (cfg, 0)


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

    def probe():
        from audioconcept.models.probe import ProbeConfig, TagProbe

        b = kwargs.get("backbone") or {}
        if not b.get("arch") or not b.get("n_tags"):
            raise AudioConceptError("a musicnn-probe needs its backbone's arch and n_tags")
        cfg = ProbeConfig(
            b["arch"],
            int(b["n_tags"]),
            n_classes,
            str(kwargs.get("head", "concepts")),
            int(kwargs.get("n_features") or 0),
            b.get("arch_config") or {},
        )
        return TagProbe(build_body(cfg.backbone_arch, cfg.n_tags, **(cfg.backbone_config or {})), cfg)

    builders: dict[str, Callable[..., Any]] = {
        "cnn": lambda: CNN(CNNConfig(n_classes=n_classes)),
        "vggish": lambda: VGGish(VGGishConfig(n_classes=n_classes, width=float(kwargs.get("width", 1.0)))),
        "musicnn": lambda: Musicnn(MusicnnConfig(n_classes=n_classes)),
        "musicnn-vgg": lambda: MusicnnVGG(MusicnnVGGConfig(n_classes=n_classes)),
        "musicnn-ensemble": ensemble,
        "musicnn-probe": probe,
    }
    if arch not in builders:
        raise AudioConceptError(f"{arch!r} is not a neural architecture ({', '.join(builders)})")
    return builders[arch]()
