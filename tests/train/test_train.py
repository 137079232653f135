import json

import numpy as np
import pytest
import torch

from audioconcept.data.tracks import Track
from audioconcept.train.evaluate import song_logits_torch
from audioconcept.train.metrics import classification_metrics


class _Fixed(torch.nn.Module):
    """Logits = [mean, -mean] of each chunk, so song logits are checkable by hand."""

    def forward(self, x):
        m = x.mean(dim=1, keepdim=True)
        return torch.cat([m, -m], 1)


def test_song_level_aggregation_averages_chunk_logits():
    x = np.concatenate([np.ones(100), 3 * np.ones(100)]).astype(np.float32)
    cache = {"a": x}
    t = Track("a", "x", "test")  # path used as cache key
    logits = song_logits_torch(_Fixed(), [t], window_s=100 / 22050, n_chunks=2, cache=cache)
    np.testing.assert_allclose(logits[0], [2.0, -2.0], atol=1e-5)


def test_metrics():
    m = classification_metrics(["a", "a", "b", "b"], ["a", "b", "b", "b"], ["a", "b"])
    assert m["accuracy"] == 0.75
    assert m["per_class"]["a"]["recall"] == 0.5 and m["per_class"]["b"]["precision"] == pytest.approx(2 / 3)
    assert m["confusion_matrix"] == [[1, 1], [0, 2]]


@pytest.mark.slow
def test_short_cnn_training_beats_chance(tmp_path, tiny_synth):
    from audioconcept.train.config import AugmentConfig, TrainConfig
    from audioconcept.train.loop import train_torch

    out, run = train_torch(
        TrainConfig(
            model="cnn",
            data=f"synth:{tiny_synth}",
            out=tmp_path / "cnn",
            epochs=12,
            batch_size=8,
            lr=3e-3,
            patience=12,
            augment=AugmentConfig(enabled=False),
        )
    )
    # chance is 0.10 on ten genres; the tiny set holds 40 training tracks
    assert run["best_valid_acc"] >= 0.3, run["history"]
    assert (out / "model.pt").exists() and (out / "curves.png").exists() and (out / "confusion-test.png").exists()
    doc = json.loads((out / "run.json").read_text())
    assert doc["device"] == "cpu" and len(doc["history"]) >= 1 and doc["best_epoch"] >= 1


@pytest.mark.slow
def test_waveform_augmentation_path_runs(tmp_path, tiny_synth):
    from audioconcept.train.config import AugmentConfig, TrainConfig
    from audioconcept.train.loop import train_torch

    _, run = train_torch(
        TrainConfig(
            model="vggish",
            data=f"synth:{tiny_synth}",
            out=tmp_path / "v",
            epochs=1,
            batch_size=8,
            width=0.0625,
            augment=AugmentConfig(stretch_p=0.5),
        )
    )
    assert len(run["history"]) == 1 and np.isfinite(run["history"][0]["train_loss"])


@pytest.mark.slow
def test_svm_on_synthetic_audio(tmp_path, tiny_synth, monkeypatch):
    monkeypatch.setenv("AUDIOCONCEPT_CACHE", str(tmp_path / "cache"))
    from audioconcept.train.svm_train import train_svm

    out, run = train_svm(f"synth:{tiny_synth}", tmp_path / "svm", grid=False)
    assert run["test"]["n"] == 10 and run["test"]["accuracy"] >= 0.3
    assert json.loads((out / "config.json").read_text())["arch_config"]["label_rule"] == "argmax(probabilities)"


def test_augmenter_keeps_shape_and_range():
    from audioconcept.train.augment import Augmenter
    from audioconcept.train.config import AugmentConfig

    a = Augmenter(AugmentConfig(polarity_p=1, noise_p=1, gain_p=1, filter_p=1, delay_p=1), seed=0)
    x = (0.5 * np.sin(np.linspace(0, 2000, 22050))).astype(np.float32)
    y = a(x)
    assert y.shape == x.shape and y.dtype == np.float32 and np.abs(y).max() <= 1.0 and not np.allclose(x, y)
