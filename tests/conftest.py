"""Shared fixtures: audio is made here (one real excerpt is committed in tests/fixtures); nothing is downloaded
(except the musicnn wheel, from the cache that `import-pretrained` uses, else pip; the tests that need it skip
with the reason when neither works), and the real clips come from ../shared when it is there."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from filelock import FileLock

from audioconcept import SAMPLE_RATE

SHARED_GTZAN = Path(__file__).resolve().parents[2] / "shared" / "gtzan"
REAL_EXCERPT = Path(__file__).resolve().parent / "fixtures" / "reggae.00006.excerpt.flac"


def built_once(tmp_path_factory, name: str, build: Callable[[Path], Path]) -> Path:
    """A session artifact built once per test run. Under pytest-xdist (`make test` runs two workers) the workers
    share it: the first to ask builds it under a file lock, the others wait for it and read it. `build` gets a
    fresh folder to write into and returns the artifact's path."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's folder, above each worker's own
    root = base / "built-once"
    root.mkdir(exist_ok=True)
    done = root / f"{name}.json"
    with FileLock(str(root / f"{name}.lock")):
        if done.exists():
            return Path(json.loads(done.read_text()))
        out = build(root / name)
        done.write_text(json.dumps(str(out)))
        return out


@pytest.fixture(scope="session")
def shared_clips() -> list[Path]:
    """The 50 real GTZAN clips (15-20 s) in ../shared; skips when they are absent."""
    clips = sorted((SHARED_GTZAN / "clips").glob("*/*.flac"))
    if not clips:
        pytest.skip("../shared/gtzan/clips not present")
    return clips


@pytest.fixture(scope="session")
def real_excerpt() -> Path:
    """12 s of a real GTZAN recording, committed under tests/fixtures (research and testing only)."""
    return REAL_EXCERPT


SHARED_CLIPS = SHARED_GTZAN / "clips"
MUSICNN_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "musicnn_reference.npz"


def tone(seconds: float, freq: float = 440.0, sr: int = SAMPLE_RATE, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture
def wav_file(tmp_path):
    def make(
        seconds: float = 2.0,
        sr: int = SAMPLE_RATE,
        channels: int = 1,
        name: str = "a.wav",
        subtype: str | None = None,
        freq: float = 440.0,
    ):
        x = tone(seconds, freq, sr)
        if channels > 1:
            x = np.stack([x] * channels, axis=1)
        p = tmp_path / name
        sf.write(p, x, sr, subtype=subtype)
        return p

    return make


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory):
    """10 genres x 6 clips x 30 s of synthetic music, GTZAN layout, with ground truth."""
    from audioconcept.data.synth.generate import SynthConfig, generate_genres

    def build(root: Path) -> Path:
        generate_genres(SynthConfig(root, clips_per_genre=6, seconds=30.0, seed=3, workers=2))
        return root

    return built_once(tmp_path_factory, "synth", build)


def _checkpoint(root, tiny_synth, arch: str, **arch_config):
    import torch

    from audioconcept.models.checkpoint import CheckpointConfig, save_torch_checkpoint
    from audioconcept.models.classifier import AudioClassifier
    from audioconcept.models.registry import build_body, get_spec

    torch.manual_seed(0)
    from audioconcept import GTZAN_GENRES

    model = AudioClassifier(build_body(arch, 10, **arch_config)).eval()
    spec = get_spec(arch)
    cfg = CheckpointConfig(
        arch=arch,
        labels=list(GTZAN_GENRES),
        window_s=spec.window_s,
        eval_chunks=spec.eval_chunks,
        arch_config=arch_config,
        trained_on=f"synth:{tiny_synth}",
    )
    return save_torch_checkpoint(root, model, cfg)


@pytest.fixture(scope="session")
def cnn_checkpoint(tmp_path_factory, tiny_synth):
    """An untrained CNN checkpoint whose 'training data' is the tiny synthetic set."""
    return built_once(tmp_path_factory, "cnn-checkpoint", lambda d: _checkpoint(d / "cnn", tiny_synth, "cnn"))


@pytest.fixture(scope="session")
def cnn_bundle(tmp_path_factory, cnn_checkpoint):
    from audioconcept.export.exporter import ExportConfig, export_checkpoint

    return built_once(
        tmp_path_factory,
        "cnn-bundle",
        lambda d: export_checkpoint(ExportConfig(cnn_checkpoint, d / "cnn", ("onnx", "torchscript", "pt2"))),
    )


@pytest.fixture(scope="session")
def svm_features_csv(tmp_path_factory):
    """A small features table (3 genres x 30 rows) in the Kaggle GTZAN layout."""
    from audioconcept.data.features_csv import FEATURE_NAMES

    root = tmp_path_factory.mktemp("svmcsv")
    rng = np.random.default_rng(0)
    labels = ["blues", "classical", "metal"]
    rows = []
    centre = rng.normal(0, 1, (3, 57))
    for i in range(90):
        k = i % 3
        rows.append([f"{labels[k]}.{i:05d}.wav", "661794", *(centre[k] + 0.6 * rng.standard_normal(57)), labels[k]])
    csv = root / "features.csv"
    csv.write_text(
        ";".join(["filename", "length", *FEATURE_NAMES, "label"])
        + "\n"
        + "\n".join(";".join(map(str, r)) for r in rows)
        + "\n"
    )
    return csv


@pytest.fixture(scope="session")
def svm_bundle(tmp_path_factory, svm_features_csv):
    """An SVM trained on the small features table, exported through skl2onnx."""
    from audioconcept.export.exporter import ExportConfig, export_checkpoint
    from audioconcept.train.svm_train import train_svm

    def build(root: Path) -> Path:
        ck, _ = train_svm(f"features-csv:{svm_features_csv}", root / "ck", grid=False)
        return export_checkpoint(ExportConfig(ck, root / "bundle"))

    return built_once(tmp_path_factory, "svm-bundle", build)


# ---------------------------------------------------------------- musicnn and real music
@pytest.fixture(scope="session")
def musicnn_wheel() -> Path:
    from audioconcept.errors import AudioConceptError
    from audioconcept.models.pretrained import find_wheel

    try:
        return find_wheel()
    except AudioConceptError as e:
        pytest.skip(f"the musicnn 0.1.0 wheel is not available: {e}")


@pytest.fixture(scope="session")
def musicnn_checkpoints(tmp_path_factory, musicnn_wheel) -> Path:
    """MSD_musicnn, MTT_musicnn, MSD_vgg, MTT_vgg and MSD_MTT_musicnn, converted (about 3 s)."""
    from audioconcept.models.pretrained import import_musicnn

    def build(root: Path) -> Path:
        import_musicnn(root, musicnn_wheel)
        return root

    return built_once(tmp_path_factory, "pretrained", build)


@pytest.fixture(scope="session")
def musicnn_reference():
    """musicnn's own TensorFlow tags on three real clips (tools/musicnn_reference)."""
    return np.load(MUSICNN_FIXTURE)


@pytest.fixture(scope="session")
def shared_clips_dir() -> Path:
    """The folder of the real GTZAN clips in ../shared (`shared_clips` is the list of them)."""
    if not SHARED_CLIPS.is_dir():
        pytest.skip("../shared/gtzan/clips is not present (the real GTZAN clips these tests use)")
    return SHARED_CLIPS


@pytest.fixture(scope="session")
def real_probe(tmp_path_factory, musicnn_checkpoints, shared_clips_dir) -> Path:
    """`train probe` on the 50 shared clips (one window per clip, to keep the suite quick): MSD+MTT musicnn tags
    and the genre heads."""
    from audioconcept.train.probe import ProbeTrainConfig, train_probe

    def build(root: Path) -> Path:
        cfg = ProbeTrainConfig(
            str(musicnn_checkpoints / "MSD_MTT_musicnn"),
            f"folder:{shared_clips_dir}",
            root / "musicnn-gtzan",
            max_windows=1,
            cv_repeats=3,
        )
        return train_probe(cfg)[0]

    return built_once(tmp_path_factory, "probe", build)


@pytest.fixture(scope="session")
def real_probe_bundle(tmp_path_factory, real_probe, shared_clips_dir) -> Path:
    """The probe exported through the ONNX, TorchScript and pt2 rows, each through the parity gate on real clips."""
    from audioconcept.export.exporter import ExportConfig, export_checkpoint

    cfg = partial(ExportConfig, real_probe, formats=("onnx", "torchscript", "pt2"), data=f"folder:{shared_clips_dir}")
    return built_once(
        tmp_path_factory, "probe-bundle", lambda d: export_checkpoint(cfg(out=d / "musicnn-gtzan", n_parity=8))
    )


# ---------------------------------------------------------------- ExecuTorch
@pytest.fixture(scope="session")
def executorch_installed() -> None:
    """Skips where the `executorch` extra is missing (its wheels are built against torch 2.13: see pyproject)."""
    from audioconcept.export.executorch_export import executorch_available

    ok, why = executorch_available()
    if not ok:
        pytest.skip(why)


@pytest.fixture(scope="session")
def cnn_pte_bundle(tmp_path_factory, cnn_checkpoint, executorch_installed) -> Path:
    """The small untrained CNN through the ONNX and ExecuTorch rows, each through its parity gate."""
    from audioconcept.export.exporter import ExportConfig, export_checkpoint

    return built_once(
        tmp_path_factory,
        "cnn-pte-bundle",
        lambda d: export_checkpoint(ExportConfig(cnn_checkpoint, d / "cnn-pte", ("onnx", "executorch"), n_parity=4)),
    )


@pytest.fixture(scope="session")
def real_probe_pte_bundle(tmp_path_factory, real_probe, shared_clips_dir, executorch_installed) -> Path:
    """The musicnn probe through the ExecuTorch row, its gate on real clips, concept outputs included."""
    from audioconcept.export.exporter import ExportConfig, export_checkpoint

    cfg = partial(ExportConfig, real_probe, formats=("executorch",), data=f"folder:{shared_clips_dir}", n_parity=8)
    return built_once(
        tmp_path_factory, "probe-pte-bundle", lambda d: export_checkpoint(cfg(out=d / "musicnn-gtzan-pte"))
    )
