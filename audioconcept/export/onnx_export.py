"""ONNX: torch.onnx.export(dynamo=True), opset 18, weights inside the file, dynamic batch."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch

log = logging.getLogger(__name__)
OPSET = 18


def write_onnx(
    module: torch.nn.Module,
    example: torch.Tensor,
    path: Path,
    input_name: str,
    output_names: list[str],
    metadata: dict | None = None,
) -> Path:
    """Export with a dynamic batch axis (the time axis is fixed at the model's window)."""
    import onnx

    module = module.eval()
    batch = torch.export.Dim("batch", min=1, max=1024)
    with warnings.catch_warnings(), torch.no_grad(), _torchlib_registry_reused():
        warnings.simplefilter("ignore")
        prog = torch.onnx.export(
            module,
            (example,),
            None,
            dynamo=True,
            opset_version=OPSET,
            external_data=False,
            input_names=[input_name],
            output_names=output_names,
            dynamic_shapes=({0: batch},),
            optimize=True,
            verbose=False,
        )
    model = prog.model_proto
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    if metadata:
        set_metadata(model, metadata)
    onnx.checker.check_model(model)
    buf = io.BytesIO(model.SerializeToString())
    path.write_bytes(buf.getvalue())
    return path


_REGISTRIES: dict = {}  # (registry class, opset) -> torch.onnx's registry of torchlib functions, built once per process


@contextlib.contextmanager
def _torchlib_registry_reused() -> Iterator[None]:
    """torch.onnx.export rebuilds its registry of ONNX functions from torchlib on every call (about 2000
    onnxscript functions: seconds each time), and one bundle writes up to six graphs. Inside our exports (which
    never pass a custom translation table, the only thing that changes a registry) the registry is built once
    per opset and reused; outside them torch's own method is back. Where torch's internals differ, nothing is
    patched."""
    try:
        from torch.onnx._internal.exporter import _registration
    except ImportError:
        yield
        return
    cls = _registration.ONNXRegistry
    original = cls.__dict__.get("from_torchlib")
    if not isinstance(original, classmethod):
        yield
        return

    def from_torchlib(klass, opset_version=None):
        args = () if opset_version is None else (opset_version,)
        key = (klass, opset_version)
        if key not in _REGISTRIES:
            _REGISTRIES[key] = original.__func__(klass, *args)
        return _REGISTRIES[key]

    cls.from_torchlib = classmethod(from_torchlib)
    try:
        yield
    finally:
        cls.from_torchlib = original


def set_metadata(model, metadata: dict) -> None:
    del model.metadata_props[:]
    for k, v in metadata.items():
        entry = model.metadata_props.add()
        entry.key = k
        entry.value = v if isinstance(v, str) else json.dumps(v)


def merge_frontend(front_path: Path, body_path: Path, out: Path, metadata: dict | None = None) -> Path:
    """One waveform-in graph from the front-end graph (mel out) and a body graph (mel in)."""
    import onnx
    from onnx import compose

    front = onnx.load(str(front_path))
    body = onnx.load(str(body_path))
    if front.opset_import[0].version != body.opset_import[0].version:
        body = onnx.version_converter.convert_version(body, front.opset_import[0].version)
    front = compose.add_prefix(front, prefix="frontend/")
    body = compose.add_prefix(body, prefix="body/")
    merged = compose.merge_models(front, body, io_map=[(front.graph.output[0].name, body.graph.input[0].name)])
    # stable public names
    _rename_io(
        merged,
        {
            "frontend/waveform": "waveform",
            **{f"body/{o.name.removeprefix('body/')}": o.name.removeprefix("body/") for o in merged.graph.output},
        },
    )
    if metadata:
        set_metadata(merged, metadata)
    onnx.checker.check_model(merged)
    out.write_bytes(merged.SerializeToString())
    return out


def _rename_io(model, mapping: dict[str, str]) -> None:
    for vi in list(model.graph.input) + list(model.graph.output):
        if vi.name in mapping:
            vi.name = mapping[vi.name]
    for node in model.graph.node:
        for i, n in enumerate(node.input):
            if n in mapping:
                node.input[i] = mapping[n]
        for i, n in enumerate(node.output):
            if n in mapping:
                node.output[i] = mapping[n]


def onnx_metadata(path: Path) -> dict[str, str]:
    import onnx

    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
