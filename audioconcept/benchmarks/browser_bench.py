"""`audioconcept bench browser`: the in-browser page against audioconcept-run on the same song, in one run.

For every model the page runs and every thread setting, the same 30 s song (a real recording, looped to 30 s,
written at the model's rate so that neither side resamples) is analysed by:
- the page in headless Chromium (`window.audioconcept.analyse`): threads off = served without COOP/COEP
  (onnxruntime-web on one thread), threads on = cross-origin isolated with N threads;
- the Python runtime (`load(model, threads=N).predict`), onnxruntime + the numpy front end.
Per window: front end and model body, each timed on both sides. Per song: the whole analysis, decoding included.
The two sides' runs alternate, so that both see the same load on the host.
"""

from __future__ import annotations

import json
import logging
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audioconcept.benchmarks.chromium import chromium, page_analyse, served
from audioconcept.data.audio import load_audio, windows_from_array, write_audio
from audioconcept.errors import AudioConceptError
from audioconcept.runtime.model import load
from audioconcept.runtime.site import build_site
from audioconcept.utils import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BrowserBenchConfig:
    song: Path
    out: Path
    models: tuple[str, ...] = ("musicnn-gtzan", "cnn-synth")
    threads: tuple[int, ...] = (1, 2)
    seconds: float = 30.0
    repeats: int = 3
    screenshot: Path | None = None


def python_once(m, wav: Path, wins) -> dict:
    """One audioconcept-run analysis of the song, then its windows' front end and body timed apart."""
    t0 = time.perf_counter()
    m.predict(wav)
    song = (time.perf_counter() - t0) * 1e3
    front = body = 0.0
    for w in wins:
        t1 = time.perf_counter()
        mel = m.prepare_array(w.samples[None])
        t2 = time.perf_counter()
        m.backend.run(mel)
        front += t2 - t1
        body += time.perf_counter() - t2
    return {"total": song, "frontend": front * 1e3, "body": body * 1e3, "windows": len(wins)}


def summarise(timings: list[dict], first: dict) -> dict:
    """Medians over the runs of the song time and of the mean front end and body per window."""
    n = timings[0]["windows"]
    front = statistics.median(t["frontend"] / n for t in timings)
    body = statistics.median(t["body"] / n for t in timings)
    return {
        "windows": n,
        "song_ms": round(statistics.median(t["total"] for t in timings), 1),
        "frontend_ms": round(front, 2),
        "body_ms": round(body, 2),
        "window_ms": round(front + body, 2),
        "device": first["device"],
        "genres": {g["label"]: g["probability"] for g in first["genres"]},
        "concepts_present": first["concepts_present"],
    }


def side_by_side(driver, page_url: str, song_url: str, model: str, wav: Path, threads: int, repeats: int):
    """The page and audioconcept-run on the same song, runs interleaved (both see the same host load)."""
    m = load(model, threads=threads)
    x = load_audio(wav, sr=m.sample_rate)
    wins = windows_from_array(x, m.window_s, m.hop_s, sr=m.sample_rate, context=m.context)
    page_first = page_analyse(driver, page_url, song_url, model)  # warm-ups (the page loads the model)
    if "error" in page_first:
        raise AudioConceptError(f"the page failed on {song_url}: {page_first['error']}")
    py_first = m.predict(wav).to_dict()
    page_t, py_t = [], []
    for _ in range(repeats):
        page_t.append(page_analyse(driver, page_url, song_url, model)["timing_ms"])
        py_t.append(python_once(m, wav, wins))
    return summarise(page_t, page_first), summarise(py_t, py_first)


def run_browser_bench(cfg: BrowserBenchConfig) -> dict:
    from audioconcept.benchmarks.hostinfo import host_info

    rows = []
    with tempfile.TemporaryDirectory(prefix="ac-web-bench-") as tmp:
        site = Path(tmp) / "site"
        meta = build_site(list(cfg.models), site)
        (site / "songs").mkdir()
        with chromium(Path(tmp) / "profile") as driver:
            version = driver.capabilities.get("browserVersion", "?")
            for model in cfg.models:
                sr = load(model).sample_rate
                x = load_audio(cfg.song, sr=sr)
                wav = site / "songs" / f"{model}.wav"
                write_audio(wav, np.resize(x, int(cfg.seconds * sr)), sr, subtype="FLOAT")
                for threads in cfg.threads:
                    isolated = threads > 1
                    with served(site, isolated=isolated) as url:
                        page_url = url + (f"?threads={threads}" if isolated else "")
                        song_url = url + f"songs/{model}.wav"
                        page, py = side_by_side(driver, page_url, song_url, model, wav, threads, cfg.repeats)
                    rows.append(
                        {
                            "model": model,
                            "threads": threads,
                            "coop_coep": isolated,
                            "page": page,
                            "python": py,
                            "ratio_window": round(page["window_ms"] / py["window_ms"], 2),
                            "ratio_song": round(page["song_ms"] / py["song_ms"], 2),
                            "max_genre_diff": max(abs(page["genres"].get(k, 0.0) - v) for k, v in py["genres"].items()),
                            "same_concepts_present": page["concepts_present"] == py["concepts_present"],
                        }
                    )
                    log.info("%s threads %d: page %.1f ms/window, python %.1f", model, threads, page["window_ms"],
                             py["window_ms"])  # fmt: skip
            resampled = browser_resampling(driver, site, cfg.song, cfg.models)
        live = live_latency(site, cfg.song, cfg.models[0], Path(tmp))
        if cfg.screenshot is not None:
            take_screenshot(site, cfg.song, cfg.screenshot, Path(tmp) / "profile-shot")
    res = {
        "kind": "browser",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "song": Path(cfg.song).name,
        "seconds": cfg.seconds,
        "repeats": cfg.repeats,
        "chromium": version,
        "onnxruntime_web": meta["ort_version"],
        "host": host_info(),
        "rows": rows,
        "live": live,
        "resampled": resampled,
    }
    cfg.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(cfg.out / "bench.json", res)
    atomic_write_text(cfg.out / "BENCH.md", render_table(res))
    return res


def render_table(res: dict) -> str:
    host = res["host"]
    cpu = host.get("cpu") or host.get("cpu_model") or "?"
    lines = [
        f"Song: {res['song']} looped to {res['seconds']:.0f} s, at each model's rate; median of {res['repeats']} runs "
        f"after a warm-up. Chromium {res['chromium']}, onnxruntime-web {res['onnxruntime_web']} (WASM); "
        f"audioconcept-run: onnxruntime + numpy. Host: {cpu}, {host.get('cores', host.get('logical_cores', '?'))} "
        f"cores. Generated by `audioconcept bench browser` on {res['created']}.",
        "",
        "| model | threads | COOP/COEP | windows | page ms/window (front end + body) "
        "| run ms/window (front end + body) "
        "| ratio/window | page ms/song | run ms/song | ratio/song | genre p, max diff | same concepts |",
        "|---|---:|:---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in res["rows"]:
        p, q = r["page"], r["python"]
        lines.append(
            f"| {r['model']} | {r['threads']} | {'on' if r['coop_coep'] else 'off'} | {p['windows']} "
            f"| {p['window_ms']:.1f} ({p['frontend_ms']:.1f} + {p['body_ms']:.1f}) "
            f"| {q['window_ms']:.1f} ({q['frontend_ms']:.1f} + {q['body_ms']:.1f}) | {r['ratio_window']:.2f}x "
            f"| {p['song_ms']:.0f} | {q['song_ms']:.0f} | {r['ratio_song']:.2f}x "
            f"| {r.get('max_genre_diff', float('nan')):.1e} | {'yes' if r.get('same_concepts_present') else 'no'} |"
        )
    for r in res.get("resampled") or []:
        lines += [
            "",
            f"{r['model']} on the original file ({res['song']}), resampled by the browser (WebAudio) against soxr in "
            f"audioconcept-run: same top genre: {'yes' if r['same_top'] else 'no'}; genre probabilities differ by "
            f"up to {r['max_genre_diff']:.1e}; same present concepts: {'yes' if r['same_concepts_present'] else 'no'}.",
        ]
    live = res.get("live")
    if live:
        lines += [
            "",
            f"Live mode ({live['model']}, Chromium's fake microphone playing the song, COOP/COEP on): "
            f"{len(live['latency_ms'])} windows, latency from a window's last sample to its row on the screen: "
            f"median {live['median_ms']:.0f} ms, max {live['max_ms']:.0f} ms.",
        ]
    return "\n".join(lines) + "\n"


def browser_resampling(driver, site: Path, song: Path, models: tuple[str, ...]) -> list[dict]:
    """The original file, which the browser decodes and resamples itself (WebAudio, not soxr): how far the page's
    answer is from audioconcept-run's on the same file."""
    import shutil

    rel = f"songs/original{Path(song).suffix}"
    shutil.copyfile(song, site / rel)
    out = []
    with served(site) as url:
        for model in models:
            page = page_analyse(driver, url, url + rel, model)
            if "error" in page:
                raise AudioConceptError(f"the page failed on {song}: {page['error']}")
            py = load(model).predict(song).to_dict()
            got = {g["label"]: g["probability"] for g in page["genres"]}
            out.append(
                {
                    "model": model,
                    "same_top": page["genres"][0]["label"] == py["genres"][0]["label"],
                    "max_genre_diff": max(abs(got.get(g["label"], 0.0) - g["probability"]) for g in py["genres"]),
                    "same_concepts_present": page["concepts_present"] == py["concepts_present"],
                }
            )
    return out


def live_latency(site: Path, song: Path, model: str, tmp: Path, rows: int = 6) -> dict:
    """Listen mode on Chromium's fake microphone fed from `song`: the page's measured latencies of `rows` windows."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wav = tmp / "mic.wav"
    write_audio(wav, load_audio(song, sr=16000), 16000, subtype="PCM_16")
    flags = (
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}",
    )
    with served(site) as url, chromium(tmp / "profile-live", *flags) as d:
        d.get(url + f"?model={model}")
        wait = WebDriverWait(d, 300)
        wait.until(lambda x: x.execute_script("return document.body.dataset.state") == "idle")
        d.find_element(By.ID, "listen").click()
        cells = "#live-rows td.latency[data-ms]"
        wait.until(lambda x: len(x.find_elements(By.CSS_SELECTOR, cells)) >= rows)
        ms = [float(c.get_attribute("data-ms")) for c in d.find_elements(By.CSS_SELECTOR, cells)]
        d.find_element(By.ID, "listen").click()
    return {"model": model, "latency_ms": ms, "median_ms": statistics.median(ms), "max_ms": max(ms)}


def take_screenshot(site: Path, song: Path, out: Path, profile: Path) -> Path:
    """The page after a person drops `song` (the default model), the player halfway: a PNG."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from audioconcept.utils import atomic_write_bytes

    with served(site) as url, chromium(profile, size="1200,2300") as d:
        d.get(url)
        wait = WebDriverWait(d, 120)
        wait.until(lambda x: x.execute_script("return document.body.dataset.state") == "idle")
        d.find_element(By.ID, "file").send_keys(str(Path(song).resolve()))
        wait.until(lambda x: x.execute_script("return document.body.dataset.state") in ("done", "error"))
        if d.execute_script("return document.body.dataset.state") == "error":
            raise AudioConceptError(f"screenshot: {d.find_element(By.ID, 'error').text}")
        d.execute_script(
            "const p = document.getElementById('player'); p.currentTime = p.duration / 2;"
            "document.querySelector('.timeline').scrollIntoView({block: 'center'});"
        )
        time.sleep(0.5)
        atomic_write_bytes(out, d.get_screenshot_as_png())
    return out


def summary(res: dict) -> str:
    return json.dumps([{k: r[k] for k in ("model", "threads", "ratio_window", "ratio_song")} for r in res["rows"]])
