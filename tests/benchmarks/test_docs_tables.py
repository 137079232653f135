"""The docs' generated tables are fresh, and they say what their sources say."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from audioconcept.benchmarks import docs_tables as dt
from audioconcept.runtime.formats import FORMATS

ROOT = Path(__file__).resolve().parents[2]


def test_committed_tables_are_fresh():
    stale = dt.stale(ROOT)
    assert not stale, f"stale generated docs tables {stale}: run `audioconcept docs tables`"


def test_stale_notices_an_edited_table(tmp_path):
    shutil.copytree(ROOT / "benchmarks" / "results", tmp_path / "benchmarks" / "results")
    (tmp_path / dt.EXAMPLE_SONG).parent.mkdir(parents=True)
    shutil.copy(ROOT / dt.EXAMPLE_SONG, tmp_path / dt.EXAMPLE_SONG)
    assert set(dt.stale(tmp_path)) == set(dt.tables(tmp_path))  # nothing written yet
    dt.write(tmp_path)
    assert dt.stale(tmp_path) == []
    f = tmp_path / dt.GENERATED_DIR / "formats.md"
    f.write_text(f.read_text().replace("onnx", "onyx", 1))
    assert dt.stale(tmp_path) == [dt.GENERATED_DIR / "formats.md"]


def test_formats_table_has_one_row_per_format():
    text = dt.formats_table()
    for f in FORMATS:
        assert f"| `{f.backend}` |" in text
    rows = [line for line in text.splitlines() if line.startswith("| `") and "--backend" not in line]
    assert len(rows) == len(FORMATS)


def test_speed_table_reads_the_newest_file_of_each_host(tmp_path):
    res = json.loads((ROOT / "benchmarks/results/python-2core-20261126.json").read_text())
    old = json.loads(json.dumps(res))
    old["created"] = "2000-01-01T00:00:00Z"
    for r in old["rows"]:
        if "p50_ms" in r:
            r["p50_ms"] = 99999.0
    (tmp_path / "new.json").write_text(json.dumps(res))
    (tmp_path / "old.json").write_text(json.dumps(old))
    rows, batch = dt._results(tmp_path)
    assert [p.name for p, _ in rows] == ["new.json"] and batch == []
    text = dt.speed_cpu_table(rows)
    onnx_cnn_2 = next(
        r
        for r in res["rows"]
        if (r["model"], r["backend"], r.get("threads"), r.get("batch"), r["device"]) == ("cnn", "onnx", 2, 1, "cpu")
    )
    assert f"| cnn | 2 | {onnx_cnn_2['p50_ms']:.2f} |" in text
    assert "99999" not in text
