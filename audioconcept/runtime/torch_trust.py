"""Where the trust boundary is for the torch artifacts of a bundle (torch-free).

ONNX graphs are data: `graph_check` refuses what our exports never write, and onnxruntime runs no code from them.
`model.ts` and `model.pt2` are code. Tried with torch 2.13.0 (tests/runtime/test_torch_trust.py):

- `torch.jit.load` runs a scripted `__setstate__` while it loads; TorchScript reads any file (`torch.from_file`)
  and prints it;
- `torch.export.load` unpickles, with `weights_only=False`, any weight or constant its archive marks `use_pickle`
  (and `opaque_obj` constants with `pickle.loads`): a crafted `model.pt2` runs `os.system` before any model exists.

A sha256 in the manifest proves only that the file is the one an equally untrusted manifest names. So the torch
backends load a torch artifact only when its sha256 is in this machine's trust list, which `audioconcept export`
appends to for the files it writes (`trusted-torch-artifacts.txt` under the cache folder, outside every bundle),
or when the user sets AUDIOCONCEPT_TRUST_TORCH=1 for bundles they trust like code.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from audioconcept.errors import BundleError
from audioconcept.utils import cache_root, current_umask, sha256_tree

TRUST_ENV = "AUDIOCONCEPT_TRUST_TORCH"
TRUST_FILE = "trusted-torch-artifacts.txt"
TORCH_KEYS = ("torchscript", "pt2")
TRUST_BOUNDARY = (
    "Bundles are untrusted: ONNX graphs are checked and run no code, but model.ts and model.pt2 can run code when "
    "loaded, so --backend torchscript, pt2 and torch load only those exported on this machine (or any with "
    f"{TRUST_ENV}=1)."
)


def trust_file() -> Path:
    return cache_root() / TRUST_FILE


def trusted_hashes() -> set[str]:
    try:
        text = trust_file().read_text(encoding="ascii", errors="replace")
    except OSError:
        return set()
    return {ln.strip() for ln in text.splitlines() if len(ln.strip()) == 64}


def record_trusted(paths: Iterable[Path]) -> None:
    """Add the sha256 of files this machine just exported to the trust list (one O_APPEND write per file)."""
    p = trust_file()
    p.parent.mkdir(parents=True, exist_ok=True)
    known = trusted_hashes()
    fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666 & ~current_umask())
    try:
        for f in paths:
            h = sha256_tree(f)
            if h not in known:
                os.write(fd, f"{h}\n".encode())
                known.add(h)
    finally:
        os.close(fd)


def check_torch_trusted(path: Path, where: str) -> None:
    """One BundleError line unless the torch artifact at `path` may be loaded (see the module docstring)."""
    if os.environ.get(TRUST_ENV) == "1":
        return
    if sha256_tree(path) in trusted_hashes():
        return
    raise BundleError(
        f"{where}: {path.name} can run code when loaded and was not exported on this machine; use --backend onnx, "
        f"or set {TRUST_ENV}=1 if you trust this bundle like a program"
    )
