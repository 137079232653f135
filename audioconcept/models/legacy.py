"""Import the original AudioConcept checkpoints on any machine, safely.

The original project saved `best_{model}_model.pkl` with `pickle.dump(model)`: whole modules
(`AudioConcept.models.model_cnn.CNN`, holding torchaudio `MelSpectrogram`/`AmplitudeToDB`),
with tensor storages tagged `mps`. Such a file only opens on an ARM Mac with the original
code and torchaudio. Here a restricted unpickler rebuilds every module as an inert stub,
every storage on the CPU, and refuses any global that is not on the allowlist, so nothing
in the file is executed. Parameters are then matched onto this project's architecture.
"""

from __future__ import annotations

import collections
import io
import logging
import pickle
from pathlib import Path
from typing import Any

from audioconcept import GTZAN_GENRES
from audioconcept.errors import CheckpointError, UnsafePickleError
from audioconcept.models.safe_pickle import is_trusted, resolve_trusted

log = logging.getLogger(__name__)

# Classes whose instances become inert stubs (their pickled __dict__ is kept, nothing runs).
STUB_MODULE_PREFIXES = (
    "AudioConcept.models.",
    "audioconcept.models.",
    "models.",
    "torchaudio.transforms.",
    "torch.nn.modules.",
)
FRONT_END_CLASSES = {"MelSpectrogram", "AmplitudeToDB", "Spectrogram", "MelScale"}

NUMPY_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.dtypes", "Float64DType"),
    ("numpy.dtypes", "Int32DType"),
    ("numpy.dtypes", "Int64DType"),
    ("numpy.dtypes", "StrDType"),
    ("numpy.dtypes", "ObjectDType"),
    ("numpy.random._pickle", "__randomstate_ctor"),
    ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random._pickle", "__generator_ctor"),
}


class StubModule:
    """Stand-in for a pickled nn.Module (or torchaudio transform): only holds its state."""

    qualname = "?"

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


def _stub_class(module: str, name: str) -> type:
    return type(name, (StubModule,), {"qualname": f"{module}.{name}"})


def _load_storage_bytes(b: bytes):
    """Replacement for torch.storage._load_from_bytes: weights-only load onto the CPU."""
    import torch

    try:
        return torch.load(io.BytesIO(b), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise UnsafePickleError(f"refused a storage record: {str(e).splitlines()[0]}") from None


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    import torch

    t = torch.empty((0,), dtype=storage.dtype)
    t.set_(storage._untyped_storage if hasattr(storage, "_untyped_storage") else storage, storage_offset, size, stride)
    return t


def _rebuild_parameter(data, requires_grad=True, backward_hooks=None, *args):
    return data


class RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, f, allow_sklearn: bool = False) -> None:
        super().__init__(f)
        self.allow_sklearn = allow_sklearn

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) in {
            ("builtins", "set"),
            ("builtins", "frozenset"),
            ("builtins", "object"),
            ("copyreg", "_reconstructor"),
            ("builtins", "slice"),
        }:
            return {"set": set, "frozenset": frozenset, "object": object, "slice": slice}.get(
                name, __import__("copyreg")._reconstructor
            )
        if module == "torch.storage" and name == "_load_from_bytes":
            return _load_storage_bytes
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in ("device", "Size", "float32", "float16", "int64"):
            import torch

            return getattr(torch, name)
        if module == "torch" and name.endswith("_window"):
            return name  # a window function kept as an attribute: keep its name only
        if module.startswith(STUB_MODULE_PREFIXES) and name[:1].isupper():
            return _stub_class(module, name)
        if (module, name) in NUMPY_ALLOWED:
            mod = __import__(module, fromlist=[name])
            return getattr(mod, name)
        if self.allow_sklearn and is_trusted(module, name):  # the one table SVM checkpoints load through
            return resolve_trusted(module, name)
        raise UnsafePickleError(f"refused to load: the file references {module}.{name}, which is not allowlisted")


def restricted_load(path: Path, allow_sklearn: bool = False) -> Any:
    try:
        with open(path, "rb") as f:
            return RestrictedUnpickler(f, allow_sklearn).load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable pickle ({type(e).__name__}: {e})") from None


def _stub_tensors(obj: StubModule, prefix: str = "") -> list[tuple[str, Any, str]]:
    """(name, tensor, owning class) in registration order: parameters, then buffers, then children."""
    out = []
    d = obj.__dict__
    cls = type(obj).__name__
    for kind in ("_parameters", "_buffers"):
        for k, v in (d.get(kind) or {}).items():
            if v is not None:
                out.append((prefix + k, v, cls))
    for k, child in (d.get("_modules") or {}).items():
        if isinstance(child, StubModule):
            out.extend(_stub_tensors(child, prefix + k + "."))
    return out


def _front_end_prefixes(obj: StubModule, prefix: str = "") -> list[str]:
    out = []
    for k, child in (obj.__dict__.get("_modules") or {}).items():
        if isinstance(child, StubModule):
            if type(child).__name__ in FRONT_END_CLASSES:
                out.append(prefix + k + ".")
            else:
                out.extend(_front_end_prefixes(child, prefix + k + "."))
    return out


def match_state_dict(source: list[tuple[str, Any]], target: dict[str, Any], arch: str) -> dict[str, Any]:
    """Map source tensors onto the target's keys in order, checking every shape."""
    src = [(k, v) for k, v in source if not k.endswith("num_batches_tracked")]
    tgt = [k for k in target if not k.endswith("num_batches_tracked")]
    if len(src) != len(tgt):
        raise CheckpointError(f"the file holds {len(src)} tensors but {arch} expects {len(tgt)}: wrong --arch?")
    out = {}
    for (sk, sv), tk in zip(src, tgt, strict=True):
        if tuple(sv.shape) != tuple(target[tk].shape):
            raise CheckpointError(f"tensor {sk} {tuple(sv.shape)} does not fit {arch}.{tk} {tuple(target[tk].shape)}")
        out[tk] = sv.detach().clone().float() if sv.is_floating_point() else sv.detach().clone()
    for k, v in target.items():
        if k.endswith("num_batches_tracked"):
            out[k] = v
    return out


def _torch_source(path: Path) -> tuple[list[tuple[str, Any]], dict]:
    """Tensors from a whole-module pickle or from a state_dict saved with torch.save on any device."""
    import torch

    info: dict = {}
    try:  # a torch.save file (zip or legacy), e.g. a state_dict saved on MPS or CUDA
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        if isinstance(state, dict) and all(hasattr(v, "shape") for v in state.values()):
            items = [(k.removeprefix("module."), v) for k, v in state.items()]
            front = ("spec.", "to_db.", "melspec.", "mel.", "frontend.", "amplitude_to_db.")
            info["format"] = "state_dict"
            return [(k, v) for k, v in items if not k.startswith(front)], info
    except pickle.UnpicklingError as e:
        if "weights_only" in str(e) or "Unsupported global" in str(e):
            pass  # a whole-module pickle: handled below
        else:
            raise CheckpointError(f"{path}: {str(e).splitlines()[0]}") from None
    except RuntimeError:
        pass  # plain pickle.dump output, not a torch.save file
    obj = restricted_load(path)
    if not isinstance(obj, StubModule):
        raise CheckpointError(f"{path}: expected a pickled model, found {type(obj).__name__}")
    front = _front_end_prefixes(obj)
    tensors = [(k, v) for k, v, _ in _stub_tensors(obj) if not any(k.startswith(p) for p in front)]
    info.update({"format": "pickled module", "class": type(obj).qualname, "front_end": front})
    return tensors, info


def import_checkpoint(file: str | Path, arch: str, out: str | Path, labels: list[str] | None = None) -> Path:
    from audioconcept.models.checkpoint import CheckpointConfig, save_svm_checkpoint, save_torch_checkpoint
    from audioconcept.models.classifier import AudioClassifier
    from audioconcept.models.registry import build_body, get_spec

    file = Path(file)
    if not file.exists():
        raise CheckpointError(f"{file}: no such file")
    labels = list(labels or GTZAN_GENRES)
    spec = get_spec(arch)
    if arch == "svm":
        pipe = _svm_from_pickle(file)
        labels = [str(c) for c in pipe.classes_] if hasattr(pipe, "classes_") else labels
        cfg = CheckpointConfig(
            arch="svm",
            labels=labels,
            window_s=spec.window_s,
            arch_config={"label_rule": "argmax(probabilities)"},
            trained_on=f"imported from {file.name}",
        )
        return save_svm_checkpoint(out, pipe, cfg)
    tensors, info = _torch_source(file)
    arch_config: dict = {}
    if arch == "vggish":
        arch_config["width"] = _infer_vggish_width(tensors)
    body = build_body(arch, len(labels), **arch_config)
    state = match_state_dict(tensors, body.state_dict(), arch)
    body.load_state_dict(state)
    model = AudioClassifier(body)
    cfg = CheckpointConfig(
        arch=arch,
        labels=labels,
        window_s=spec.window_s,
        eval_chunks=spec.eval_chunks,
        arch_config=arch_config,
        trained_on=f"imported from {file.name} ({info.get('format')})",
    )
    log.info("imported %d tensors from %s (%s)", len(state), file, info.get("class", info.get("format")))
    return save_torch_checkpoint(out, model, cfg)


def _is_joblib(path: Path) -> bool:
    with open(path, "rb") as f:
        return b"joblib.numpy_pickle" in f.read(1 << 16)


def _infer_vggish_width(tensors: list[tuple[str, Any]]) -> float:
    convs = [v for _, v in tensors if v.ndim == 4]
    return 1.0 if not convs else convs[0].shape[0] / 64


def _svm_from_pickle(path: Path):
    from sklearn.pipeline import Pipeline

    from audioconcept.models import safe_pickle

    # a plain pickle, or a joblib file (an SVM checkpoint from before the safe format): both read
    # through the allowlist in safe_pickle.TRUSTED_TYPES
    obj = safe_pickle.load_joblib(path) if _is_joblib(path) else restricted_load(path, allow_sklearn=True)
    if isinstance(obj, Pipeline):
        pipe = obj
    else:
        parts = list(obj.values()) if isinstance(obj, dict) else list(obj) if isinstance(obj, (list, tuple)) else [obj]
        scaler = next((p for p in parts if type(p).__name__ == "StandardScaler"), None)
        svc = next((p for p in parts if type(p).__name__ == "SVC"), None)
        if svc is None:
            raise CheckpointError(f"{path}: no SVC found in the pickle")
        steps = ([("scaler", scaler)] if scaler is not None else []) + [("svc", svc)]
        pipe = Pipeline(steps)
    if not hasattr(pipe, "predict_proba"):  # an SVC without probability=True has none
        raise CheckpointError(f"{path}: the classifier gives no probabilities (an SVC needs probability=True)")
    return pipe
