"""The musicnn import against musicnn's own TensorFlow code (tests/fixtures/musicnn_reference.npz, made by
tools/musicnn_reference/make_fixture.sh with TensorFlow 2.15 from the same wheel)."""

import json
import zipfile

import numpy as np
import pytest
import torch

from audioconcept.errors import AudioConceptError, CheckpointError
from audioconcept.models import pretrained as pre
from audioconcept.models.checkpoint import load_torch_checkpoint, read_config
from audioconcept.models.frontend_config import MelConfig
from audioconcept.models.musicnn import MUSICNN_MEL, PATCH_FRAMES

SINGLE = ("MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg")


def _reference(d, name: str) -> np.ndarray:
    if name == pre.ENSEMBLE:
        return np.concatenate([d[f"{m}/probs"] for m in pre.ENSEMBLE_MEMBERS], axis=1)
    return d[f"{name}/probs"]


def test_fixture_is_small_and_says_how_it_was_made(musicnn_reference):
    from tests.models.conftest import FIXTURE

    assert FIXTURE.stat().st_size < 1_000_000
    meta = json.loads(str(musicnn_reference["meta"]))
    assert meta["tensorflow"] and meta["librosa"] and meta["wheel_sha256"] == pre.WHEEL_SHA256
    assert musicnn_reference["mel"].shape == (9, 96, PATCH_FRAMES)


def test_checkpoints_describe_themselves(musicnn_checkpoints):
    for name in (*SINGLE, pre.ENSEMBLE):
        cfg = read_config(musicnn_checkpoints / name)
        assert MelConfig.from_dict(cfg.mel) == MUSICNN_MEL
        assert MUSICNN_MEL.n_frames(round(cfg.window_s * MUSICNN_MEL.sample_rate)) == PATCH_FRAMES
        assert cfg.source["wheel_sha256"] == pre.WHEEL_SHA256 and cfg.source["licence"] == "ISC"
        assert "Universitat Pompeu Fabra" in cfg.source["licence_notice"]
        assert len(cfg.label_info) == len(cfg.labels) == (100 if name == pre.ENSEMBLE else 50)
        state = torch.load(musicnn_checkpoints / name / "model.pt", map_location="cpu", weights_only=True)
        assert all(v.device.type == "cpu" for v in state.values())
    msd = read_config(musicnn_checkpoints / "MSD_musicnn")
    assert "Hip-Hop" in msd.labels and msd.metrics["upstream_test_roc_auc"] > 0.87
    ens = read_config(musicnn_checkpoints / pre.ENSEMBLE)
    assert ens.labels[:2] == ["MSD:rock", "MSD:pop"] and ens.labels[50] == "MTT:guitar"
    assert {i["concept"] for i in ens.label_info if i["tag"] in ("female vocalists", "female")} == {"female voice"}


@pytest.mark.parametrize("name", SINGLE)
def test_tags_equal_tensorflow_on_identical_mel(musicnn_checkpoints, musicnn_reference, name):
    d = musicnn_reference
    model, cfg = load_torch_checkpoint(musicnn_checkpoints / name)
    with torch.no_grad():
        logits, acts = model.body.forward_layers(torch.from_numpy(d["mel"]))
    probs = torch.sigmoid(logits).numpy()
    assert np.abs(probs - _reference(d, name)).max() <= 1e-4
    assert cfg.labels == d[f"{name}/labels"].tolist()
    assert np.abs(logits.numpy() - d[f"{name}/logits"]).max() <= 5e-4
    if "musicnn" in name:
        assert np.abs(acts["penultimate"].numpy() - d[f"{name}/penultimate"]).max() <= 5e-4
    else:  # ours is (B, C, F, T), TensorFlow's NHWC = (B, T, F, C)
        assert np.abs(acts["pool5"].permute(0, 3, 2, 1).numpy() - d[f"{name}/pool5_nhwc"]).max() <= 5e-4


def test_msd_mtt_ensemble_equals_tensorflow_on_one_patch_per_clip(musicnn_checkpoints, musicnn_reference):
    d = musicnn_reference
    model, _ = load_torch_checkpoint(musicnn_checkpoints / pre.ENSEMBLE)
    pick = [0, 4, 8]
    with torch.no_grad():
        probs = torch.sigmoid(model.body(torch.from_numpy(d["mel"][pick]))).numpy()
    assert probs.shape == (3, 100)
    assert np.abs(probs - _reference(d, pre.ENSEMBLE)[pick]).max() <= 1e-4


@pytest.mark.slow
def test_end_to_end_on_real_songs_within_1e3(musicnn_checkpoints, musicnn_reference, shared_clips_dir):
    """Audio file -> our loader and numpy front end -> our MSD+MTT musicnn, against TensorFlow run on librosa's mel."""
    from audioconcept.data.audio import load_audio
    from audioconcept.runtime.frontend import NumpyMelFrontEnd

    d = musicnn_reference
    model, cfg = load_torch_checkpoint(musicnn_checkpoints / pre.ENSEMBLE, frontend_mode="conv")
    front = NumpyMelFrontEnd(cfg.mel)
    mels, torch_mels = {}, {}
    with torch.no_grad():
        for clip in set(d["clip"].tolist()):
            y = load_audio(shared_clips_dir / clip, sr=16000)
            mels[clip] = front(y[None])[0]
            torch_mels[clip] = model.frontend(torch.from_numpy(y)[None])[0]  # the Conv1d STFT, as exported
    patches, wave_patches = [], []
    for clip, s in zip(d["clip"].tolist(), d["start_frame"].tolist(), strict=True):
        patches.append(mels[clip][:, s : s + PATCH_FRAMES])
        wave_patches.append(torch_mels[clip][:, s : s + PATCH_FRAMES])
    ref = _reference(d, pre.ENSEMBLE)
    with torch.no_grad():
        ours = torch.sigmoid(model.body(torch.from_numpy(np.stack(patches)))).numpy()
        ours_torch = torch.sigmoid(model.body(torch.stack(wave_patches))).numpy()
    assert np.abs(ours - ref).max() <= 1e-3
    assert np.abs(ours_torch - ref).max() <= 1e-3
    # and the tags say what the music is
    labels = np.array(cfg.labels)
    first = {c: i for i, c in reversed(list(enumerate(d["clip"].tolist())))}
    assert "MSD:heavy metal" in labels[np.argsort(-ours[first["metal/metal.00005.flac"]])[:5]]
    assert "MTT:classical" in labels[np.argsort(-ours[first["classical/classical.00005.flac"]])[:5]]


# ---------------------------------------------------------------- errors and the CLI
def test_wrong_or_corrupt_wheels_are_refused(tmp_path, monkeypatch):
    bad = tmp_path / "musicnn-0.1.0-py3-none-any.whl"
    bad.write_bytes(b"not a wheel")
    with pytest.raises(CheckpointError, match="not the musicnn-0.1.0-py3-none-any.whl from PyPI"):
        pre.find_wheel(bad)
    with pytest.raises(CheckpointError, match="no such file"):
        pre.find_wheel(tmp_path / "missing.whl")
    with pytest.raises(CheckpointError, match="not a readable wheel"):
        pre.read_wheel_checkpoint(bad, "MSD_musicnn")
    other = tmp_path / "other.whl"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("something/else.txt", "hi")
    with pytest.raises(CheckpointError, match="not the musicnn wheel"):
        pre.read_wheel_checkpoint(other, "MSD_musicnn")
    # a corrupt cached copy is dropped, not trusted
    monkeypatch.setenv("AUDIOCONCEPT_CACHE", str(tmp_path / "cache"))
    cached = tmp_path / "cache" / "wheels" / pre.WHEEL_NAME
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated download")
    with pytest.raises(CheckpointError, match="not downloaded yet"):
        pre.find_wheel(download=False)
    assert not cached.exists()


def test_weights_that_do_not_fit_are_named(musicnn_wheel):
    tf = pre.read_wheel_checkpoint(musicnn_wheel, "MSD_vgg")
    with pytest.raises(CheckpointError, match="has no 'conv2d/kernel'"):
        pre.musicnn_state(tf, "MSD_vgg")
    with pytest.raises(CheckpointError, match="unexpected tensors in the checkpoint: extra"):
        pre.vgg_state({**tf, "extra": np.zeros(1, np.float32)}, "MSD_vgg")


def test_cli_imports_a_subset_and_fails_in_one_line(tmp_path, musicnn_wheel, capsys):
    from audioconcept.cli import main

    main(["import-pretrained", "musicnn", "--wheel", str(musicnn_wheel), "--out", str(tmp_path), "--models", "MTT_vgg"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["MTT_vgg"]
    model, _ = load_torch_checkpoint(tmp_path / "MTT_vgg")
    assert model.frontend.cfg == MUSICNN_MEL
    for args in (["vggish"], ["musicnn", "--models", "MSD_big"], ["musicnn", "--wheel", str(tmp_path / "x.whl")]):
        with pytest.raises(SystemExit) as e:
            main(["import-pretrained", *args, "--out", str(tmp_path)])
        assert e.value.code == 2
    err = capsys.readouterr().err
    assert "unknown pretrained family" in err and "unknown musicnn model(s) MSD_big" in err and "no such file" in err


def test_an_interrupted_import_leaves_nothing(tmp_path, musicnn_wheel, monkeypatch):
    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        pre.import_musicnn(tmp_path / "out", musicnn_wheel, ["MSD_vgg"])
    assert not (tmp_path / "out" / "MSD_vgg").exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_unknown_model_names(tmp_path):
    with pytest.raises(AudioConceptError, match="unknown musicnn model"):
        pre.import_musicnn(tmp_path, None, ["nope"])
