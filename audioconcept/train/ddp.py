"""Data-parallel training: torchrun-style workers, DistributedDataParallel, gloo on CPU, NCCL on CUDA.

Two ways in, the same training code behind both:

- ``audioconcept train cnn --data ... --nproc N`` starts N workers on this machine with torch's elastic
  launcher (what ``torchrun --standalone`` runs) and waits for them (`train.launch`);
- ``torchrun --nproc-per-node N [--nnodes M --rdzv-backend c10d --rdzv-endpoint HOST:PORT] -m
  audioconcept.cli train cnn --data ...`` on each node: the command sees torchrun's WORLD_SIZE and joins
  the group.

`DistContext` is all a training loop needs: `wrap` a module in DDP, a `sampler` that gives each rank
its shard of an epoch, `shard` for evaluation lists, `all_sum` / `any` so that every rank takes the
same decisions (learning rate, early stop, time budget), and `is_main` for what only rank 0 does
(checkpoints, plots, run.json). A single process gets a context whose methods do nothing, so the
loop has one code path. MPS has no multi-process backend in torch: it stays single-device.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from audioconcept import errors
from audioconcept.errors import DistributedError

log = logging.getLogger(__name__)
MPS_SINGLE = (
    "MPS trains on one device (torch has no multi-process backend for it): drop --nproc, "
    "or add --device cpu to train gloo workers on the CPU"
)


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: str = ""  # '' = one process, no group

    @property
    def distributed(self) -> bool:
        return bool(self.backend)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """DDP around `module` (gradients averaged over the ranks at every backward); itself alone."""
        if not self.distributed:
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids)

    def sampler(self, dataset, seed: int, shuffle: bool = True):
        """Each rank's share of every epoch (call `set_epoch` on it), or None for one process."""
        if not self.distributed:
            return None
        from torch.utils.data import DistributedSampler

        return DistributedSampler(dataset, self.world_size, self.rank, shuffle=shuffle, seed=seed)

    def shard(self, items: list) -> list:
        return items[self.rank :: self.world_size] if self.distributed else list(items)

    def all_sum(self, values: list[float]) -> list[float]:
        """Element-wise sums over the ranks (every rank gets them)."""
        if not self.distributed:
            return [float(v) for v in values]
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.cpu().tolist()

    def any(self, flag: bool) -> bool:
        """True on every rank when it is true on one (a stop decision all ranks must share)."""
        return self.all_sum([1.0 if flag else 0.0])[0] > 0

    def gather(self, obj: Any) -> list:
        if not self.distributed:
            return [obj]
        import torch.distributed as dist

        out: list = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def close(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()

    def describe(self) -> dict:
        return {"world_size": self.world_size, "backend": self.backend or "none", "device": str(self.device)}


def world_size_from_env() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def under_launcher() -> bool:
    """Started by torchrun or `launch` (even a group of one, which checks the NCCL path on one GPU)."""
    return world_size_from_env() > 1 or "TORCHELASTIC_RUN_ID" in os.environ


def distributed_device(device: str, local_rank: int = 0) -> tuple[torch.device, str]:
    """(this rank's device, process-group backend) for --device under several processes."""
    has_cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None)
    if device == "mps" or (device == "auto" and not has_cuda and mps is not None and mps.is_available()):
        raise DistributedError(MPS_SINGLE)
    if device.startswith("cuda") or (device == "auto" and has_cuda):
        if not has_cuda:
            raise DistributedError(f"--device {device}: this torch build sees no CUDA GPU")
        return torch.device("cuda", local_rank % torch.cuda.device_count()), "nccl"
    if device not in ("auto", "cpu"):
        raise DistributedError(f"--device {device}: choose auto, cpu or cuda for data-parallel training")
    return torch.device("cpu"), "gloo"


def join(device: str = "auto") -> DistContext:
    """The context for this process: the launcher's group (torchrun, `launch`), else a single process."""
    if not under_launcher():
        from audioconcept.train.device import pick_device

        return DistContext(device=pick_device(device))
    import torch.distributed as dist

    rank, world = int(os.environ["RANK"]), world_size_from_env()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev, backend = distributed_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    else:  # N CPU workers share the cores
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
    if not dist.is_initialized():
        dist.init_process_group(backend, device_id=dev if dev.type == "cuda" else None)
    if rank != 0:
        logging.getLogger("audioconcept").setLevel(logging.WARNING)
    log.info("rank %d of %d on %s (%s)", rank, world, dev, backend)
    return DistContext(rank, world, local_rank, dev, backend)


def check_launch(nproc: int, device: str) -> None:
    """Refuse in the parent what the workers could not do: MPS, or more NCCL workers than GPUs."""
    if nproc <= 1:
        return
    if under_launcher():
        raise DistributedError("--nproc inside torchrun: torchrun already started the workers; drop --nproc")
    dev, backend = distributed_device(device)
    if backend == "nccl" and nproc > torch.cuda.device_count():
        raise DistributedError(
            f"--nproc {nproc}: NCCL needs one GPU per worker and this host has {torch.cuda.device_count()}; "
            "use --nproc <= the GPUs, or --device cpu for gloo workers"
        )


def _first_failure(e: BaseException) -> str:
    failures = getattr(e, "failures", None) or {}
    for rank, f in sorted(failures.items()):
        msg = f.message
        if isinstance(msg, dict):
            msg = msg.get("message", "")
        text = str(msg or "").strip()
        line = text.splitlines()[0] if text else f"exit code {f.exitcode}"
        if line.startswith("Process failed with exitcode"):
            line = f"exit code {f.exitcode}"
        name, sep, rest = line.partition(": ")
        if sep and isinstance(getattr(errors, name, None), type):  # our errors speak for themselves
            line = rest
        return f"rank {rank}: {line}"
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def launch(nproc: int, fn: Callable, *args: Any) -> Any:
    """Run `fn(*args)` in `nproc` workers on this machine (torchrun --standalone); -> rank 0's return value.

    `fn` must be importable (a module-level function); every worker gets RANK, WORLD_SIZE, LOCAL_RANK
    and the rendezvous address in its environment, so `join()` inside it finds the group."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    cfg = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=f"audioconcept-{uuid.uuid4().hex[:8]}",
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",
        max_restarts=0,
        monitor_interval=0.5,
        start_method="spawn",
    )
    elastic = logging.getLogger("torch.distributed.elastic")
    level = elastic.level
    elastic.setLevel(logging.CRITICAL)  # a failed worker's traceback: our error below says it in one line
    try:
        results = elastic_launch(cfg, fn)(*args)
    except ChildFailedError as e:
        raise DistributedError(f"data-parallel training failed: {_first_failure(e)}") from None
    finally:
        elastic.setLevel(level)
    return results[0]
