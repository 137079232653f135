"""The CUDA paths of the runtime on a lent GPU host (issue 17): run with onnxruntime-gpu on PYTHONPATH.

python tools/device/gpu_checks.py BUNDLE [BUNDLE...] --out gpu.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from timing import median_ms  # noqa: E402

from audioconcept.data.audio import write_audio


def songs(folder: Path, n: int, seconds: float, sr: int = 22050) -> list[Path]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        t = np.arange(int(seconds * sr)) / sr
        x = 0.3 * np.sin(2 * np.pi * (110 + 20 * i) * t) + 0.05 * rng.standard_normal(t.size)
        p = folder / f"song{i:03d}.wav"
        write_audio(p, x.astype(np.float32), sr)
        out.append(p)
    return out


def cold_start(bundle: Path, song: Path, device: str, repeats: int = 3) -> dict:
    code = (
        "import atexit, pathlib, sys\n"
        "def hwm():\n"
        " s = pathlib.Path('/proc/self/status').read_text()\n"
        " sys.stderr.write('VmHWM ' + s.split('VmHWM:')[1].split()[0] + '\\n')\n"
        "atexit.register(hwm)\n"
        "from audioconcept.cli_run import main; main(sys.argv[1:])\n"
    )
    ts, rss = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        r = subprocess.run(
            [sys.executable, "-c", code, str(song), "--model", str(bundle), "--device", device, "--format", "json"],
            capture_output=True,
            text=True,
        )
        ts.append(time.perf_counter() - t)
        if r.returncode:
            return {"error": r.stderr.strip().splitlines()[-3:]}
        rss.append(int(r.stderr.split("VmHWM ")[-1].split()[0]) / 1024)
    return {"cold_start_s": round(float(np.median(ts)), 3), "peak_rss_mb": round(float(np.median(rss)), 1)}


def cold_breakdown(bundle: Path, device: str) -> dict:
    """Where a cold start goes: seconds from process start to each step, in a fresh process."""
    code = (
        "import time, sys; t0 = time.perf_counter(); marks = {}\n"
        "import numpy; marks['numpy'] = time.perf_counter() - t0\n"
        "import onnxruntime; marks['onnxruntime'] = time.perf_counter() - t0\n"
        "from audioconcept.runtime import load; marks['audioconcept'] = time.perf_counter() - t0\n"
        "m = load(sys.argv[1], device=sys.argv[2]); marks['session'] = time.perf_counter() - t0\n"
        "x = numpy.zeros((1, m.m['window_samples']), numpy.float32)\n"
        "m.backend.run(m.prepare_array(x)); marks['first_run'] = time.perf_counter() - t0\n"
        "m.backend.run(m.prepare_array(x)); marks['second_run'] = time.perf_counter() - t0\n"
        "import json; print(json.dumps({k: round(v, 3) for k, v in marks.items()}))\n"
    )
    r = subprocess.run([sys.executable, "-c", code, str(bundle), device], capture_output=True, text=True)
    if r.returncode:
        return {"error": r.stderr.strip().splitlines()[-3:]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def check_bundle(bundle: Path, work: Path, device: str = "cuda") -> dict:
    import onnxruntime as ort

    from audioconcept.runtime import load, predict_many
    from audioconcept.runtime.model import SongFailed

    res: dict = {"bundle": bundle.name}
    gpu = load(bundle, device=device, batch_size=16)
    cpu = load(bundle, device="cpu", batch_size=16)
    res["providers"] = gpu.backend.session.get_providers()
    m = gpu.m
    rng = np.random.default_rng(1)
    x = (0.1 * rng.standard_normal((16, m["window_samples"]))).astype(np.float32)
    pg = gpu.backend.run(gpu.prepare_array(x)).probabilities
    pc = cpu.backend.run(cpu.frontend(x) if cpu.frontend is not None else x).probabilities
    res["cuda_vs_cpu_max_abs_prob"] = float(np.abs(pg - pc).max())
    res["cuda_vs_cpu_top1"] = float(np.mean(pg.argmax(1) == pc.argmax(1)))
    s = gpu.backend.session
    for b in (1, 16):
        xb = x[:b]
        res[f"iobinding_b{b}_ms"] = median_ms(lambda xb=xb: gpu.backend.run(gpu.prepare_array(xb)))
        res[f"plain_run_b{b}_ms"] = median_ms(
            lambda xb=xb: s.run(None, {s.get_inputs()[0].name: gpu.prepare_array(xb)})
        )
    plain = bundle / "model.plain.onnx"
    if plain.exists():
        ps = ort.InferenceSession(
            str(plain),
            providers=[("CUDAExecutionProvider", {"cudnn_conv_algo_search": "HEURISTIC"}), "CPUExecutionProvider"],
        )
        for b in (1, 16):
            xb = x[:b]
            res[f"plain_graph_b{b}_ms"] = median_ms(lambda xb=xb: ps.run(None, {"waveform": xb}))
    # songs of 30 s, windows batched across songs (16 per batch) against one song at a time
    paths = songs(work, 48, 30.0)
    for bs in (1, 16):
        model = load(bundle, device=device, batch_size=bs)
        list(predict_many(model, paths[:2]))  # warm-up
        t = time.perf_counter()
        out = list(predict_many(model, paths))
        dt = time.perf_counter() - t
        assert not any(isinstance(r, SongFailed) for r in out)
        res[f"songs_per_s_batch{bs}"] = round(len(paths) / dt, 2)
        res[f"ms_per_song_batch{bs}_with_decoding"] = round(dt / len(paths) * 1e3, 3)
    windows_per_song = len(load(bundle, device="cpu").predict(paths[0]).windows)
    res["windows_per_30s_song"] = windows_per_song
    res["model_ms_per_30s_song_batch16"] = round(res["iobinding_b16_ms"] / 16 * windows_per_song, 4)
    res["cold_start_cuda"] = cold_start(bundle, paths[0], device)
    res["cold_breakdown_cuda"] = cold_breakdown(bundle, device)
    res["cold_start_cpu"] = cold_start(bundle, paths[0], "cpu")
    try:
        import torch

        if torch.cuda.is_available():
            tb = load(bundle, backend="torch", device="cuda")
            for b in (1, 16):
                xb = x[:b]

                def run(xb=xb):
                    tb.backend.run(xb)
                    torch.cuda.synchronize()

                res[f"torch_cuda_b{b}_ms"] = median_ms(run)
            res["torch_gpu"] = torch.cuda.get_device_name(0)
    except Exception as e:  # noqa: BLE001 - reported, the ORT figures stand alone
        res["torch_cuda_error"] = f"{type(e).__name__}: {e}"
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("bundles", nargs="+", type=Path)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--device", default="cuda", help="cpu: a dry run of this script on a host without a GPU")
    a = ap.parse_args()
    import onnxruntime as ort

    out = {"onnxruntime": ort.__version__, "available_providers": ort.get_available_providers(), "bundles": []}
    with tempfile.TemporaryDirectory() as tmp:
        for b in a.bundles:
            try:
                out["bundles"].append(check_bundle(b, Path(tmp), a.device))
            except Exception:  # noqa: BLE001 - keep the other bundle's figures
                import traceback

                out["bundles"].append({"bundle": b.name, "error": traceback.format_exc()[-2000:]})
            print(json.dumps(out["bundles"][-1], indent=1), flush=True)
    if a.out:
        a.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
