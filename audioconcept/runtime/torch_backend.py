"""The torch rows of the formats table (torchscript, pt2, eager torch). Needs the `train` extra; the
rest of the runtime never imports this module unless one of those backends is asked for."""

from __future__ import annotations

import numpy as np

from audioconcept.errors import BackendUnavailable, MissingExtra
from audioconcept.runtime.bundle import Bundle
from audioconcept.runtime.formats import Format
from audioconcept.runtime.outputs import Outputs
from audioconcept.runtime.torch_trust import check_torch_trusted


class TorchBackend:
    input_kind = "waveform"

    def __init__(self, bundle: Bundle, fmt: Format, device: str = "auto", threads: int = 0) -> None:
        try:
            import torch
        except ImportError:
            raise MissingExtra("torch", fmt.extra or "train", f"--backend {fmt.backend}") from None
        self.torch = torch
        self.name = fmt.backend
        self.artifact = fmt.artifact
        if threads:
            torch.set_num_threads(threads)
        if device in ("auto", "cuda") and torch.cuda.is_available():
            self.device = "cuda"
        elif device == "cuda":
            raise BackendUnavailable("--device cuda: this torch build sees no CUDA GPU")
        else:
            self.device = "cpu"
        path = bundle.artifact(fmt.artifact)
        check_torch_trusted(path, str(bundle.root))  # model.ts and model.pt2 can run code when loaded
        if fmt.backend == "torchscript":
            self.module = torch.jit.load(str(path), map_location=self.device)
        elif fmt.backend == "pt2":
            self.module = torch.export.load(str(path)).module().to(self.device)
        else:
            self.module = eager_from_pt2(bundle).to(self.device)
        self.output_names = [o["name"] for o in bundle.manifest["outputs"]]

    def run(self, x: np.ndarray) -> Outputs:
        with self.torch.inference_mode():
            out = self.module(self.torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device))
        return Outputs(*[o.float().cpu().numpy() for o in out])


def cuda_unavailable_reason() -> str:
    import torch

    return "" if torch.cuda.is_available() else "torch sees no CUDA device"


def eager_from_pt2(bundle: Bundle):
    """The eager model (torch.stft front end) with the weights held in the bundle's .pt2 program."""
    import torch

    from audioconcept.models.concept_head import head_from_manifest
    from audioconcept.models.frontend import MelFrontEnd
    from audioconcept.models.frontend_config import MelConfig
    from audioconcept.models.outputs import BodyOutputs, WaveformOutputs
    from audioconcept.models.registry import build_body

    m = bundle.manifest
    body = build_body(m["arch"], len(m["labels"]), **(m.get("arch_config") or {}))
    head = head_from_manifest(m) if m.get("concepts") else None
    module = WaveformOutputs(MelFrontEnd(MelConfig.from_dict(m["frontend"]), "stft"), BodyOutputs(body, head))
    check_torch_trusted(bundle.artifact("pt2"), str(bundle.root))
    prog = torch.export.load(str(bundle.artifact("pt2")))
    missing, unexpected = module.load_state_dict(dict(prog.state_dict), strict=False)
    if [k for k in missing if not k.startswith("frontend.")] or unexpected:
        raise BackendUnavailable(f"--backend torch: weights in model.pt2 do not fit ({missing[:3]} {unexpected[:3]})")
    return module.eval()
