import pickle

import pytest
import torch

from audioconcept.errors import CheckpointError, UnsafePickleError
from audioconcept.models.checkpoint import load_torch_checkpoint
from audioconcept.models.legacy import import_checkpoint, restricted_load
from tests.models.legacy_fixtures import Evil, original_classes, tag_storages_as, write_original_cnn_pickle


def test_original_mps_pickle_does_not_open_with_plain_pickle(tmp_path):
    p = tmp_path / "best_cnn_model.pkl"
    write_original_cnn_pickle(p)
    with pytest.raises(Exception), open(p, "rb") as f:  # noqa: B017 - the original classes are gone
        pickle.load(f)
    with original_classes(), pytest.raises(RuntimeError, match="(?i)mps"), open(p, "rb") as f:
        pickle.load(f)  # even with the original code, the storages want an MPS device


def test_import_original_mps_pickle(tmp_path):
    p = tmp_path / "best_cnn_model.pkl"
    original = write_original_cnn_pickle(p, seed=3)
    out = import_checkpoint(p, "cnn", tmp_path / "ck")
    model, cfg = load_torch_checkpoint(out)
    assert cfg.arch == "cnn" and len(cfg.labels) == 10
    torch.testing.assert_close(model.body.layer1[0].weight, original.layer1.conv.weight)
    torch.testing.assert_close(model.body.layer3[1].running_var, original.layer3.bn.running_var)
    torch.testing.assert_close(model.body.dense2.bias, original.dense2.bias)
    # same function as the original body on the same mel input
    original.eval()
    mel = torch.randn(2, 128, 1254)
    with torch.no_grad():
        ref = original.dense2(torch.relu(original.bn(original.dense1(_orig_features(original, mel)))))
        torch.testing.assert_close(model.body(mel), ref, atol=1e-5, rtol=1e-5)


def _orig_features(m, mel):
    x = m.spec_bn(mel.unsqueeze(1))
    for i in range(1, 6):
        blk = getattr(m, f"layer{i}")
        x = blk.mp(blk.relu(blk.bn(blk.conv(x))))
    return x.mean(dim=(2, 3))


def test_import_state_dict_saved_on_mps(tmp_path):
    with original_classes() as CNN:
        m = CNN()
        p = tmp_path / "sd.pt"
        with tag_storages_as("mps"):
            torch.save(m.state_dict(), p)
    out = import_checkpoint(p, "cnn", tmp_path / "ck")
    model, _ = load_torch_checkpoint(out)
    torch.testing.assert_close(model.body.dense1.weight, m.dense1.weight)


def test_malicious_pickles_are_refused(tmp_path):
    import os

    p = tmp_path / "evil.pkl"
    p.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(UnsafePickleError, match="posix.system|os.system|nt.system"):
        restricted_load(p)
    with pytest.raises(UnsafePickleError):
        import_checkpoint(p, "cnn", tmp_path / "ck")
    assert not os.path.exists("/tmp/audioconcept-pwned")
    p2 = tmp_path / "evil2.pkl"
    p2.write_bytes(pickle.dumps({"x": Evil()}))
    with pytest.raises(UnsafePickleError):
        import_checkpoint(p2, "svm", tmp_path / "ck2")
    assert not (tmp_path / "ck").exists() and not (tmp_path / "ck2").exists()


def test_wrong_arch_and_garbage(tmp_path):
    p = tmp_path / "best_cnn_model.pkl"
    write_original_cnn_pickle(p)
    with pytest.raises(CheckpointError, match="wrong --arch|does not fit"):
        import_checkpoint(p, "vggish", tmp_path / "v")
    g = tmp_path / "garbage.pkl"
    g.write_bytes(b"not a pickle at all")
    with pytest.raises(CheckpointError):
        import_checkpoint(g, "cnn", tmp_path / "g")


def test_import_pickled_svm(tmp_path):
    import numpy as np
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 57))
    y = np.repeat(["blues", "jazz", "rock"], 20)
    X[y == "jazz"] += 1.5
    scaler = StandardScaler().fit(X)
    svc = SVC(probability=True, random_state=0).fit(scaler.transform(X), y)
    p = tmp_path / "best_svm_model.pkl"
    p.write_bytes(pickle.dumps({"model": svc, "scaler": scaler}))
    out = import_checkpoint(p, "svm", tmp_path / "svm")
    from audioconcept.models.checkpoint import load_svm_checkpoint

    pipe, cfg = load_svm_checkpoint(out)
    assert cfg.labels == ["blues", "jazz", "rock"]
    np.testing.assert_allclose(pipe.predict_proba(X), svc.predict_proba(scaler.transform(X)))
