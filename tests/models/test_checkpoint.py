import io
import json

import pytest
import torch

from audioconcept.errors import CheckpointError
from audioconcept.models.checkpoint import (
    CheckpointConfig,
    load_torch_checkpoint,
    save_torch_checkpoint,
)
from audioconcept.models.classifier import AudioClassifier
from audioconcept.models.registry import build_body
from tests.models.legacy_fixtures import tag_storages_as


def test_round_trip(tmp_path):
    torch.manual_seed(0)
    m = AudioClassifier(build_body("cnn", 4)).eval()
    cfg = CheckpointConfig(arch="cnn", labels=list("abcd"), window_s=29.1)
    save_torch_checkpoint(tmp_path, m, cfg)
    m2, cfg2 = load_torch_checkpoint(tmp_path)
    assert cfg2.labels == list("abcd")
    x = torch.randn(1, 128, 1254)
    torch.testing.assert_close(m.body(x), m2.body(x))
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_weights_saved_on_mps_load_on_cpu(tmp_path):
    """A state_dict whose storages are tagged 'mps' (as torch.save writes it on a Mac) loads here."""
    m = AudioClassifier(build_body("cnn", 10)).eval()
    save_torch_checkpoint(tmp_path, m, CheckpointConfig(arch="cnn", labels=[str(i) for i in range(10)], window_s=29.1))
    buf = io.BytesIO()
    with tag_storages_as("mps"):
        torch.save(m.body.state_dict(), buf)
    (tmp_path / "model.pt").write_bytes(buf.getvalue())
    with pytest.raises(RuntimeError, match="(?i)mps"):
        torch.load(tmp_path / "model.pt", weights_only=True)  # what a plain load does off a Mac
    m2, _ = load_torch_checkpoint(tmp_path)
    torch.testing.assert_close(m2.body.dense2.weight, m.body.dense2.weight)


def test_bad_checkpoints(tmp_path):
    with pytest.raises(CheckpointError):
        load_torch_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"arch": "cnn", "labels": ["a", "b"], "window_s": 29.1}))
    (tmp_path / "model.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="cannot load"):
        load_torch_checkpoint(tmp_path)
    torch.save({"x": torch.zeros(2)}, tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="do not fit"):
        load_torch_checkpoint(tmp_path)
