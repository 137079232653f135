"""What machine a result came from: CPU, ISA flags, RAM, GPU, OS, versions, commit."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import socket
import subprocess
import time
from pathlib import Path

import numpy as np

ISA_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile", "asimd", "neon", "sve")


def _cpuinfo() -> tuple[str, list[str]]:
    p = Path("/proc/cpuinfo")
    model, flags = platform.processor() or platform.machine(), []
    if p.exists():
        for line in p.read_text().splitlines():
            key, _, val = line.partition(":")
            key = key.strip()
            if key in ("model name", "Model") and model in ("", platform.machine(), platform.processor()):
                model = val.strip()
            elif key in ("flags", "Features") and not flags:
                flags = val.split()
    elif platform.system() == "Darwin":
        with contextlib.suppress(Exception):
            model = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, timeout=5
            ).stdout.strip()
            flags = ["neon"] if platform.machine() == "arm64" else []
    return model, [f for f in ISA_FLAGS if f in flags]


def _gpu() -> dict | None:
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = (
            subprocess.run(
                ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=10,
            )
            .stdout.strip()
            .splitlines()
        )
        cuda = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=10).stdout
        ver = cuda.split("CUDA Version:")[1].split()[0] if "CUDA Version:" in cuda else None
        name, driver, mem = (x.strip() for x in out[0].split(","))
        return {"name": name, "driver": driver, "memory": mem, "cuda": ver}
    except Exception:  # noqa: BLE001 - any failure means "no usable GPU info"
        return None


def _ram_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _commit() -> str | None:
    try:
        return (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        return None


def peak_gflops(n: int = 1024, repeats: int = 5) -> float:
    """Measured float32 matmul throughput on this host (numpy/BLAS), the yardstick for each row."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    b = a.T.copy()
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def host_info() -> dict:
    from importlib import metadata as md

    model, flags = _cpuinfo()
    versions = {}
    for pkg in ("numpy", "onnxruntime", "onnxruntime-gpu", "torch", "coremltools", "onnx"):
        with contextlib.suppress(md.PackageNotFoundError):
            versions[pkg] = md.version(pkg)
    return {
        "hostname": socket.gethostname(),
        "cpu": model,
        "cores": os.cpu_count(),
        "isa": flags,
        "ram_gb": _ram_gb(),
        "gpu": _gpu(),
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "python": platform.python_version(),
        "versions": versions,
        "commit": _commit(),
        "peak_gflops_fp32": round(peak_gflops(), 1),
    }
