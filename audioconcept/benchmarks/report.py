"""`audioconcept bench report`: merge result files from any number of hosts into one Markdown report."""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

from audioconcept.benchmarks.harness import load_results
from audioconcept.train.plots import save_figure
from audioconcept.utils import atomic_write_text


def host_label(res: dict) -> str:
    h = res["host"]
    gpu = f", {h['gpu']['name']}" if h.get("gpu") else ""
    return f"{h['hostname']} ({h['cpu'][:40]}, {h['cores']} cores{gpu})"


def _fmt(v, spec=".2f") -> str:
    return "-" if v is None else format(v, spec)


def merge(results: list[dict]) -> dict:
    """model -> (backend, device, precision, threads, batch) -> host -> row."""
    table: dict = defaultdict(lambda: defaultdict(dict))
    for res in results:
        host = host_label(res)
        for r in res["rows"]:
            key = (r["backend"], r["device"], r.get("precision", ""), r.get("threads", "-"), r.get("batch", "-"))
            table[r["model"]][key][host] = r
    return table


def _plots(results: list[dict], out_dir: Path, stem: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    rows = [(host_label(res), r) for res in results for r in res["rows"] if "p50_ms" in r and r.get("batch") == 1]
    if not rows:
        return names
    fig, ax = plt.subplots(figsize=(9, 0.3 * len(rows) + 1.5))
    labels = [f"{r['model']} {r['backend']}/{r['device']} t{r.get('threads')} @ {h.split(' ')[0]}" for h, r in rows]
    ax.barh(range(len(rows)), [r["p50_ms"] for _, r in rows], xerr=[r["iqr_ms"] / 2 for _, r in rows], color="tab:blue")
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("latency per clip, batch 1 (ms, median, IQR bars)")
    save_figure(fig, out_dir / f"{stem}_latency.png")
    names.append(f"{stem}_latency.png")
    acc = [(h, r) for h, r in rows if r.get("size_mb") and "accuracy" in r]
    if acc:
        fig, ax = plt.subplots(figsize=(6, 4))
        for _, r in acc:
            ax.scatter(r["size_mb"], r["accuracy"], label=f"{r['model']} {r['backend']}")
        ax.set_xscale("log")
        ax.set_xlabel("artifact size (MB)")
        ax.set_ylabel("accuracy on evaluation windows")
        handles, labs = ax.get_legend_handles_labels()
        uniq = dict(zip(labs, handles, strict=True))
        ax.legend(uniq.values(), uniq.keys(), fontsize=7)
        save_figure(fig, out_dir / f"{stem}_size_accuracy.png")
        names.append(f"{stem}_size_accuracy.png")
    sp = [(h, r) for h, r in rows if r.get("speedup_vs_baseline")]
    if sp:
        fig, ax = plt.subplots(figsize=(8, 0.3 * len(sp) + 1.5))
        ax.barh(range(len(sp)), [r["speedup_vs_baseline"] for _, r in sp], color="tab:green")
        ax.axvline(1.0, color="black", lw=1)
        ax.set_yticks(
            range(len(sp)),
            [f"{r['model']} {r['backend']}/{r['device']} t{r.get('threads')}" for _, r in sp],
            fontsize=7,
        )
        ax.set_xlabel("speed-up against eager torch loaded from a pickle (same run)")
        save_figure(fig, out_dir / f"{stem}_speedup.png")
        names.append(f"{stem}_speedup.png")
    names += thread_scaling_plots(results, out_dir, stem)
    return names


def thread_scaling_plots(results: list[dict], out_dir: Path, stem: str) -> list[str]:
    """Per model: CPU latency at batch 1 against threads, one line per backend and host."""
    import matplotlib.pyplot as plt

    curves: dict = defaultdict(lambda: defaultdict(list))  # model -> (backend, host) -> [(threads, p50)]
    for res in results:
        host = host_label(res).split(" ")[0]
        for r in res["rows"]:
            if r.get("device") == "cpu" and r.get("batch") == 1 and "p50_ms" in r and r.get("threads"):
                curves[r["model"]][(r["backend"], host)].append((r["threads"], r["p50_ms"]))
    names = []
    for model, lines in curves.items():
        if max(len({t for t, _ in pts}) for pts in lines.values()) < 2:
            continue  # one thread count: nothing to scale
        fig, ax = plt.subplots(figsize=(6.5, 4))
        for (backend, host), pts in sorted(lines.items()):
            pts = sorted(pts)
            ax.plot([t for t, _ in pts], [p for _, p in pts], marker="o", label=f"{backend} @ {host}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("threads")
        ax.set_ylabel("ms per clip, batch 1 (median)")
        ax.set_title(f"{model}: thread scaling on the CPU")
        ax.legend(fontsize=7)
        name = f"{stem}_threads_{model}.png"
        save_figure(fig, out_dir / name)
        names.append(name)
    return names


def headline(results: list[dict], host_column: bool = True) -> list[str]:
    """One row per batch-1 timing. `host_column=False` for one host's results printed under their host's name
    (a terminal's 80 columns hold eleven columns, not twelve)."""
    cols = ["host"] * host_column + [
        "model", "backend", "device", "threads", "p50 ms/clip", "x fastest", "x real time", "speed-up", "agreement",
        "cold start s", "peak RSS MB",
    ]  # fmt: skip
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for res in results:
        host = (
            host_label(res).split(" (")[1].split(",")[0]
            + f", {res['host']['cores']} cores"
            + (f", {res['host']['gpu']['name']}" if res["host"].get("gpu") else "")
        )
        for r in res["rows"]:
            if r.get("batch") == 1 and "p50_ms" in r and r["backend"] != "baseline-eager-pickle":
                speedup = r.get("speedup_vs_baseline", r.get("speedup_vs_librosa"))  # SVM features: vs librosa
                cells = [host] * host_column + [
                    r["model"], r["backend"], r["device"], r["threads"], f"{r['p50_ms']:.2f}",
                    _fmt(r.get("x_fastest"), ".2f"), _fmt(r.get("x_realtime"), ".0f"), _fmt(speedup, ".1f"),
                    _fmt(r.get("top1_agreement"), ".3f"), _fmt(r.get("cold_start_s")),
                    _fmt(r.get("peak_rss_mb"), ".0f"),
                ]  # fmt: skip
                lines.append("| " + " | ".join(map(str, cells)) + " |")
    return lines


# the headline's headers, short enough for a terminal's 80 columns; the table's caption says what they mean
TERMINAL_HEADERS = {
    "device": "dev",
    "threads": "thr",
    "p50 ms/clip": "p50 ms",
    "x fastest": "xfast",
    "x real time": "xRT",
    "speed-up": "speedup",
    "agreement": "agree",
    "cold start s": "cold s",
    "peak RSS MB": "RSS",
}


def terminal_table(lines: list[str]):
    """A markdown table (as `headline` writes it) as a rich Table for a terminal: short headers, no cell cut or
    wrapped (a squeezed markdown table printed "cnn-…" for the model), and a caption with the headers' meaning."""
    from rich.table import Table

    rows = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in lines if not ln.startswith("|---")]
    head, body = rows[0], rows[1:]
    short = [h for h in head if h in TERMINAL_HEADERS]
    caption = "; ".join(f"{TERMINAL_HEADERS[h]} = {h}" for h in short)
    t = Table(
        box=None,
        padding=(0, 1),
        collapse_padding=True,
        pad_edge=False,
        header_style="bold underline",
        caption=caption or None,
        caption_justify="left",
    )
    for j, name in enumerate(head):
        numeric = all(r[j] in ("", "-") or r[j].replace(".", "", 1).lstrip("-").isdigit() for r in body)
        t.add_column(TERMINAL_HEADERS.get(name, name), no_wrap=True, justify="right" if numeric else "left")
    for r in body:
        t.add_row(*r)
    return t


def onnx_ratio_table(results: list[dict]) -> list[str]:
    """Backends against onnx measured in the same run: ratios (1.00 = as onnx; lower is better). Noisy timing:
    either latency's IQR was over 25 % of its median (a loaded host)."""
    lines = [
        "| host | model | backend | threads | batch | p50 ms | onnx p50 ms | latency x onnx | size x onnx | "
        "cold start x onnx | peak RSS x onnx | agreement | max dlogit | noisy timing |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    n = len(lines)
    for res in results:
        host = host_label(res).split(" (")[0] + f", {res['host']['cores']} cores"
        onnx = {(r["model"], r.get("threads"), r.get("batch")): r for r in res["rows"] if r.get("backend") == "onnx"}
        for r in res["rows"]:
            v = r.get("vs_onnx")
            if not v:
                continue
            ref = onnx.get((r["model"], r.get("threads"), r.get("batch")), {})
            lines.append(
                f"| {host} | {r['model']} | {r['backend']} | {r['threads']} | {r['batch']} | {r['p50_ms']:.2f} | "
                f"{_fmt(ref.get('p50_ms'))} | {_fmt(v.get('p50'))} | {_fmt(v.get('size'))} | "
                f"{_fmt(v.get('cold_start'))} | {_fmt(v.get('peak_rss'))} | {_fmt(r.get('top1_agreement'), '.3f')} | "
                f"{_fmt(r.get('max_abs_dlogit'), '.1e')} | "
                f"{'yes' if r.get('noisy') or ref.get('noisy') else 'no'} |"
            )
    return lines if len(lines) > n else []


def split_batch_results(paths: list[Path]) -> tuple[list[Path], list[dict]]:
    """(backend result files, `bench batch` results): one `bench report` call takes both."""
    import json

    from audioconcept.benchmarks.batch_bench import BATCH_RESULTS_KIND
    from audioconcept.benchmarks.live_bench import LIVE_RESULTS_KIND

    rest, batch = [], []
    for p in paths:
        try:
            d = json.loads(Path(p).read_text())
        except (OSError, ValueError):
            rest.append(p)  # load_results says what is wrong with it
            continue
        own_kind = isinstance(d, dict) and d.get("kind") in (BATCH_RESULTS_KIND, LIVE_RESULTS_KIND)
        (batch.append(d) if own_kind else rest.append(p))
    return rest, batch


def split_live_results(batch: list[dict]) -> tuple[list[dict], list[dict]]:
    """(`bench batch` results, `bench live` results) out of what split_batch_results set aside."""
    from audioconcept.benchmarks.live_bench import LIVE_RESULTS_KIND

    return [d for d in batch if d.get("kind") != LIVE_RESULTS_KIND], [
        d for d in batch if d.get("kind") == LIVE_RESULTS_KIND
    ]


def live_section(live: list[dict]) -> list[str]:
    from audioconcept.benchmarks.live_bench import markdown

    if not live:
        return []
    lines = ["## Live analysis from a real-time-paced pipe (`audioconcept bench live`)", ""]
    for res in live:
        lines += [*markdown(res), ""]
    return lines


def batch_section(batch: list[dict]) -> list[str]:
    from audioconcept.benchmarks.batch_bench import markdown

    if not batch:
        return []
    lines = ["## Batch analysis of a library (`audioconcept bench batch`)", ""]
    for res in batch:
        lines += [*markdown(res), ""]
    return lines


def write_report(paths: list[Path], out: Path) -> Path:
    paths, batch = split_batch_results(paths)
    batch, live = split_live_results(batch)
    results = load_results(paths)
    table = merge(results)
    hosts = [host_label(r) for r in results]
    lines = ["# AudioConcept benchmarks", "", f"Merged from {len(results)} result file(s).", "", "## Hosts", ""]
    for res in results:
        h = res["host"]
        lines.append(
            f"- **{host_label(res)}**: {h['os']}, {h['machine']}, ISA {' '.join(h['isa']) or '-'}, "
            f"RAM {h['ram_gb']} GB, measured peak {h['peak_gflops_fp32']} GFLOP/s fp32, "
            f"Python {h['python']}, {', '.join(f'{k} {v}' for k, v in h['versions'].items())}, "
            f"commit {h.get('commit')}, {res['created']}; warm-up {res['settings']['warmup']}, "
            f"repeats {res['settings']['repeats']}"
        )
    lines += ["", "## Headline (batch 1)", "", *headline(results), ""]
    if ratios := onnx_ratio_table(results):
        # also alone, for pages that include it (docs/executorch.md)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out.with_name(f"{out.stem}_vs_onnx.md"), "\n".join(ratios) + "\n")
        lines += ["## Against onnx in the same run", "", *ratios, ""]
    for model, rows in table.items():
        lines += [
            f"## {model}",
            "",
            "| backend | device | precision | threads | batch | "
            + " | ".join(f"p50 ms [IQR] @ {h.split(' ')[0]}" for h in hosts)
            + " | clips/s | GFLOP/s (% peak) | accuracy | agreement | max dlogit | size MB | status |",
            "|---|---|---|---|---|" + "---|" * len(hosts) + "---|---|---|---|---|---|---|",
        ]
        for key, per_host in rows.items():
            any_r = next(iter(per_host.values()))
            cells = []
            for h in hosts:
                r = per_host.get(h)
                if r is None:
                    cells.append("")
                elif "p50_ms" in r:
                    cells.append(f"{r['p50_ms']:.2f} [{r['iqr_ms']:.2f}]{' noisy' if r.get('noisy') else ''}")
                else:
                    cells.append(r.get("status", ""))
            gf = (
                f"{any_r['gflops_per_s']:.1f} ({100 * any_r['fraction_of_peak']:.0f}%)"
                if any_r.get("gflops_per_s")
                else "-"
            )
            status = any_r.get("status", "") + (f": {any_r['reason']}" if any_r.get("reason") else "")
            lines.append(
                f"| {' | '.join(str(k) for k in key)} | {' | '.join(cells)} | "
                f"{_fmt(any_r.get('clips_per_s'), '.1f')} | {gf} | {_fmt(any_r.get('accuracy'), '.3f')} | "
                f"{_fmt(any_r.get('top1_agreement'), '.3f')} | {_fmt(any_r.get('max_abs_dlogit'), '.1e')} | "
                f"{_fmt(any_r.get('size_mb'), '.2f')} | {status} |"
            )
        lines.append("")
    lines += batch_section(batch)
    lines += live_section(live)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        pngs = _plots(results, out.parent, out.stem)
    except ImportError:  # the tables stand without their figures
        pngs = []
        logging.getLogger(__name__).warning(
            "no benchmark figures: they need 'matplotlib', which is not installed: pip install 'audioconcept[plots]'"
        )
    for png in pngs:
        lines.append(f"![]({png})")
    atomic_write_text(out, "\n".join(lines) + "\n")
    return out
