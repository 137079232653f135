"""Malicious model.ts / model.pt2 (issue 27). What torch 2.13's loaders execute, shown with crafted files, and the
trust boundary that follows: the torch backends load only torch artifacts exported on this machine."""

import json
import os
import pickle
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from audioconcept.errors import BundleError
from audioconcept.runtime.model import load
from audioconcept.runtime.torch_trust import TRUST_ENV, check_torch_trusted, trusted_hashes
from audioconcept.utils import sha256_file
from tests.runtime.test_adversarial import _bundle_with

torch = pytest.importorskip("torch")
ROOT = str(Path(__file__).resolve().parents[2])


def _torchscript_reading_a_file(tmp_path: Path) -> bytes:
    """A scripted module whose __setstate__ (run by torch.jit.load) reads a file outside any bundle and prints it."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    code = textwrap.dedent(
        f"""
        import torch

        class Evil(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.x = torch.zeros(1)

            def forward(self, x):
                return x

            @torch.jit.export
            def __getstate__(self):
                return (self.x, self.training)

            @torch.jit.export
            def __setstate__(self, state: tuple[torch.Tensor, bool]):
                t = torch.from_file({str(secret)!r}, shared=False, size=9, dtype=torch.uint8)
                print("SETSTATE-RAN", t)
                self.x = state[0]
                self.training = state[1]

        torch.jit.script(Evil()).save({str(tmp_path / "evil.ts")!r})
        """
    )
    script = tmp_path / "craft_ts.py"  # TorchScript compiles from source files, not from `python -c`
    script.write_text(code)
    subprocess.run([sys.executable, str(script)], check=True, capture_output=True, timeout=120)
    return (tmp_path / "evil.ts").read_bytes()


class _Touch:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _pt2_with_a_pickle(tmp_path: Path, marker: Path) -> bytes:
    """A real torch.export archive whose first weight is marked use_pickle and holds a pickle payload."""
    good = tmp_path / "good.pt2"
    lin = torch.nn.Linear(4, 2)
    torch.export.save(torch.export.export(lin, (torch.zeros(1, 4),)), str(good))
    src = zipfile.ZipFile(good)
    cfg_name = next(n for n in src.namelist() if n.endswith("model_weights_config.json"))
    cfg = json.loads(src.read(cfg_name))
    key = next(iter(cfg["config"]))
    cfg["config"][key]["use_pickle"] = True
    target = cfg_name.rsplit("/", 1)[0] + "/" + cfg["config"][key]["path_name"]
    evil = tmp_path / "evil.pt2"
    with zipfile.ZipFile(evil, "w", zipfile.ZIP_STORED) as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == cfg_name:
                data = json.dumps(cfg).encode()
            elif info.filename == target:
                data = pickle.dumps(_Touch(marker), protocol=2)
            out.writestr(info, data)
    return evil.read_bytes()


def _load_in_a_child(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.slow
def test_torch_jit_load_runs_code_and_the_backend_refuses_it(tmp_path, cnn_bundle):
    data = _torchscript_reading_a_file(tmp_path)
    (tmp_path / "x.ts").write_bytes(data)
    # the proof: torch.jit.load itself runs __setstate__, which read a file outside any bundle
    p = _load_in_a_child(f"import torch; torch.jit.load({str(tmp_path / 'x.ts')!r})")
    assert "SETSTATE-RAN" in p.stdout and " 84\n 79\n 80" in p.stdout, p.stdout + p.stderr[-1000:]  # "TOP"
    # our backend: the manifest's sha256 matches (a hostile manifest says what it likes), and still it refuses
    b = _bundle_with(tmp_path, cnn_bundle, "torchscript", data)
    p = _load_in_a_child(
        f"from audioconcept.runtime.model import load\n"
        f"try:\n    load({str(b)!r}, backend='torchscript')\nexcept Exception as e:\n    print('REFUSED', e)"
    )
    assert "REFUSED" in p.stdout and "can run code when loaded" in p.stdout, p.stdout + p.stderr[-1000:]
    assert "SETSTATE-RAN" not in p.stdout


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["pt2", "torch"])
def test_torch_export_load_runs_a_pickle_and_the_backend_refuses_it(tmp_path, cnn_bundle, backend):
    proof = tmp_path / "PROOF"
    (tmp_path / "p.pt2").write_bytes(_pt2_with_a_pickle(tmp_path, proof))
    _load_in_a_child(f"import torch\ntry:\n    torch.export.load({str(tmp_path / 'p.pt2')!r})\nexcept Exception: pass")
    assert proof.exists()  # torch.export.load ran os.system from the archive
    marker = tmp_path / "PWNED"
    b = _bundle_with(tmp_path, cnn_bundle, "pt2", _pt2_with_a_pickle(tmp_path, marker), name=f"b-{backend}")
    with pytest.raises(BundleError, match="can run code when loaded") as e:
        load(b, backend=backend)
    assert "\n" not in str(e.value) and not marker.exists()


def test_what_this_machine_exported_is_trusted_and_loads(cnn_bundle):
    m = json.loads((cnn_bundle / "manifest.json").read_text())
    for key in ("torchscript", "pt2"):
        assert sha256_file(cnn_bundle / m["artifacts"][key]["file"]) in trusted_hashes()
    assert load(cnn_bundle, backend="torchscript").backend.name == "torchscript"


def test_the_user_can_trust_a_bundle_like_a_program(tmp_path, monkeypatch):
    f = tmp_path / "model.ts"
    f.write_bytes(b"from elsewhere")
    with pytest.raises(BundleError, match=TRUST_ENV):
        check_torch_trusted(f, "b")
    monkeypatch.setenv(TRUST_ENV, "1")
    check_torch_trusted(f, "b")
