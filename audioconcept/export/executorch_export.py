"""ExecuTorch: torch.export of the mel body -> to_edge_transform_and_lower (XNNPACK) -> a `.pte` program.

The body takes the mel that the numpy front end computes, so no FFT enters the program (`_fft_r2c` is not a
core ATen op: a `.pte` holding it builds, then fails to load with OperatorMissing). What XNNPACK does not take
runs on ExecuTorch's portable kernels; `lowering_report` says which ops went where, and `missing_kernels` checks,
before anything is written, that the host runtime registers a kernel for every op the program calls.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from audioconcept.errors import ExportError

log = logging.getLogger(__name__)

# A bounded dynamic batch: XNNPACK takes an upper bound on every dynamic axis (it sizes its buffers from it);
# the time axis stays fixed at the model's window. The runtime sends one window at a time on the CPU.
MAX_BATCH = 16


def executorch_available() -> tuple[bool, str]:
    if importlib.util.find_spec("executorch") is None:
        return False, "executorch is not installed: pip install 'audioconcept[executorch]'"
    return True, ""


@dataclass(frozen=True)
class Lowered:
    """A lowered program: the `.pte` bytes and what ran where."""

    buffer: bytes
    report: dict
    payloads: list[bytes] = field(default_factory=list)  # each delegate's processed blob, in plan order


@contextlib.contextmanager
def _quiet_executorch():
    names = ("executorch", "torchao", "torch._export", "torch.export", "")  # "": torchao warns on the root logger
    old = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for n, lvl in old.items():
            logging.getLogger(n).setLevel(lvl)


def xnnpack_partitioner():
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

    return XnnpackPartitioner()


def coreml_partitioner():
    """Core ML delegate: mlprogram for iOS 16 / macOS 13, fp16 compute (what the Neural Engine runs), all units."""
    import coremltools as ct
    from executorch.backends.apple.coreml.compiler import CoreMLBackend
    from executorch.backends.apple.coreml.partition import CoreMLPartitioner

    specs = CoreMLBackend.generate_compile_specs(
        compute_precision=ct.precision.FLOAT16, minimum_deployment_target=ct.target.iOS16
    )
    return CoreMLPartitioner(compile_specs=specs)


def lower(module: torch.nn.Module, example: torch.Tensor, partitioner, max_batch: int = MAX_BATCH) -> Lowered:
    """(B, n_mels, frames) -> outputs, lowered with `partitioner` and a dynamic batch of 1..max_batch (max_batch
    1: a static batch of one)."""
    from executorch.exir import to_edge_transform_and_lower

    if max_batch > 1:
        dynamic = ({0: torch.export.Dim("batch", min=1, max=max_batch)},)
        example = example[:2] if len(example) >= 2 else example.repeat(2, 1, 1)
    else:
        dynamic, example = None, example[:1]
    with _quiet_executorch(), torch.no_grad():
        ep = torch.export.export(module.eval(), (example,), dynamic_shapes=dynamic, strict=False)
        edge = to_edge_transform_and_lower(ep, partitioner=[partitioner])
        report = lowering_report(edge)
        prog = edge.to_executorch()
    program = prog.executorch_program
    plan = program.execution_plan[0]
    report["kernels_called"] = sorted(f"{op.name}.{op.overload}" if op.overload else op.name for op in plan.operators)
    report["delegates"] = sorted({d.id for d in plan.delegates})
    report["batch"] = {"min": 1, "max": max_batch, "dynamic": max_batch > 1}
    payloads = [program.backend_delegate_data[d.processed.index].data for d in plan.delegates]
    return Lowered(prog.buffer, report, payloads)


def lower_xnnpack(module: torch.nn.Module, example: torch.Tensor, max_batch: int = MAX_BATCH) -> Lowered:
    return lower(module, example, xnnpack_partitioner(), max_batch)


def lowering_report(edge) -> dict:
    """{delegated_subgraphs, delegated: {op: n}, portable: {op: n}} of an EdgeProgramManager after lowering."""
    from executorch.devtools.backend_debug import get_delegation_info

    info = get_delegation_info(edge.exported_program().graph_module)
    delegated, portable = Counter(), Counter()
    for op, b in info.delegation_by_operator.items():
        if op == "getitem":  # tuple plumbing, not an op
            continue
        if b.delegated:
            delegated[op] = b.delegated
        if b.non_delegated:
            portable[op] = b.non_delegated
    return {
        "delegated_subgraphs": int(info.num_delegated_subgraphs),
        "delegated_ops": dict(sorted(delegated.items())),
        "portable_ops": dict(sorted(portable.items())),
    }


def missing_kernels(report: dict) -> list[str]:
    """Ops the program calls outside its delegates that this host's ExecuTorch runtime has no kernel for (the
    OperatorMissing trap), and delegates it lacks."""
    from audioconcept.runtime.executorch_backend import registered_backends, registered_kernels

    registered, backends = registered_kernels(), registered_backends()
    return [k for k in report["kernels_called"] if k not in registered] + [
        f"backend {d}" for d in report["delegates"] if d not in backends
    ]


def write_pte(module: torch.nn.Module, example: torch.Tensor, path: Path, max_batch: int = MAX_BATCH) -> dict:
    """Lower, check every kernel is there, write `path`; -> the lowering report."""
    from audioconcept.runtime.executorch_backend import load_method

    lowered = lower_xnnpack(module, example, max_batch)
    if missing := missing_kernels(lowered.report):
        raise ExportError(f"{path.name} would not load: no ExecuTorch kernel for {', '.join(missing)}")
    path.write_bytes(lowered.buffer)
    # the batch the program really takes: its planned input's upper bound (1.5.1 plans max - 1 for Dim(max=...))
    lowered.report["batch"]["max"] = int(load_method(path).method_meta().input_tensor_meta(0).sizes()[0])
    return lowered.report


def write_coreml_pte(module: torch.nn.Module, example: torch.Tensor, path: Path, n_outputs: int) -> dict:
    """model.coreml.pte through ExecuTorch's Core ML delegate; its Core ML model is unpacked and its spec checked
    (inputs, outputs, fp16 compute, deployment target), as the CoreML row checks its package. -> the report.

    Batch 1, static: torch.export gives a dynamic batch the range 2..max, which Core ML would enforce, and the
    Neural Engine runs static shapes."""
    import tempfile

    from executorch.backends.apple.coreml import executorchcoreml

    from audioconcept.export.coreml_export import inspect_spec

    lowered = lower(module, example, coreml_partitioner(), max_batch=1)
    rep = lowered.report
    if rep["delegates"] != ["CoreMLBackend"] or len(lowered.payloads) != 1:
        raise ExportError(f"{path.name}: expected one Core ML delegate, got {rep['delegates']}")
    with tempfile.TemporaryDirectory() as d:
        if not executorchcoreml.unflatten_directory_contents(lowered.payloads[0], d):
            raise ExportError(f"{path.name}: the Core ML delegate's payload does not unpack")
        packages = sorted(Path(d).rglob("*.mlpackage"))
        if not packages:
            raise ExportError(f"{path.name}: no Core ML model inside the delegate")
        spec = {k: v for k, v in inspect_spec(packages[0]).items() if k not in ("metadata", "frontend_fp32")}
    n_mels, frames = (int(v) for v in example.shape[1:])
    (inp,) = spec["inputs"] if len(spec["inputs"]) == 1 else (None,)
    ok = (
        inp is not None
        and inp["shape"] == [1, n_mels, frames]
        and inp["ranges"][:1] in ([], [[1, 1]])
        and len(spec["outputs"]) == n_outputs
        and spec["has_fp16_ops"]
        and spec["spec_version"] >= 7  # iOS 16 / macOS 13
    )
    if not ok:
        raise ExportError(f"{path.name}: Core ML spec check failed: {spec}")
    path.write_bytes(lowered.buffer)
    return {**rep, "coreml_spec": spec}


def run_pte(path: Path, x: np.ndarray, batch: int = 1) -> list[np.ndarray]:
    """The program at `path` on `x` through the host's ExecuTorch C++ runtime, as the backend loads it."""
    from audioconcept.runtime.executorch_backend import load_method

    method = load_method(path)
    outs = []
    for i in range(0, len(x), batch):
        o = method.call([torch.from_numpy(np.ascontiguousarray(x[i : i + batch], dtype=np.float32))])
        outs.append([t.numpy().copy() for t in o])
    return [np.concatenate(parts) for parts in zip(*outs, strict=True)]
