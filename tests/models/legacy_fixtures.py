"""Build files the way the original AudioConcept wrote them: pickle.dump of whole modules
(classes AudioConcept.models.model_cnn.CNN, torchaudio transforms inside), storages tagged mps."""

from __future__ import annotations

import contextlib
import pickle
import sys
import types

import torch
from torch import nn


def _module(name: str) -> types.ModuleType:
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        sub = ".".join(parts[:i])
        if sub not in sys.modules:
            sys.modules[sub] = types.ModuleType(sub)
    return sys.modules[name]


@contextlib.contextmanager
def original_classes():
    """Temporarily define the original project's classes under their original import paths."""
    created = [
        n
        for n in (
            "AudioConcept",
            "AudioConcept.models",
            "AudioConcept.models.model_cnn",
            "AudioConcept.models.model_vggish",
            "torchaudio",
            "torchaudio.transforms",
            "torchaudio.transforms._transforms",
        )
        if n not in sys.modules
    ]
    ta = _module("torchaudio.transforms._transforms")

    class MelSpectrogram(nn.Module):
        def __init__(self, sample_rate=22050, n_fft=1024, f_min=0.0, f_max=11025.0, n_mels=128):
            super().__init__()
            self.sample_rate, self.n_fft, self.n_mels = sample_rate, n_fft, n_mels
            self.register_buffer("window", torch.hann_window(n_fft))
            self.register_buffer("fb", torch.rand(n_fft // 2 + 1, n_mels))

    class AmplitudeToDB(nn.Module):
        def __init__(self):
            super().__init__()
            self.stype, self.multiplier, self.amin, self.top_db = "power", 10.0, 1e-10, None

    for cls in (MelSpectrogram, AmplitudeToDB):
        cls.__module__ = ta.__name__
        cls.__qualname__ = cls.__name__
        setattr(ta, cls.__name__, cls)

    mc = _module("AudioConcept.models.model_cnn")

    class Conv_2d(nn.Module):  # noqa: N801 - the original name
        def __init__(self, cin, cout, pooling):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, 3, padding=1)
            self.bn = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU()
            self.mp = nn.MaxPool2d(pooling)
            self.dropout = nn.Dropout(0.1)

    class CNN(nn.Module):
        def __init__(self, n_class=10):
            super().__init__()
            self.spec = MelSpectrogram()
            self.to_db = AmplitudeToDB()
            self.spec_bn = nn.BatchNorm2d(1)
            pools = ((2, 3), (3, 4), (2, 5), (3, 3), (3, 4))
            chans = (1, 16, 16, 32, 32, 64)
            for i in range(5):
                setattr(self, f"layer{i + 1}", Conv_2d(chans[i], chans[i + 1], pools[i]))
            self.dense1 = nn.Linear(64, 64)
            self.bn = nn.BatchNorm1d(64)
            self.dense2 = nn.Linear(64, n_class)
            self.dropout = nn.Dropout(0.5)

    for cls in (Conv_2d, CNN):
        cls.__module__ = mc.__name__
        cls.__qualname__ = cls.__name__
        setattr(mc, cls.__name__, cls)
    try:
        yield CNN
    finally:
        for n in created:
            sys.modules.pop(n, None)


@contextlib.contextmanager
def tag_storages_as(location: str):
    """Make torch.save record `location` (e.g. 'mps') for CPU storages, as a Mac would."""
    from torch import serialization

    def tagger(obj):
        return location if getattr(obj, "device", torch.device("cpu")).type == "cpu" else None

    entry = (0, tagger, lambda obj, loc: None)  # priority 0 comes first
    serialization._package_registry.insert(0, entry)
    try:
        yield
    finally:
        serialization._package_registry.remove(entry)


def write_original_cnn_pickle(path, seed: int = 0):
    torch.manual_seed(seed)
    with original_classes() as CNN:
        model = CNN()
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
        with tag_storages_as("mps"), open(path, "wb") as f:
            pickle.dump(model, f)
    return model


class Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /tmp/audioconcept-pwned",))
