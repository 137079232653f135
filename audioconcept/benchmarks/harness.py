"""`audioconcept bench`: one table covering every model, backend, device, precision, threads and batch."""

from __future__ import annotations

import json
import logging
import os
import pickle
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audioconcept.errors import AudioConceptError
from audioconcept.runtime.formats import Format

log = logging.getLogger(__name__)
RESULTS_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class BenchConfig:
    models: tuple[Path, ...]
    backends: tuple[str, ...] | None = None  # None: every backend available here
    threads: tuple[int, ...] = (1, 2)
    batches: tuple[int, ...] = (1, 16)
    warmup: int = 3
    repeats: int = 20
    eval_windows: int = 32
    data: str | None = None
    cold_start: bool = True
    out: Path | None = None
    min_agreement: float | None = None


def stats(ts: list[float]) -> dict:
    a = np.asarray(ts) * 1e3
    q1, med, q3 = np.percentile(a, [25, 50, 75])
    return {
        "p50_ms": float(med),
        "p95_ms": float(np.percentile(a, 95)),
        "p99_ms": float(np.percentile(a, 99)),
        "iqr_ms": float(q3 - q1),
        "mean_ms": float(a.mean()),
        "n": int(a.size),
        "noisy": bool((q3 - q1) > 0.25 * med),
    }


def available_backends(bundle) -> list[tuple[Format, str, str]]:
    """(format row, device, why-not) for every row and device of the formats table that fits this model;
    why-not is '' when it can run here."""
    from audioconcept.runtime.backends import unavailable_reason
    from audioconcept.runtime.formats import formats_for, kind_of

    return [(f, d, unavailable_reason(f, d, bundle)) for f in formats_for(kind_of(bundle.manifest)) for d in f.devices]


def _windows(bundle, data: str | None, n: int, song: Path) -> tuple[np.ndarray, np.ndarray | None, list[str], str]:
    """Real evaluation windows (test split) with their labels, from --data or the data the model was trained
    on; -> (x, labels of x or None, label names, where they came from). A bundle whose training data is not at
    hand (a packaged one) is timed on the benchmark song instead, without accuracy."""
    from audioconcept.data.audio import eval_chunks, load_audio, windows_from_array
    from audioconcept.data.spec import is_data_spec, load_tracks, parse_data_spec

    m = bundle.manifest
    spec = data or m.get("trained_on")
    sr = int(m.get("sample_rate") or 22050)
    ctx = int((m.get("frontend") or {}).get("context_samples") or 0)  # song framing (musicnn)
    try:
        tl = load_tracks(parse_data_spec(spec))
    except AudioConceptError as e:
        if data:
            raise
        # a packaged bundle's trained_on describes its data ("GTZAN features_30_sec.csv (real music, ...)"); a
        # checkpoint's own is a data spec whose files may be elsewhere: say which, never "bad --data" unasked
        held = is_data_spec(spec)
        why = (
            f"its training data is not at hand ({e}); pass --data for accuracy"
            if held
            else f"it was trained on {spec or 'data it does not name'}, which is not here; pass --data for accuracy"
        )
        log.log(
            logging.WARNING if held else logging.INFO,
            "%s: timing on %s without accuracy: %s",
            m["name"],
            song.name,
            why,
        )
        wins = [w.samples for w in windows_from_array(load_audio(song, sr=sr), m["window_s"], sr=sr, context=ctx)]
        x = np.stack([wins[i % len(wins)] for i in range(max(1, min(n, 4 * len(wins))))])
        if m["arch"] == "svm":
            from audioconcept.models.features import extract_features

            x = np.stack([extract_features(w, sr) for w in x])
        return x, None, list(m["labels"]), f"unlabelled windows of {song.name}: {why}"
    tracks = tl.split("test") or tl.split("all")
    xs, ys = [], []
    rng = np.random.default_rng(0)
    order = [tracks[i] for i in rng.permutation(len(tracks))]
    if m["arch"] == "svm":
        from audioconcept.models.features import batch_features

        # the 57 features, computed over the cores and cached per file
        chosen = order[:n]
        x = batch_features([t.path for t in chosen])
        return x, np.array([t.label for t in chosen]), list(m["labels"]), f"{spec} (test split)"
    for t in order:
        for c in eval_chunks(load_audio(t.path, sr=sr), m["window_s"], m.get("eval_chunks", 1), sr, ctx):
            xs.append(c)
            ys.append(t.label)
        if len(xs) >= n:
            break
    return np.stack(xs[:n]), np.array(ys[:n]), list(m["labels"]), f"{spec} (test split)"


def _eager_reference(bundle, x: np.ndarray):
    """Logits of the eager model from the source checkpoint, or None if it is not at hand."""
    src = Path(bundle.manifest["source_checkpoint"].get("path", ""))
    if not src.exists():  # a packaged bundle names its checkpoint ("(not shipped) cnn-q") without shipping it
        log.info("%s: its source checkpoint (%s) is not here: no agreement with the eager model", bundle.name, src)
        return None
    try:
        from audioconcept.models.checkpoint import load_any

        model, _ = load_any(src)
    except Exception as e:  # noqa: BLE001 - faithfulness is then reported as unavailable
        log.info("no eager reference for %s (%s)", bundle.name, e)
        return None
    if bundle.arch == "svm":
        return np.log(np.clip(model.predict_proba(x), 1e-12, None))
    import torch

    with torch.inference_mode():
        return np.concatenate([model(torch.from_numpy(x[i : i + 8])).numpy() for i in range(0, len(x), 8)])


def _baseline(bundle, x1: np.ndarray, cfg: BenchConfig) -> dict | None:
    """The original project's way: eager torch, torchaudio-style front end, whole-module pickle."""
    try:
        import torch

        from audioconcept.models.checkpoint import load_torch_checkpoint
    except ImportError:
        return None
    if bundle.arch == "svm":
        return None
    try:
        model, _ = load_torch_checkpoint(Path(bundle.manifest["source_checkpoint"]["path"]))
    except Exception:  # noqa: BLE001
        return None
    blob = pickle.dumps(model)
    t = time.perf_counter()
    model = pickle.loads(blob)
    load_s = time.perf_counter() - t
    torch.set_num_threads(max(cfg.threads))
    xt = torch.from_numpy(x1)
    ts = []
    with torch.inference_mode():
        for i in range(cfg.warmup + cfg.repeats):
            t = time.perf_counter()
            model(xt)
            if i >= cfg.warmup:
                ts.append(time.perf_counter() - t)
    return {
        "backend": "baseline-eager-pickle",
        "device": "cpu",
        "threads": max(cfg.threads),
        "batch": 1,
        "load_s": load_s,
        **stats(ts),
    }


def feature_ms(song: Path, window_s: float, repeats: int = 3) -> dict:
    """The SVM's 57 features for one window, numpy against the librosa path, side by side in one
    fresh single-threaded process: {"numpy": stats, "librosa": stats or None}."""
    code = (
        "import json,sys,time; from audioconcept.data.audio import load_audio; "
        "from audioconcept.models.features import extract_features as f\n"
        "try:\n from audioconcept.models.features_librosa import extract_features_librosa as g; import librosa\n"
        "except ImportError:\n g=None\n"
        "x=load_audio(sys.argv[1], duration=float(sys.argv[2])); ts={'numpy':[],'librosa':[]}\n"
        "for _ in range(int(sys.argv[3])+1):\n"
        " for k,h in (('numpy',f),('librosa',g)):\n"
        "  if h: t=time.perf_counter(); h(x); ts[k].append(time.perf_counter()-t)\n"
        "print(json.dumps({k:v[1:] for k,v in ts.items()}))"
    )
    one = {v: "1" for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")}
    r = subprocess.run(
        [sys.executable, "-c", code, str(song), str(window_s), str(repeats)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **one},
    )
    if r.returncode != 0:
        log.warning("feature timing failed: %s", r.stderr.strip().splitlines()[-1:] or r.returncode)
        return {"numpy": None, "librosa": None}
    ts = json.loads(r.stdout.strip().splitlines()[-1])
    return {k: stats(v) if v else None for k, v in ts.items()}


def peak_rss_mb(bundle_root: Path, backend: str, device: str, song: Path) -> float | None:
    """Peak RSS of one prediction in a fresh process (the child's VmHWM; ru_maxrss where there is no /proc)."""
    # VmHWM, not ru_maxrss: on Linux ru_maxrss survives exec and would report the parent's peak
    code = (
        "import resource,sys,pathlib; from audioconcept.runtime import load; "
        "m=load(sys.argv[1], backend=sys.argv[2], device=sys.argv[3]); m.predict(sys.argv[4]); "
        "st=pathlib.Path('/proc/self/status'); "
        "print(int(st.read_text().split('VmHWM:')[1].split()[0]) if st.exists() else "
        "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, str(bundle_root), backend, device, str(song)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if r.returncode != 0:
        return None
    return int(r.stdout.strip().splitlines()[-1]) / 1024


def cold_start_s(bundle_root: Path, backend: str, device: str, song: Path, repeats: int = 3) -> float | None:
    """Process start to printed result of the whole `audioconcept-run` command (median of runs)."""
    exe = Path(sys.executable).with_name("audioconcept-run")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from audioconcept.cli_run import main; main()"]
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        r = subprocess.run(
            [
                *cmd,
                str(song),
                "--model",
                str(bundle_root),
                "--backend",
                backend,
                "--device",
                device,
                "--format",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if r.returncode != 0:
            return None
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def feature_row(m: dict, feats: dict) -> dict | None:
    """The SVM-features row: ms per clip of the numpy features against the librosa path."""
    npy, lib = feats["numpy"], feats["librosa"]
    if npy is None:
        return None
    row = {"model": m["name"], "arch": "svm", "backend": "features-numpy", "device": "cpu", "precision": "fp64"}
    row.update({"threads": 1, "batch": 1, **npy, "status": "measured"})
    if lib:
        row.update({"librosa_p50_ms": lib["p50_ms"], "speedup_vs_librosa": lib["p50_ms"] / npy["p50_ms"]})
        row["reason"] = f"librosa path {lib['p50_ms']:.0f} ms in the same process: {row['speedup_vs_librosa']:.1f}x"
    else:
        row["reason"] = "librosa not installed: no side-by-side figure"
    return row


def bench_bundle(root: Path, cfg: BenchConfig, host: dict, song: Path) -> list[dict]:
    from audioconcept.benchmarks.flops import onnx_flops
    from audioconcept.runtime.backends import make_backend
    from audioconcept.runtime.bundle import open_bundle
    from audioconcept.runtime.frontend import NumpyMelFrontEnd

    bundle = open_bundle(root)
    m = bundle.manifest
    rows: list[dict] = []
    x, y, labels, source = _windows(bundle, cfg.data, cfg.eval_windows, song)
    ref = _eager_reference(bundle, x)
    flops_cache: dict[str, int] = {}

    def flops_for(be) -> int | None:
        """FLOPs of what this backend runs: its ONNX graph, plus the numpy FFT front end if it uses one."""
        if m["arch"] == "svm" or not bundle.has("onnx"):
            return None
        # the graph a torch backend runs is the same network: count it on model.onnx
        art = be.artifact if be.artifact.startswith("onnx") else "onnx"
        if art not in flops_cache:
            flops_cache[art] = onnx_flops(bundle.artifact(art))
        f = flops_cache[art]
        if getattr(be, "input_kind", "") == "mel":
            fe = m["frontend"]
            n, frames = fe["n_fft"], 1 + m["window_samples"] // fe["hop_length"]
            f += int(frames * (2.5 * n * np.log2(n) + 2 * fe["n_mels"] * (n // 2 + 1)))
        return f

    base = _baseline(bundle, x[:1], cfg)
    if base:
        base.update({"model": m["name"], "arch": m["arch"], "precision": "fp32", "status": "reference"})
        rows.append(base)
    feats = feature_ms(song, m["window_s"]) if m["arch"] == "svm" else None
    if feats and (frow := feature_row(m, feats)):
        rows.append(frow)
    combos = available_backends(bundle)
    for fmt, device, why in combos:
        backend = fmt.backend
        if cfg.backends and backend not in cfg.backends:
            continue
        key = fmt.artifact
        art = m["artifacts"].get(key, {})
        row_base = {
            "model": m["name"],
            "arch": m["arch"],
            "backend": backend,
            "device": device,
            "precision": art.get("precision", "fp32"),
            "size_mb": round(art.get("size_bytes", 0) / 1e6, 3),
        }
        if why:
            rows.append({**row_base, "status": "unavailable", "reason": why})
            continue
        for threads in cfg.threads:
            try:
                t = time.perf_counter()
                be = make_backend(bundle, backend, device, threads)
                load_s = time.perf_counter() - t
            except AudioConceptError as e:
                rows.append({**row_base, "threads": threads, "status": "unavailable", "reason": str(e)})
                break
            if fmt.engine == "torch":
                import torch

                torch.set_num_threads(threads)
            # the front end the runtime would run with this backend: same blocks, same threads
            fe = NumpyMelFrontEnd(m["frontend"], be.threads.frontend) if be.input_kind == "mel" else None

            def prep(a, fe=fe):
                return fe(a) if fe is not None else a

            # faithfulness on real windows
            outs = np.concatenate([be.run(prep(x[i : i + 8])).logits for i in range(0, len(x), 8)])
            pred = np.array(labels)[outs.argmax(1)]
            faith: dict = {"eval_data": source, "n_eval": len(x)}
            if y is not None:
                faith["accuracy"] = float(np.mean(pred == y))
            if ref is not None:
                d = np.abs(outs - ref)
                faith.update(
                    {
                        "top1_agreement": float(np.mean(outs.argmax(1) == ref.argmax(1))),
                        "max_abs_dlogit": float(d.max()),
                        "mean_abs_dlogit": float(d.mean()),
                    }
                )
            feat_ms = feats["numpy"]["p50_ms"] if feats and feats["numpy"] else 0.0
            flops = flops_for(be)
            first_row = len(rows)
            for batch in cfg.batches:
                xb = np.repeat(x[:1], batch, axis=0) if len(x) < batch else x[:batch]
                ts = []
                for i in range(cfg.warmup + cfg.repeats):
                    t = time.perf_counter()
                    be.run(prep(xb))
                    if i >= cfg.warmup:
                        ts.append(time.perf_counter() - t)
                st = stats(ts)
                if feat_ms:  # the SVM's cost is its features, once per clip
                    st = {
                        **st,
                        "model_only_p50_ms": st["p50_ms"],
                        "feature_ms_per_clip": feat_ms,
                        "p50_ms": st["p50_ms"] + feat_ms * batch,
                    }
                run_art = getattr(be, "artifact", key)
                row = {
                    **row_base,
                    "threads": threads,
                    "batch": batch,
                    "load_s": load_s,
                    **st,
                    **faith,
                    "artifact": run_art,
                    # what this backend loads (onnx on the CPU: model.body.onnx, not model.onnx)
                    "artifact_size_mb": round(m["artifacts"].get(run_art, art).get("size_bytes", 0) / 1e6, 3),
                }
                per_clip = st["p50_ms"] / 1e3 / batch
                row["clips_per_s"] = 1.0 / per_clip
                row["x_realtime"] = m["window_s"] / per_clip
                if flops:
                    row["gflops_per_clip"] = flops / 1e9
                    row["gflops_per_s"] = flops / 1e9 / per_clip
                    row["fraction_of_peak"] = row["gflops_per_s"] / host["peak_gflops_fp32"]
                if base and m["arch"] != "svm":
                    row["speedup_vs_baseline"] = base["p50_ms"] / (st["p50_ms"] / batch)
                if fmt.engine == "onnxruntime" and m.get("concepts") and hasattr(be, "session"):
                    # onnxruntime computes only what the requested outputs need
                    only = [n for n in be.output_names if n in ("logits", "probabilities")]
                    feed = {be.input_name: prep(xb).astype(np.float32)}
                    timing = {}
                    for label, names in (("all", None), ("classification", only)):
                        t2 = []
                        for _ in range(max(5, cfg.repeats // 2)):
                            t = time.perf_counter()
                            be.session.run(names, feed)
                            t2.append(time.perf_counter() - t)
                        timing[label] = float(np.median(t2)) * 1e3
                    row["concept_overhead_ms"] = timing["all"] - timing["classification"]
                ok = ref is None or faith.get("top1_agreement", 1.0) >= fmt.gate.min_top1_agreement
                row["status"] = "validated" if ok else "failed validation"
                rows.append(row)
            if cfg.cold_start and threads == cfg.threads[0] and fmt.engine in ("onnxruntime", "executorch"):
                rows[first_row]["cold_start_s"] = cold_start_s(root, backend, device, song)
                rows[first_row]["peak_rss_mb"] = peak_rss_mb(root, backend, device, song)
    return rows


def run_bench(cfg: BenchConfig) -> dict:
    from audioconcept.benchmarks.hostinfo import host_info
    from audioconcept.data.synth.demo_song import make_demo_song
    from audioconcept.utils import atomic_write_json

    host = host_info()
    song = Path(os.environ.get("AUDIOCONCEPT_BENCH_SONG", "")) if os.environ.get("AUDIOCONCEPT_BENCH_SONG") else None
    if song is None:
        import tempfile

        song = Path(tempfile.mkdtemp()) / "bench_song.wav"
        make_demo_song(song, seconds_per_section=7.5)  # a 30 s clip
    res = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "host": host,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": {
            "warmup": cfg.warmup,
            "repeats": cfg.repeats,
            "threads": list(cfg.threads),
            "batches": list(cfg.batches),
            "eval_windows": cfg.eval_windows,
            "timing": "median and IQR of wall-clock per call; noisy = IQR > 25% of median",
        },
        "rows": [],
    }
    for root in cfg.models:
        log.info("benchmarking %s", root)
        try:
            res["rows"] += bench_bundle(Path(root), cfg, host, song)
        except AudioConceptError as e:  # one bad bundle never costs the rows of the others
            log.error("%s: %s", root, e)
            err = {"model": Path(root).name, "backend": "-", "device": "-", "status": "error", "reason": str(e)}
            res["rows"].append(err)
        add_ratios(res["rows"])
        add_onnx_ratios(res["rows"])
        if cfg.out:  # written after every model: an interrupted run keeps what it measured
            atomic_write_json(cfg.out, res)
    return res


def add_ratios(rows: list[dict]) -> None:
    """`x_fastest`: each CPU row's p50 over the fastest validated CPU backend of the same model, threads and
    batch in this run (1.0 = the fastest). Ratios, unlike milliseconds, compare across hosts."""
    best: dict[tuple, float] = {}
    for r in rows:
        if r.get("device") == "cpu" and "p50_ms" in r and r.get("status") in ("validated", "reference", None):
            k = (r["model"], r.get("threads"), r.get("batch"))
            best[k] = min(best.get(k, float("inf")), r["p50_ms"])
    for r in rows:
        k = (r.get("model"), r.get("threads"), r.get("batch"))
        if r.get("device") == "cpu" and "p50_ms" in r and k in best:
            r["x_fastest"] = round(r["p50_ms"] / best[k], 3)


VS_ONNX = (("p50", "p50_ms"), ("size", "artifact_size_mb"), ("cold_start", "cold_start_s"), ("peak_rss", "peak_rss_mb"))


def add_onnx_ratios(rows: list[dict]) -> None:
    """`vs_onnx`: each other CPU row's latency, loaded artifact size, cold start and peak RSS over the onnx row of
    the same model, threads and batch in this run (cold start and RSS: measured at the first thread count)."""
    onnx = {
        (r["model"], r.get("threads"), r.get("batch")): r
        for r in rows
        if r.get("backend") == "onnx" and r.get("device") == "cpu" and "p50_ms" in r
    }
    for r in rows:
        ref = onnx.get((r.get("model"), r.get("threads"), r.get("batch")))
        if ref is None or r is ref or r.get("device") != "cpu" or "p50_ms" not in r or r.get("status") == "reference":
            continue
        r["vs_onnx"] = {name: round(r[k] / ref[k], 3) for name, k in VS_ONNX if r.get(k) and ref.get(k)}


def check_agreement(res: dict, min_agreement: float) -> list[str]:
    return [
        f"{r['model']} {r['backend']} {r['device']} t{r.get('threads')} b{r.get('batch')}: "
        f"top-1 agreement {r['top1_agreement']:.3f} < {min_agreement}"
        for r in res["rows"]
        if "top1_agreement" in r and r["top1_agreement"] < min_agreement
    ]


def load_results(paths: list[Path]) -> list[dict]:
    out = []
    for p in paths:
        d = json.loads(Path(p).read_text())
        if d.get("schema_version") != RESULTS_SCHEMA_VERSION or "rows" not in d:
            raise AudioConceptError(f"{p}: not a benchmark results file (schema_version {RESULTS_SCHEMA_VERSION})")
        out.append(d)
    return out
