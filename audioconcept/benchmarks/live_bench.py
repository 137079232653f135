"""`audioconcept bench live`: latency of live analysis through a real-time-paced pipe of a real song, per model and
thread count, with the real-time factor and the CPU share it takes.

Each run is the command a user would type, `python -m audioconcept.runtime.pace SONG | audioconcept-run --live -
--format jsonl --model M --threads T`, in processes of its own: the pacer writes 20 ms blocks of a WAV stream, each
once its last sample would have been captured, and every line the analyser prints carries the wall-clock time from
the arrival of the block holding the window's last sample to that line being written. The song is looped so that
every model gets at least `min_windows` windows; models whose own hop is longer than `max_hop_s` (the 29-30 s CNN and
SVM windows) are run at that hop, since live output every 20-30 s says little.

- latency: median, p95 and max over every window of the run (the first included: it pays for onnxruntime's first
  run);
- real-time factor: time spent analysing windows / seconds of audio heard (below 1 keeps up);
- CPU share: the analyser's CPU time (every thread: reading the pipe, resampling, analysing, waiting) / wall time
  of the stream, in cores and as a share of this machine's cores.

The machine is shared: the load average before and after each run is recorded beside it.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from audioconcept.data.audio import audio_info, window_starts
from audioconcept.runtime.threads import usable_cores
from audioconcept.utils import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)
LIVE_RESULTS_KIND = "live"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class LiveBenchConfig:
    song: Path
    models: tuple[str, ...] = ("musicnn-gtzan", "cnn-synth", "svm-gtzan")
    threads: tuple[int, ...] = (1, 2)
    min_windows: int = 5
    max_hop_s: float = 5.0
    out: Path | None = None
    table: Path | None = None


def _load() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def plan(model: str, song_s: float, min_windows: int, max_hop_s: float) -> dict:
    """Hop, loops of the song and the windows they give for one model."""
    from audioconcept.runtime.bundle import read_manifest
    from audioconcept.runtime.registry import resolve_bundle

    m = read_manifest(resolve_bundle(model))
    window_s = float(m["window_s"])
    own_hop = float(m.get("hop_s") or window_s)
    hop = own_hop if own_hop <= max_hop_s else max_hop_s
    loops = 1
    while window_s + (min_windows - 1) * hop > loops * song_s:
        loops += 1
    sr = int(m["sample_rate"])
    n = len(window_starts(round(loops * song_s * sr), round(window_s * sr), round(hop * sr)))
    return {"model": model, "window_s": window_s, "hop_s": hop, "own_hop_s": own_hop, "loops": loops, "windows": n}


def run_one(song: Path, p: dict, threads: int) -> dict:
    """One paced run; -> its figures (or an error)."""
    pacer_cmd = [sys.executable, "-m", "audioconcept.runtime.pace", str(song), "--loop", str(p["loops"])]
    run_cmd = [sys.executable, "-c", "from audioconcept.cli_run import main; main()", "--live", "-", "--format",
               "jsonl", "--model", p["model"], "--threads", str(threads)]  # fmt: skip
    if p["hop_s"] != p["own_hop_s"]:
        run_cmd += ["--hop", str(p["hop_s"])]
    load_before = _load()
    t = time.perf_counter()
    pacer = subprocess.Popen(pacer_cmd, stdout=subprocess.PIPE)
    r = subprocess.run(run_cmd, stdin=pacer.stdout, capture_output=True, text=True, timeout=3600)
    pacer.stdout.close()
    pacer.wait(timeout=60)
    row = {**p, "threads": threads, "load_before": load_before, "load_after": _load(),
           "elapsed_s": round(time.perf_counter() - t, 2)}  # fmt: skip
    if r.returncode != 0:
        row["error"] = (r.stderr.strip().splitlines() or ["failed"])[-1]
        return row
    lines = [json.loads(ln) for ln in r.stdout.splitlines() if ln.strip()]
    windows = [ln for ln in lines if ln["type"] == "window"]
    s = lines[-1]
    lat = np.asarray([w["latency_s"] for w in windows])
    cores = usable_cores()
    row.update(
        analysed=s["windows"],
        skipped=s["skipped"],
        heard_s=s["heard_s"],
        latency_ms={
            "median": round(float(np.median(lat)) * 1e3, 1),
            "p95": round(float(np.percentile(lat, 95)) * 1e3, 1),
            "max": round(float(lat.max()) * 1e3, 1),
            "first": round(float(lat[0]) * 1e3, 1),
        },
        latencies_ms=[round(float(v) * 1e3, 1) for v in lat],
        analysis_ms=[round(w["analysis_s"] * 1e3, 1) for w in windows],
        real_time_factor=s["real_time_factor"],
        cpu_cores=round(s["cpu_s"] / s["wall_s"], 3) if s["wall_s"] else None,
        cpu_share=round(s["cpu_s"] / s["wall_s"] / cores, 3) if s["wall_s"] else None,
        cores=cores,
        genre=s["song"]["genres"][0]["label"],
    )
    return row


def run_live_bench(cfg: LiveBenchConfig) -> dict:
    from audioconcept.benchmarks.hostinfo import host_info

    song_s = audio_info(cfg.song).duration
    res: dict = {
        "kind": LIVE_RESULTS_KIND,
        "schema_version": SCHEMA_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": host_info(),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
        "song": {"path": str(cfg.song), "seconds": round(song_s, 3)},
        "runs": [],
    }
    for model in cfg.models:
        p = plan(model, song_s, cfg.min_windows, cfg.max_hop_s)
        for t in cfg.threads:
            log.info("%s, %d thread(s): %d x %.1f s of %s (load %s)", model, t, p["loops"], song_s, cfg.song, _load())
            res["runs"].append(run_one(cfg.song, p, t))
            if cfg.out:  # what was measured so far survives an interruption
                atomic_write_json(cfg.out, res)
    if cfg.out:
        atomic_write_json(cfg.out, res)
    if cfg.table:
        atomic_write_text(cfg.table, "\n".join(markdown(res)) + "\n")
    return res


def markdown(res: dict) -> list[str]:
    """The generated table for one live results file."""
    h = res["host"]
    loads = [r["load_before"][0] for r in res["runs"] if r.get("load_before")]
    lines = [
        f"Host {h['hostname']} ({h['cpu'][:40]}, {h['cores']} cores), {res['created']}, commit {h.get('commit')}. "
        f"Song {Path(res['song']['path']).name} ({res['song']['seconds']:.1f} s, looped where a model needs more "
        "windows), paced at real time through a pipe. **The machine was shared with other jobs**: the 1-minute load "
        f"average before the runs was {min(loads, default=0):.1f} to {max(loads, default=0):.1f} on "
        f"{h['cores']} cores, so latencies here are upper bounds for an idle machine.",
        "",
        "| model | window s | hop s | threads | windows (skipped) | latency median ms | p95 ms | max ms | "
        "of which analysis, median ms | real-time factor | CPU cores | CPU share | load before |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["runs"]:
        if "error" in r:
            lines.append(f"| {r['model']} | | | {r['threads']} | error: {r['error']} | | | | | | | | |")
            continue
        lat = r["latency_ms"]
        analysis = f"{statistics.median(r['analysis_ms']):.0f}" if r.get("analysis_ms") else "-"
        lines.append(
            f"| {r['model']} | {r['window_s']:g} | {r['hop_s']:g} | {r['threads']} | "
            f"{r['analysed']} ({r['skipped']}) | "
            f"{lat['median']:.0f} | {lat['p95']:.0f} | {lat['max']:.0f} | {analysis} | {r['real_time_factor']:.3f} | "
            f"{r['cpu_cores']:.2f} | {r['cpu_share']:.0%} | {r['load_before'][0] if r['load_before'] else '-'} |"
        )
    ok = [r for r in res["runs"] if "error" not in r]
    if ok:
        lines += [
            "",
            "Latency: from the arrival of the 20 ms block holding a window's last sample to its line being written "
            "(the first window included); of which analysis: the front end, model and head (the rest is the "
            "resampler's filter delay, the block granularity and, on a busy machine, waiting for a core). Real-time "
            "factor: analysis time / audio heard. CPU: the analyser's CPU time over the stream's wall time, in cores "
            "and as a share of the machine.",
        ]
        default = [r for r in ok if r["model"] == "musicnn-gtzan"]
        if default:
            worst = max(r["latency_ms"]["p95"] for r in default)
            med = statistics.median(r["latency_ms"]["median"] for r in default)
            lines.append(
                f"Default model: median {med:.0f} ms, worst p95 {worst:.0f} ms against the 250 ms target: "
                + ("met." if worst < 250 else "**missed** on this run.")
            )
    return lines
