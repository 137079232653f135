"""`audioconcept bench batch`: songs/s of `audioconcept batch` per engine and worker count, Ray's cost
per song, and what a million songs would take on N nodes.

Every configuration runs on the same generated songs in one process, one after the other, in rounds
(local x1, local x2, ray x1, ray x2, then again), so that the ratios between them are measured under
the same machine load; medians over the rounds are reported. Each measurement is a pair of runs, a
quarter of the songs and all of them: the difference gives the songs/s once running (Ray hands results
back in bursts, so timing the first result would mislead), and what is left of the short run is the
fixed cost of a run (spawning processes or starting actors, loading the model). Both engines get the
same threads per worker (cores / workers), so their difference is what Ray adds.

The GPU estimate does not come from this machine: it uses a measured CUDA latency per window
(`GpuFigure`, by default the CNN's onnxruntime CUDA provider on an H100, batch 16) and this host's
measured decode cost per song, since decoding stays on the node's CPUs.
"""

from __future__ import annotations

import logging
import os
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from audioconcept import SAMPLE_RATE
from audioconcept.data.audio import window_starts
from audioconcept.runtime.threads import usable_cores
from audioconcept.utils import atomic_write_json

log = logging.getLogger(__name__)
BATCH_RESULTS_KIND = "batch"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class GpuFigure:
    """A measured GPU cost per model window (not measured by this command)."""

    ms_per_window: float = 6.98 / 16
    source: str = (
        "issue 15: cnn via onnxruntime's CUDA provider on one H100, 6.98 ms per batch of 16 windows "
        "of 29.1 s (0.94 ms at batch 1)"
    )


@dataclass(frozen=True)
class BatchBenchConfig:
    out: Path | None = None
    model: str = "cnn-synth"
    songs: int = 32
    seconds: float = 180.0
    audio_format: str = "mp3"  # what a library holds: 44.1 kHz stereo, compressed
    engines: tuple[str, ...] = ("local", "ray")
    workers: tuple[int, ...] = (1, 2)
    rounds: int = 2
    nodes: tuple[int, ...] = (1, 10, 100)
    cores_per_node: int = 16
    library_songs: int = 1_000_000
    gpu: GpuFigure = field(default_factory=GpuFigure)


def make_songs(root: Path, n: int, seconds: float, fmt: str, seed: int = 0, distinct: int = 4) -> list[Path]:
    """`n` songs of `seconds` at 44.1 kHz stereo: chords, a pulse and noise (speed, not content, matters).

    `distinct` are rendered and encoded; the rest are copies (another path, so another song)."""
    import shutil

    from audioconcept.data.audio import write_blocks

    root.mkdir(parents=True, exist_ok=True)
    sr = 44100
    subtype = {"mp3": "MPEG_LAYER_III", "ogg": "VORBIS", "flac": "PCM_16", "wav": "PCM_16"}[fmt]
    out: list[Path] = []
    for i in range(n):
        p = root / f"song{i:04d}.{fmt}"
        if i >= distinct:
            shutil.copyfile(out[i % distinct], p)
            out.append(p)
            continue
        rng = np.random.default_rng(seed + i)
        t = np.arange(int(seconds * sr)) / sr
        f0 = 55.0 * 2 ** (rng.integers(0, 24) / 12)
        x = sum(np.sin(2 * np.pi * f0 * r * t) for r in (1, 1.25, 1.5)) * 0.15
        pulse = (np.sin(2 * np.pi * 2 * t) > 0.9) * rng.standard_normal(t.size)
        x = x + 0.3 * pulse + 0.02 * rng.standard_normal(t.size)
        x = np.stack([x, np.roll(x, 441)], axis=1).astype(np.float32)
        write_blocks(p, x, sr, format={"ogg": "OGG"}.get(fmt, fmt.upper()), subtype=subtype)
        out.append(p)
    return out


def decode_cost(paths: list[Path], sample_rate: int) -> dict:
    """Decode + resample cost per song on one core (what a Ray decode task costs): CPU time, which a
    shared machine does not inflate, and wall time."""
    from audioconcept.data.audio import load_audio

    cpu, wall = [], []
    for p in paths:
        c0, t0 = time.process_time(), time.perf_counter()
        load_audio(p, sr=sample_rate)
        cpu.append((time.process_time() - c0) * 1e3)
        wall.append((time.perf_counter() - t0) * 1e3)
    return {"median_ms": statistics.median(cpu), "median_wall_ms": statistics.median(wall), "n": len(cpu)}


def windows_per_song(seconds: float, window_s: float, hop_s: float, sr: int = SAMPLE_RATE) -> int:
    """How many windows the runtime cuts from a song of `seconds` (data.audio.window_starts)."""
    return len(window_starts(round(seconds * sr), round(window_s * sr), round(hop_s * sr)))


def _proc_table() -> dict[int, tuple[int, float]] | None:
    """pid -> (parent pid, CPU seconds of its own, user + system), from Linux /proc (None elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    out: dict[int, tuple[int, float]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return None
    for d in names:
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(d)] = (int(rest[1]), (int(rest[11]) + int(rest[12])) / tick)  # ppid, utime + stime
    return out


def _tree(table: dict[int, tuple[int, float]], root: int) -> dict[int, float]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            out[pid] = table[pid][1]
        todo.extend(children.get(pid, []))
    return out


class CpuMeter:
    """CPU seconds used by this process and every process below it (worker processes, Ray's raylet and
    its workers) while the block runs. Unlike wall time this does not depend on how much of a shared
    machine the run got, so it is the cost per song to scale from. The tree is sampled every
    `interval` s, so a process that ends inside the block loses at most its last interval. Linux only
    (`cpu_s` stays None elsewhere)."""

    def __init__(self, interval: float = 0.2) -> None:
        import threading

        self.interval = interval
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.cpu_s: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self, start: bool = False) -> bool:
        table = _proc_table()
        if table is None:
            return False
        for pid, cpu in _tree(table, os.getpid()).items():
            if start:
                self.first[pid] = cpu
            self.first.setdefault(pid, 0.0)  # born inside the block: all its time counts
            self.last[pid] = cpu
        return True

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> CpuMeter:
        if self._sample(start=True):
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join()
            self._sample()
            self.cpu_s = round(sum(self.last[p] - self.first[p] for p in self.last), 3)


def _one(engine: str, workers: int, threads: int, lib: Path, out: Path, model: str) -> dict:
    from audioconcept.runtime.batch.run import BatchConfig, run_batch

    cfg = BatchConfig((str(lib),), out, model, engine, workers=workers, threads=threads, progress=False)
    with CpuMeter() as cpu:
        s = run_batch(cfg)
    if s.failed:
        raise RuntimeError(f"{engine} x{workers}: {s.failed} song(s) failed: {s.failed_now[:1]}")
    return {"songs": s.analysed, "elapsed_s": round(s.elapsed_s, 3), "threads": s.threads, "cpu_s": cpu.cpu_s}


def _pair(engine: str, workers: int, threads: int, small: Path, full: Path, tmp: Path, model: str, r: int) -> dict:
    """Two runs, a few songs and many: their difference is the cost per song once running, what is
    left of the short run is the fixed cost (starting processes or actors, loading the model)."""
    a = _one(engine, workers, threads, small, tmp / f"{engine}-{workers}-{r}-small", model)
    b = _one(engine, workers, threads, full, tmp / f"{engine}-{workers}-{r}-full", model)
    dt = b["elapsed_s"] - a["elapsed_s"]
    rate = (b["songs"] - a["songs"]) / dt if dt > 0 else None
    return {
        "engine": engine,
        "workers": workers,
        "threads": b["threads"],
        "round": r,
        "small": a,
        "full": b,
        "songs_per_s": round(b["songs"] / b["elapsed_s"], 4),
        "steady_songs_per_s": round(rate, 4) if rate else None,
        "fixed_s": round(a["elapsed_s"] - a["songs"] / rate, 3) if rate else None,
        "cpu_s_per_song": (
            round((b["cpu_s"] - a["cpu_s"]) / (b["songs"] - a["songs"]), 4)
            if a["cpu_s"] is not None and b["cpu_s"] is not None and b["songs"] > a["songs"]
            else None
        ),
    }


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def run_batch_bench(cfg: BatchBenchConfig) -> dict:
    from audioconcept.benchmarks.hostinfo import host_info
    from audioconcept.runtime.bundle import read_manifest
    from audioconcept.runtime.registry import resolve_bundle

    m = read_manifest(resolve_bundle(cfg.model))
    n_win = windows_per_song(
        cfg.seconds, float(m["window_s"]), float(m.get("hop_s") or m["window_s"]), int(m["sample_rate"])
    )
    res: dict = {
        "kind": BATCH_RESULTS_KIND,
        "schema_version": SCHEMA_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": host_info(),
        "settings": {k: v for k, v in asdict(cfg).items() if k not in ("out", "gpu")},
        "model": {"name": m["name"], "window_s": m["window_s"], "hop_s": m.get("hop_s"), "windows_per_song": n_win},
        "load_before": _load(),
        "runs": [],
    }
    ray_started = False
    with tempfile.TemporaryDirectory(prefix="ac-batch-bench-") as tmp:
        full = Path(tmp) / "lib"
        t0 = time.perf_counter()
        paths = make_songs(full, cfg.songs, cfg.seconds, cfg.audio_format)
        small = Path(tmp) / "small.txt"
        small.write_text("\n".join(str(p) for p in paths[: max(1, cfg.songs // 4)]) + "\n")
        log.info("rendered %d songs of %.0f s in %.1f s", len(paths), cfg.seconds, time.perf_counter() - t0)
        res["decode"] = decode_cost(paths[: min(8, len(paths))], int(m["sample_rate"]))
        if "ray" in cfg.engines:
            from audioconcept.runtime.batch.ray_engine import connect

            t0 = time.perf_counter()
            ray_started = connect(None)
            res["ray_init_s"] = round(time.perf_counter() - t0, 3)
        cores = usable_cores()
        try:
            for engine in cfg.engines:  # warm-up: a first run pays for imports, caches and Ray's worker pool
                for w in cfg.workers:
                    _one(engine, w, max(1, cores // w), small, Path(tmp) / f"warm-{engine}-{w}", cfg.model)
            for r in range(1, cfg.rounds + 1):
                for engine in cfg.engines:
                    for w in cfg.workers:
                        log.info("round %d: %s x%d (load %s)", r, engine, w, _load())
                        t = max(1, cores // w)  # the same compute per worker on both engines
                        res["runs"].append(_pair(engine, w, t, small, full, Path(tmp), cfg.model, r))
        finally:
            if ray_started:
                from audioconcept.runtime.batch.ray_engine import require_ray

                require_ray().shutdown()
    res["load_after"] = _load()
    if cfg.out:  # the raw runs first: a summary that fails loses nothing
        atomic_write_json(cfg.out, res)
    res["summary"] = summarise(res, cfg)
    if cfg.out:
        atomic_write_json(cfg.out, res)
    return res


def summarise(res: dict, cfg: BatchBenchConfig) -> dict:
    """Medians per configuration, Ray's overhead per song, and the 1 M-song estimates."""
    med: dict[str, dict] = {}
    for row in res["runs"]:
        key = f"{row['engine']} x{row['workers']}"
        med.setdefault(key, {"engine": row["engine"], "workers": row["workers"], "threads": row["threads"], "runs": []})
        med[key]["runs"].append(row)
    for v in med.values():
        runs = v.pop("runs")
        for k in ("songs_per_s", "steady_songs_per_s", "fixed_s", "cpu_s_per_song"):
            vals = [r[k] for r in runs if r.get(k) is not None]
            v[k] = round(statistics.median(vals), 4) if vals else None
    overhead = {}
    for v in med.values():
        if v["engine"] != "ray":
            continue
        local = med.get(f"local x{v['workers']}")
        if local and v["steady_songs_per_s"] and local["steady_songs_per_s"]:
            extra_s = 1 / v["steady_songs_per_s"] - 1 / local["steady_songs_per_s"]
            overhead[f"x{v['workers']}"] = {
                "wall_ms_per_song": round(1e3 * extra_s, 1),
                "worker_ms_per_song": round(1e3 * extra_s * v["workers"], 1),
                "ratio": round(local["steady_songs_per_s"] / v["steady_songs_per_s"], 3),
                "fixed_s_extra": round((v["fixed_s"] or 0) - (local["fixed_s"] or 0), 2),
                "cpu_ms_per_song": (
                    round(1e3 * (v["cpu_s_per_song"] - local["cpu_s_per_song"]), 1)
                    if v.get("cpu_s_per_song") is not None and local.get("cpu_s_per_song") is not None
                    else None
                ),
            }
    # CPU: core-seconds per song (CPU time, robust to a shared machine; else wall time x cores used),
    # of the cheapest configuration, spread over N nodes of C cores with linear scaling
    cores_here = res["host"]["cores"] or 1
    est: dict = {"library_songs": cfg.library_songs, "cores_per_node": cfg.cores_per_node}
    costs = []
    for v in med.values():
        if v.get("cpu_s_per_song"):
            costs.append((v["cpu_s_per_song"], f"{v['engine']} x{v['workers']}, CPU time"))
        elif v["steady_songs_per_s"]:
            used = min(cores_here, v["workers"] * max(1, v["threads"]))
            costs.append((used / v["steady_songs_per_s"], f"{v['engine']} x{v['workers']}, wall time x cores"))
    if costs:
        core_s, src = min(costs)
        est["cpu"] = {
            "from": src,
            "core_s_per_song": round(core_s, 4),
            "hours_by_nodes": {
                str(n): round(cfg.library_songs * core_s / (n * cfg.cores_per_node) / 3600, 2) for n in cfg.nodes
            },
        }
    gpu_ms_song = res["model"]["windows_per_song"] * cfg.gpu.ms_per_window
    decode_ms = res["decode"]["median_ms"]
    per_node = min(1e3 / gpu_ms_song, cfg.cores_per_node * 1e3 / decode_ms)  # the GPU, or the decoding CPUs
    est["gpu"] = {
        "source": cfg.gpu.source,
        "gpu_ms_per_window": round(cfg.gpu.ms_per_window, 4),
        "gpu_ms_per_song": round(gpu_ms_song, 3),
        "decode_ms_per_song_one_core": round(decode_ms, 1),
        "songs_per_s_per_node": round(per_node, 1),
        "bound_by": "gpu" if 1e3 / gpu_ms_song < cfg.cores_per_node * 1e3 / decode_ms else "decoding on the CPUs",
        "hours_by_nodes": {str(n): round(cfg.library_songs / (n * per_node) / 3600, 3) for n in cfg.nodes},
    }
    return {"by_config": med, "ray_overhead": overhead, "estimate": est}


def markdown(res: dict) -> list[str]:
    """The report section for one batch results file."""
    s, h = res["summary"], res["host"]
    st = res["settings"]
    lines = [
        f"Host {h['hostname']} ({h['cpu'][:40]}, {h['cores']} cores), {res['created']}, commit {h.get('commit')}; "
        f"load average {res['load_before']} before, {res['load_after']} after (the machine is shared: compare "
        f"the ratios, measured in one run, more than the absolute figures). {st['songs']} songs of "
        f"{st['seconds']:.0f} s ({st['audio_format']}, 44.1 kHz stereo; {res['model']['windows_per_song']} windows "
        f"each) through {res['model']['name']}, median of {st['rounds']} round(s).",
        "",
        "| engine | workers | threads each | songs/s (whole run) | songs/s once running | fixed cost s | "
        "CPU s per song |",
        "|---|---|---|---|---|---|---|",
    ]
    for v in s["by_config"].values():
        fixed = "-" if v["fixed_s"] is None else f"{v['fixed_s']:.1f}"
        steady = "-" if v["steady_songs_per_s"] is None else f"{v['steady_songs_per_s']:.2f}"
        cpu = "-" if v.get("cpu_s_per_song") is None else f"{v['cpu_s_per_song']:.2f}"
        lines.append(
            f"| {v['engine']} | {v['workers']} | {v['threads']} | {v['songs_per_s']:.2f} | {steady} | {fixed} | {cpu} |"
        )
    lines.append("")
    if res.get("ray_init_s") is not None:
        lines.append(f"- Starting a local Ray took {res['ray_init_s']:.1f} s (once per run, not per song).")
    for k, o in s["ray_overhead"].items():
        lines.append(
            f"- Ray's overhead at {k}: "
            + (f"{o['cpu_ms_per_song']:+.0f} ms of CPU time per song, " if o.get("cpu_ms_per_song") is not None else "")
            + f"{o['fixed_s_extra']:+.1f} s of fixed cost per run (starting actors), "
            f"{o['wall_ms_per_song']:+.0f} ms of wall time per song once running (local/ray songs/s {o['ratio']:.2f})."
        )
    if any(o["wall_ms_per_song"] < 0 for o in s["ray_overhead"].values()):
        lines.append(
            "- Ray came out faster in wall time here, most likely because its decode tasks are processes of "
            "their own beside the actors, and on a shared, loaded host more runnable processes get a larger "
            "share of the cores (not measured apart). CPU time per song does not depend on that share: it is "
            "the cost to scale from."
        )
    e = s["estimate"]
    lines.append("")
    if "cpu" in e:
        c = e["cpu"]
        lines.append(
            f"- **1 M songs on CPU nodes** ({e['cores_per_node']} cores each, {c['core_s_per_song']:.3f} core-s per "
            f"song from {c['from']}, linear scaling assumed, start-up left out): "
            + ", ".join(f"{n} node(s) {hrs:.1f} h" for n, hrs in c["hours_by_nodes"].items())
            + "."
        )
    g = e["gpu"]
    lines.append(
        f"- **1 M songs on GPU nodes** (one GPU and {e['cores_per_node']} cores each): {g['gpu_ms_per_song']:.2f} ms "
        f"of GPU per song ({g['gpu_ms_per_window']:.3f} ms per window, from {g['source']}), and "
        f"{g['decode_ms_per_song_one_core']:.0f} ms of CPU time to decode and resample a song measured here, so a "
        f"node manages {g['songs_per_s_per_node']:.0f} songs/s, bound by {g['bound_by']}: "
        + ", ".join(f"{n} node(s) {hrs:.2f} h" for n, hrs in g["hours_by_nodes"].items())
        + "."
    )
    return lines
