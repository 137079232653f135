"""Import the pretrained musicnn models (MSD/MTT x musicnn/VGG) from the `musicnn` 0.1.0 wheel.

The wheel is never installed (it pins TensorFlow and numpy<1.17): its TensorFlow checkpoints are read
straight out of the zip with our own tensor-bundle reader, the kernels are transposed into our
PyTorch modules, and each model is written as one of our checkpoints (config.json + model.pt). A
fifth checkpoint, MSD_MTT_musicnn, runs both musicnn models on one mel (100 tags).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audioconcept.errors import AudioConceptError, CheckpointError
from audioconcept.models.musicnn_tags import SOURCES, tag_info
from audioconcept.models.tf_checkpoint import data_shard_name, read_bundle
from audioconcept.utils import atomic_dir, cache_root, sha256_file

log = logging.getLogger(__name__)

WHEEL_NAME = "musicnn-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa"  # as on PyPI
PIP_REQUIREMENT = "musicnn==0.1.0"
UPSTREAM = "https://github.com/jordipons/musicnn"
LICENCE = (
    "musicnn weights: Copyright (c) Music Technology Group, Universitat Pompeu Fabra 2019. Code developed by "
    "Jordi Pons (www.jordipons.me). Permission to use, copy, modify, and/or distribute this software for any "
    "purpose with or without fee is hereby granted, provided that the above copyright notice and this permission "
    'notice appear in all copies. THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES WITH '
    "REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL "
    "THE AUTHOR BE LIABLE FOR ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES WHATSOEVER "
    "RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS "
    "ACTION, ARISING OUT OF OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE. (ISC licence)"
)
CITATION = (
    "Pons and Serra, musicnn: pre-trained convolutional neural networks for music audio tagging, "
    "ISMIR 2019 late-breaking demo"
)
DATASETS = {
    "MSD": "Million Song Dataset audio with the 50 most frequent Last.fm tags",
    "MTT": "MagnaTagATune, the 50 most frequent tags",
}


@dataclass(frozen=True)
class PretrainedModel:
    name: str  # folder name in the wheel and of our checkpoint
    arch: str  # our registry name
    source: str  # "MSD" or "MTT": the tag vocabulary
    roc_auc: float  # as the wheel's experiment.result reports (test set)
    pr_auc: float


MODELS: dict[str, PretrainedModel] = {
    m.name: m
    for m in (
        PretrainedModel("MSD_musicnn", "musicnn", "MSD", 0.8801927178090048, 0.28906431196994925),
        PretrainedModel("MTT_musicnn", "musicnn", "MTT", 0.9066769123674747, 0.38310571748763617),
        PretrainedModel("MSD_vgg", "musicnn-vgg", "MSD", 0.8767615259520635, 0.28192480359001065),
        PretrainedModel("MTT_vgg", "musicnn-vgg", "MTT", 0.9030268990308291, 0.382267685217377),
    )
}
ENSEMBLE = "MSD_MTT_musicnn"  # MSD_musicnn and MTT_musicnn on one mel, 100 tags
ENSEMBLE_MEMBERS = ("MSD_musicnn", "MTT_musicnn")


# ---------------------------------------------------------------- the wheel
def check_wheel(wheel: Path) -> str:
    """-> its sha256; raises unless it is the musicnn 0.1.0 wheel."""
    if not wheel.is_file():
        raise CheckpointError(f"{wheel}: no such file")
    digest = sha256_file(wheel)
    if digest != WHEEL_SHA256:
        want = WHEEL_SHA256[:12]
        raise CheckpointError(f"{wheel}: not the {WHEEL_NAME} from PyPI (sha256 {digest[:12]}…, want {want}…)")
    return digest


def download_wheel(dest: Path, timeout_s: float = 300.0) -> Path:
    """`pip download musicnn==0.1.0 --no-deps` into `dest` (the wheel is never installed); the file
    appears there in one rename, so an interrupted download leaves nothing behind."""
    dest.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s with pip into %s", PIP_REQUIREMENT, dest)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".download-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", PIP_REQUIREMENT, "--no-deps", "--only-binary=:all:"]
        try:
            r = subprocess.run([*cmd, "-d", tmp], capture_output=True, text=True, timeout=timeout_s)
        except (OSError, subprocess.TimeoutExpired) as e:
            why = type(e).__name__
            raise AudioConceptError(f"pip download {PIP_REQUIREMENT} failed ({why}); pass --wheel PATH") from None
        got = Path(tmp) / WHEEL_NAME
        if r.returncode != 0 or not got.is_file():
            lines = [ln for ln in (r.stderr or r.stdout).splitlines() if ln.strip() and not ln.startswith("WARNING")]
            why = lines[-1].strip() if lines else f"exit code {r.returncode}"
            raise AudioConceptError(f"pip download {PIP_REQUIREMENT} failed ({why}); pass --wheel PATH")
        os.replace(got, dest / WHEEL_NAME)
    return dest / WHEEL_NAME


def find_wheel(wheel: Path | None = None, download: bool = True) -> Path:
    """The given wheel, else the cached one (AUDIOCONCEPT_CACHE or ~/.cache/audioconcept, under
    wheels/), else a fresh `pip download` into that cache. Always checked against the PyPI sha256."""
    if wheel is not None:
        check_wheel(Path(wheel))
        return Path(wheel)
    cached = cache_root() / "wheels" / WHEEL_NAME
    if cached.is_file():
        try:
            check_wheel(cached)
            return cached
        except CheckpointError:
            log.warning("%s: corrupt cached wheel, fetching it again", cached)
            cached.unlink()
    if not download:
        raise CheckpointError(f"{cached}: not downloaded yet; run `audioconcept import-pretrained musicnn`")
    download_wheel(cached.parent)
    check_wheel(cached)
    return cached


def read_wheel_checkpoint(wheel: Path, name: str) -> dict[str, np.ndarray]:
    """The weights (optimiser slots left out) of musicnn/<name>/ in the wheel, read from the zip."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            folder = f"musicnn/{name}/"
            try:
                index = zf.read(folder + ".index")
            except KeyError:
                raise CheckpointError(f"{wheel}: no {folder}.index inside; not the musicnn wheel") from None

            def shard(k: int, n: int) -> bytes:
                try:
                    return zf.read(folder + data_shard_name(k, n))
                except KeyError:
                    raise CheckpointError(f"{wheel}: {folder}{data_shard_name(k, n)} is missing") from None

            return read_bundle(index, shard, f"{wheel.name}:{folder}")
    except (zipfile.BadZipFile, OSError) as e:
        raise CheckpointError(f"{wheel}: not a readable wheel ({e})") from None


# ---------------------------------------------------------------- TensorFlow -> PyTorch
class _Weights:
    """Pops TensorFlow arrays by name into a state_dict, checking every shape."""

    def __init__(self, tf: dict[str, np.ndarray], model: str) -> None:
        self.tf = dict(tf)
        self.model = model
        self.state: dict[str, np.ndarray] = {}

    def take(self, name: str) -> np.ndarray:
        try:
            return self.tf.pop(name)
        except KeyError:
            raise CheckpointError(f"{self.model}: the checkpoint has no {name!r}") from None

    def conv(self, tf_name: str, ours: str, axes: tuple[int, int, int, int]) -> None:
        self.state[f"{ours}.weight"] = np.ascontiguousarray(self.take(f"{tf_name}/kernel").transpose(axes))
        self.state[f"{ours}.bias"] = self.take(f"{tf_name}/bias")

    def dense(self, tf_name: str, ours: str) -> None:
        self.state[f"{ours}.weight"] = np.ascontiguousarray(self.take(f"{tf_name}/kernel").T)
        self.state[f"{ours}.bias"] = self.take(f"{tf_name}/bias")

    def batch_norm(self, k: int, ours: str) -> None:
        tf_name = "batch_normalization" + (f"_{k}" if k else "")
        self.state[f"{ours}.weight"] = self.take(f"{tf_name}/gamma")
        self.state[f"{ours}.bias"] = self.take(f"{tf_name}/beta")
        self.state[f"{ours}.running_mean"] = self.take(f"{tf_name}/moving_mean")
        self.state[f"{ours}.running_var"] = self.take(f"{tf_name}/moving_variance")
        self.state[f"{ours}.num_batches_tracked"] = np.array(0, dtype=np.int64)

    def finish(self) -> dict[str, np.ndarray]:
        left = sorted(k for k in self.tf if k != "global_step")
        if left:
            raise CheckpointError(f"{self.model}: unexpected tensors in the checkpoint: {', '.join(left[:5])}")
        return self.state


# TensorFlow kernels are (time, freq, in, out) for the frequency-spanning front-end filters and the
# VGG convs -> ours (out, in, freq, time); the mid-end's are (time, channels, 1, out) -> (out, channels, 1, time)
FRONT_AXES = (3, 2, 1, 0)
MIDEND_AXES = (3, 1, 2, 0)
MUSICNN_CONVS = ("timbral_38", "timbral_67", "temporal_128", "temporal_64", "temporal_32")


def musicnn_state(tf: dict[str, np.ndarray], model: str = "musicnn") -> dict[str, np.ndarray]:
    """state_dict of audioconcept.models.musicnn.Musicnn from the TensorFlow variables (which
    tf.compat.v1.layers numbered in the order that build_musicnn creates them)."""
    w = _Weights(tf, model)
    w.batch_norm(0, "input_bn")
    for i, block in enumerate(MUSICNN_CONVS):
        w.conv("conv2d" + (f"_{i}" if i else ""), f"{block}.conv", FRONT_AXES)
        w.batch_norm(i + 1, f"{block}.bn")
    for j in range(3):
        w.conv(f"conv2d_{5 + j}", f"midend{j + 1}.conv", MIDEND_AXES)
        w.batch_norm(6 + j, f"midend{j + 1}.bn")
    w.batch_norm(9, "pool_bn")
    w.dense("dense", "dense")
    w.batch_norm(10, "dense_bn")
    w.dense("dense_1", "out")
    return w.finish()


def vgg_state(tf: dict[str, np.ndarray], model: str = "vgg") -> dict[str, np.ndarray]:
    """state_dict of audioconcept.models.musicnn.MusicnnVGG (convs named 1CNN..5CNN upstream)."""
    w = _Weights(tf, model)
    w.batch_norm(0, "input_bn")
    for i in range(5):
        w.conv(f"{i + 1}CNN", f"convs.{i}", FRONT_AXES)
        w.batch_norm(i + 1, f"bns.{i}")
    w.dense("dense", "out")
    return w.finish()


def build_pretrained(name: str, tf: dict[str, np.ndarray]):
    """-> our body (eval mode) with the weights of the wheel's model `name`."""
    import torch

    from audioconcept.models.registry import build_body

    spec = MODELS[name]
    body = build_body(spec.arch, len(SOURCES[spec.source]))
    state = musicnn_state(tf, name) if spec.arch == "musicnn" else vgg_state(tf, name)
    try:
        body.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    except RuntimeError as e:
        raise CheckpointError(f"{name}: weights do not fit {spec.arch} ({str(e).splitlines()[0]})") from None
    return body.eval()


# ---------------------------------------------------------------- our checkpoints
def _source(name: str, wheel_sha256: str, members: Sequence[str] = ()) -> dict:
    return {
        "package": PIP_REQUIREMENT,
        "wheel": WHEEL_NAME,
        "wheel_sha256": wheel_sha256,
        "model": name,
        "members": list(members),
        "upstream": UPSTREAM,
        "citation": CITATION,
        "licence": "ISC",
        "licence_notice": LICENCE,
        "converted_by": "audioconcept import-pretrained musicnn (no TensorFlow)",
    }


def _write(out: Path, body, **config) -> Path:
    """Our checkpoint of `body` in one rename (config: CheckpointConfig fields besides the window and mel)."""
    from audioconcept.models.checkpoint import CheckpointConfig, save_torch_checkpoint
    from audioconcept.models.classifier import AudioClassifier
    from audioconcept.models.musicnn import MUSICNN_MEL
    from audioconcept.models.registry import get_spec

    spec = get_spec(config["arch"])
    cfg = CheckpointConfig(window_s=spec.window_s, eval_chunks=spec.eval_chunks, mel=MUSICNN_MEL.to_dict(), **config)
    with atomic_dir(out) as tmp:
        save_torch_checkpoint(tmp, AudioClassifier(body, MUSICNN_MEL), cfg)
    return out


def import_musicnn(
    out_root: Path, wheel: Path | None = None, names: Sequence[str] | None = None, ensemble: bool = True
) -> list[Path]:
    """Write our checkpoints of the wheel's models under out_root/<name>; -> their folders."""
    from audioconcept.models.musicnn import TagEnsemble

    names = list(names or MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise AudioConceptError(f"unknown musicnn model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    wheel = find_wheel(wheel)
    digest = WHEEL_SHA256  # find_wheel checked it
    bodies = {}
    written: list[Path] = []
    for name in names:
        spec = MODELS[name]
        body = build_pretrained(name, read_wheel_checkpoint(wheel, name))
        bodies[name] = body
        infos = tag_info(spec.source)
        written.append(
            _write(
                out_root / name,
                body,
                arch=spec.arch,
                labels=[t.tag for t in infos],
                label_info=[t.to_dict() for t in infos],
                trained_on=DATASETS[spec.source],
                metrics={"upstream_test_roc_auc": spec.roc_auc, "upstream_test_pr_auc": spec.pr_auc},
                source=_source(name, digest),
            )
        )
        log.info("%s -> %s", name, out_root / name)
    if ensemble and all(m in bodies for m in ENSEMBLE_MEMBERS):
        specs = [MODELS[m] for m in ENSEMBLE_MEMBERS]
        infos = [t for s in specs for t in tag_info(s.source)]
        members = {s.source: {"arch": s.arch, "n_classes": len(SOURCES[s.source])} for s in specs}
        metrics = {}
        for s in specs:
            metrics |= {f"{s.source}.upstream_test_roc_auc": s.roc_auc, f"{s.source}.upstream_test_pr_auc": s.pr_auc}
        written.append(
            _write(
                out_root / ENSEMBLE,
                TagEnsemble({s.source: bodies[s.name] for s in specs}),
                arch="musicnn-ensemble",
                labels=[t.label for t in infos],
                label_info=[t.to_dict() for t in infos],
                arch_config={"members": members},
                trained_on=" + ".join(DATASETS[s.source] for s in specs),
                metrics=metrics,
                source=_source(ENSEMBLE, digest, ENSEMBLE_MEMBERS),
            )
        )
        log.info("%s -> %s", ENSEMBLE, out_root / ENSEMBLE)
    return written
