"""Ratios to the fastest backend of the same run, and thread-scaling plots."""

from __future__ import annotations

import copy
import json

import pytest

from audioconcept.benchmarks.harness import RESULTS_SCHEMA_VERSION, add_onnx_ratios, add_ratios
from audioconcept.benchmarks.report import write_report


def _row(backend, threads, p50, status="validated", device="cpu", model="cnn"):
    return {
        "model": model,
        "backend": backend,
        "device": device,
        "threads": threads,
        "batch": 1,
        "p50_ms": p50,
        "iqr_ms": 0.1,
        "status": status,
    }


def test_ratios_are_to_the_fastest_validated_cpu_row_of_the_same_setting():
    rows = [
        _row("onnx", 1, 10.0),
        _row("torch", 1, 20.0),
        _row("onnx-int8", 1, 5.0, status="failed validation"),  # never the yardstick
        _row("onnx", 4, 6.0),
        _row("torch", 4, 3.0),
        _row("onnx", 1, 1.0, device="cuda"),  # other device: no ratio
    ]
    add_ratios(rows)
    assert [r.get("x_fastest") for r in rows] == [1.0, 2.0, 0.5, 2.0, 1.0, None]


def _result() -> dict:
    """One host's results: onnx and torch at 1 and 2 threads, batch 1, with their ratios."""
    from audioconcept.benchmarks.hostinfo import host_info

    rows = [_row(b, t, p) for b, t, p in [("onnx", 1, 10.0), ("onnx", 2, 6.0), ("torch", 1, 20.0), ("torch", 2, 11.0)]]
    add_ratios(rows)
    return {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "host": host_info(),
        "created": "now",
        "settings": {"warmup": 1, "repeats": 2, "threads": [1, 2], "batches": [1]},
        "rows": rows,
    }


def _results(tmp_path):
    res = _result()
    (tmp_path / "a.json").write_text(json.dumps(res))
    other = copy.deepcopy(res)
    other["host"]["hostname"] = "big-host"
    (tmp_path / "b.json").write_text(json.dumps(other))
    return [tmp_path / "a.json", tmp_path / "b.json"]


def test_report_plots_thread_scaling(tmp_path):
    out = write_report(_results(tmp_path), tmp_path / "R.md")
    assert (tmp_path / "R_threads_cnn.png").stat().st_size > 1000
    text = out.read_text()
    assert "x fastest" in text
    assert "| torch | cpu | 2 | 11.00 | 1.83 |" in text  # 11.0 ms against onnx's 6.0 ms at 2 threads


def test_executorch_rows_are_ratios_to_onnx_of_the_same_run(tmp_path):
    from audioconcept.benchmarks.hostinfo import host_info

    rows = [
        {**_row("onnx", 1, 10.0), "artifact_size_mb": 2.0, "cold_start_s": 1.0, "peak_rss_mb": 100.0},
        {**_row("executorch", 1, 12.0), "artifact_size_mb": 1.0, "cold_start_s": 4.0, "peak_rss_mb": 500.0},
        _row("onnx", 2, 6.0),
        _row("executorch", 2, 3.0),  # no cold start at the second thread count: latency only
        _row("executorch", 4, 3.0),  # no onnx row at 4 threads: no ratio
        _row("baseline-eager-pickle", 1, 90.0, status="reference"),  # the eager baseline is not a backend
    ]
    add_onnx_ratios(rows)
    assert rows[1]["vs_onnx"] == {"p50": 1.2, "size": 0.5, "cold_start": 4.0, "peak_rss": 5.0}
    assert rows[3]["vs_onnx"] == {"p50": 0.5}
    assert not any("vs_onnx" in rows[i] for i in (0, 4, 5))
    res = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "host": host_info(),
        "created": "now",
        "settings": {"warmup": 1, "repeats": 2, "threads": [1, 2], "batches": [1]},
        "rows": rows,
    }
    (tmp_path / "a.json").write_text(json.dumps(res))
    write_report([tmp_path / "a.json"], tmp_path / "R.md")
    table = (tmp_path / "R_vs_onnx.md").read_text()
    assert "| cnn | executorch | 1 | 1 | 12.00 | 10.00 | 1.20 | 0.50 | 4.00 | 5.00 |" in table
    assert table in (tmp_path / "R.md").read_text().replace("## Against onnx in the same run\n\n", "")


@pytest.mark.parametrize(
    ("spec", "cores", "want"), [("1,2,4,8,all", 2, (1, 2)), ("all", 16, (16,)), ("8,1,8", 16, (1, 8))]
)
def test_thread_counts(monkeypatch, spec, cores, want):
    import audioconcept.runtime.threads as th
    from audioconcept.cli import thread_counts

    monkeypatch.setattr(th, "usable_cores", lambda: cores)
    assert thread_counts(spec) == want


def test_report_without_matplotlib_keeps_its_tables(tmp_path, monkeypatch, caplog):
    import sys

    for name in ("matplotlib", "matplotlib.pyplot"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError, as in a base install
    out = write_report(_results(tmp_path), tmp_path / "R.md")
    assert "x fastest" in out.read_text() and not list(tmp_path.glob("*.png"))
    assert "audioconcept[plots]" in caplog.text


def test_one_hosts_headline_leaves_the_host_column_out():
    from audioconcept.benchmarks.report import headline

    res = _result()
    full, bare = headline([res]), headline([res], host_column=False)
    assert len(full) == len(bare) == 2 + 4  # header, rule, one row per batch-1 timing
    for a, b in zip(full, bare, strict=True):
        assert a.count("|") == b.count("|") + 1
    assert bare[0].startswith("| model |") and bare[2].startswith("| cnn | onnx | cpu | 1 | 10.00 | 1.00 |")
    assert full[2].endswith(bare[2][1:]) and full[2].count(", ") >= 1  # "| <cpu>, <n> cores | cnn | onnx ..."


def test_the_terminal_table_shows_every_cell_whole_in_80_columns():
    """A markdown table squeezed into 80 columns printed "cnn-…" for the model and "p5…" for its latency."""
    import io

    from rich.console import Console

    from audioconcept.benchmarks.report import TERMINAL_HEADERS, headline, terminal_table

    res = _result()
    row = res["rows"][0]
    res["rows"].append(
        {**row, "model": "musicnn-gtzan", "backend": "torchscript", "p50_ms": 773.07, "peak_rss_mb": 1197}
    )
    buf = io.StringIO()
    Console(file=buf, width=80).print(terminal_table(headline([res], host_column=False)))
    text = buf.getvalue()
    assert "…" not in text and max(len(line.rstrip()) for line in text.splitlines()) <= 80
    for cell in ("musicnn-gtzan", "torchscript", "773.07", "1197", "10.00"):
        assert cell in text
    assert all(f"{short} = {long}" in " ".join(text.split()) for long, short in TERMINAL_HEADERS.items())
