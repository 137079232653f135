"""The executorch row of the formats table: the numpy front end feeds `model.pte` through `executorch.runtime`.

Needs the `executorch` extra. executorch 1.5's Python runtime imports torch (its `_C` extension links
libtorch_python), so this backend loads torch; the rest of
the runtime never imports this module unless `--backend executorch` is asked for. The C++ runtime that runs the
same `.pte` on phones and boards does not need torch (docs/executorch.md).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import numpy as np

from audioconcept.errors import BackendUnavailable, BundleError, MissingExtra
from audioconcept.runtime.bundle import Bundle
from audioconcept.runtime.formats import Format
from audioconcept.runtime.io_check import expected_input
from audioconcept.runtime.outputs import Outputs
from audioconcept.runtime.threads import plan_threads

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def pybindings():
    """executorch's compiled runtime (`executorch.extension.pybindings._C`), or MissingExtra (one line).

    The public `executorch.runtime` re-exports this extension through `portable_lib`, which also imports
    `executorch.exir` (the exporter): 1 800 more modules, about three times the import time of torch alone on this
    host (docs/executorch.md). The extension itself needs only torch loaded first, for libtorch's symbols."""
    try:
        import torch  # noqa: F401  - must load libtorch before the extension
        from executorch.extension.pybindings import _C
    except ImportError:
        raise MissingExtra("executorch", "executorch", "--backend executorch") from None
    return _C


def load_method(path: Path, name: str = "forward"):
    """The program's method, loaded (all its kernels and delegates resolved: OperatorMissing shows here)."""
    c = pybindings()
    program = c._load_program(
        str(path),
        enable_etdump=False,
        debug_buffer_size=0,
        program_verification=c.Verification.InternalConsistency,
        data_path=None,
    )
    return program.load_method(name)


def registered_kernels() -> set[str]:
    """'aten::mean.out', …: the kernels this host's ExecuTorch runtime has."""
    return set(pybindings()._get_operator_names())


def registered_backends() -> set[str]:
    return set(pybindings()._get_registered_backend_names())


def set_threads(n: int) -> None:
    """XNNPACK's thread pool is process-wide in the ExecuTorch runtime."""
    c = pybindings()
    if c._threadpool_get_thread_count() != n:
        c._unsafe_reset_threadpool(n)


class ExecuTorchBackend:
    input_kind = "mel"

    def __init__(self, bundle: Bundle, fmt: Format, device: str = "auto", threads: int = 0) -> None:
        if device != "auto" and device not in fmt.devices:
            raise BackendUnavailable(f"--backend {fmt.backend} runs on {', '.join(fmt.devices)}, not {device}")
        pybindings()
        import torch

        delegate = (bundle.manifest["artifacts"].get(fmt.artifact) or {}).get("delegate")
        if delegate and delegate not in registered_backends():
            raise BackendUnavailable(
                f"--backend {fmt.backend}: this host's ExecuTorch runtime has no {delegate} "
                f"(it has {', '.join(sorted(registered_backends()))})"
            )

        self.torch = torch
        self.name = fmt.backend
        self.artifact = fmt.artifact
        self.device = "cpu"
        self.threads = plan_threads(threads, numpy_frontend=True)
        set_threads(self.threads.intra_op)
        path = bundle.artifact(fmt.artifact)
        try:
            self.method = load_method(path)
        except RuntimeError as e:  # OperatorMissing and friends: the export's gate should have caught it
            raise BackendUnavailable(f"{path}: the ExecuTorch runtime cannot load it ({e})") from None
        # a program's input sizes are its upper bounds: (max batch, n_mels, frames)
        sizes = list(self.method.method_meta().input_tensor_meta(0).sizes())
        want = expected_input(bundle.manifest, "mel")
        if sizes[1:] != want:
            raise BundleError(
                f"{bundle.root}: model.pte takes mels of shape {sizes[1:]}; the manifest describes {want}"
            )
        self.max_batch = max(1, int(sizes[0]))
        self.output_names = [o["name"] for o in bundle.manifest["outputs"]]
        n_out = self.method.method_meta().num_outputs()
        if n_out != len(self.output_names):
            raise BundleError(
                f"{bundle.root}: model.pte has {n_out} outputs; the manifest lists {len(self.output_names)}"
            )

    def _execute(self, x: np.ndarray) -> list[np.ndarray]:
        out = self.method.call([self.torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))])
        return [t.numpy().copy() for t in out]

    def run(self, x: np.ndarray) -> Outputs:
        parts = [self._execute(x[i : i + self.max_batch]) for i in range(0, len(x), self.max_batch)]
        res = dict(zip(self.output_names, [np.concatenate(p) for p in zip(*parts, strict=True)], strict=True))
        return Outputs(
            res["logits"], res["probabilities"], res.get("embedding"), res.get("concepts"), res.get("concept_frames")
        )
