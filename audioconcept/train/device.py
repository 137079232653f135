"""Device choice: cuda, then mps, then cpu."""

from __future__ import annotations

import torch

from audioconcept.errors import BackendUnavailable


def pick_device(name: str = "auto") -> torch.device:
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps and mps.is_available())
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if has_mps else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise BackendUnavailable("--device cuda: this torch build sees no CUDA GPU (install a CUDA build of torch)")
    if name == "mps" and not has_mps:
        raise BackendUnavailable("--device mps: Apple MPS is not available on this host")
    if name not in ("cpu", "mps") and not name.startswith("cuda"):
        raise BackendUnavailable(f"--device {name}: choose auto, cpu, cuda or mps")
    return torch.device(name)
