"""TorchScript (traced, deprecated upstream but asked for) and torch.export `.pt2`, with metadata inside."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch

META_FILE = "audioconcept_manifest.json"


def write_torchscript(module: torch.nn.Module, example: torch.Tensor, path: Path, metadata: dict) -> Path:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module.eval(), (example,), check_trace=False, strict=False)
    torch.jit.save(traced, str(path), _extra_files={META_FILE: json.dumps(metadata)})
    return path


def write_pt2(module: torch.nn.Module, example: torch.Tensor, path: Path, metadata: dict) -> Path:
    batch = torch.export.Dim("batch", min=1, max=1024)
    with torch.no_grad():
        prog = torch.export.export(module.eval(), (example,), dynamic_shapes=({0: batch},), strict=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.export.save(prog, str(path), extra_files={META_FILE: json.dumps(metadata)})
    return path


def torchscript_metadata(path: Path) -> dict:
    extra = {META_FILE: ""}
    torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return json.loads(extra[META_FILE])


def pt2_metadata(path: Path) -> dict:
    extra = {META_FILE: ""}
    torch.export.load(str(path), extra_files=extra)
    return json.loads(extra[META_FILE])
